"""The web app: records, artifact evaluations run by background workers, and ablations (`pgolf serve`)."""
