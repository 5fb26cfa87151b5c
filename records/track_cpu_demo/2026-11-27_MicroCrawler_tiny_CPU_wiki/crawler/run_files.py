"""What a training run leaves in its folder (OUT/RUN_ID/), by name: the trainer writes these files and
every reader of a run (pgolf eval's default report, the demo, the ablation runner, the record writer,
the web app) finds them here."""
from __future__ import annotations

from pathlib import Path

RUN_LOG = "train.log"  # the challenge's log lines
RUN_CONFIG = "config.json"  # CrawlerConfig.to_dict()
RUN_CHECKPOINT = "final_model.safetensors"  # the float weights the artifact was exported from
RUN_ARTIFACT = "final_model.ptz"


def evaluation_report(artifact: str | Path) -> Path:
    """Where `pgolf eval` writes an artifact's report unless told otherwise: beside it, as NAME.eval.json."""
    return Path(artifact).with_suffix(".eval.json")
