"""What evaluator.service hands the web app, one module per job: the records catalog, the arms and their corpora,
the upload checks, an evaluation job's work and protocol, a record's loop-wise files. The web app imports none of
these directly, only evaluator.service."""
