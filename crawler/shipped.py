"""The code a submission ships and runs, in this order: the challenge's entry script, then the crawler
modules training imports. Their bytes are the artifact's code size and their concatenation is the
manifest's code hash; tests/crawler/test_shipped.py checks the list against what training imports, and that
training runs their functions. They are exactly the modules at the top of crawler/; crawler/prep/
(`pgolf prepare-data`) is tooling that never ships."""
from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

ENTRY_SCRIPT = "train_gpt.py"  # the script the challenge runs, beside the crawler package (checkout or install)
SHIPPED_MODULES = ("crawler.train_cli", "crawler.train", "crawler.shipped", "crawler.config", "crawler.errors",
                   "crawler.distributed", "crawler.shards", "crawler.tokenizer", "crawler.contract", "crawler.bpb",
                   "crawler.scoring", "crawler.loader", "crawler.model", "crawler.muon", "crawler.quant",
                   "crawler.rans", "crawler.ptz", "crawler.files")


def code_files() -> list[Path]:
    entry = Path(__file__).resolve().parents[1] / ENTRY_SCRIPT
    return [entry, *(Path(find_spec(name).origin).resolve() for name in SHIPPED_MODULES)]
