"""Reloading artifacts, BPB evaluation, size and compliance checks, records and analysis."""
