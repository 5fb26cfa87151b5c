"""The artifact formats that are not ours, one module each, and the torch archive they share."""
