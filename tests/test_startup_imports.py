"""The commands that read text, and the web process, start without torch, numpy or sentencepiece: a reviewer who
checks hundreds of folders pays an interpreter start per folder, and `import torch` alone costs seconds.

Each case runs in a fresh interpreter, since this test process has imported torch long ago."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import DEMO_RECORD, DEMO_RECORD_DIR, REPO

HEAVY = ("torch", "numpy", "sentencepiece", "matplotlib", "scipy")

_RUN_COMMAND = """
import json, os, sys
os.environ.pop("GOMP_SPINCOUNT", None)
from typer.testing import CliRunner
import pgolf
result = CliRunner().invoke(pgolf.app, sys.argv[1:])
print(json.dumps({"exit": result.exit_code, "heavy": [m for m in HEAVY if m in sys.modules],
                  "spin": os.environ.get("GOMP_SPINCOUNT")}))
"""

_SERVE_PAGES = """
import json, sys, tempfile
from pathlib import Path
from fastapi.testclient import TestClient
from webapp.app import create_app
from webapp.settings import Settings
settings = Settings(records=[Path(sys.argv[1])], data_dir=Path(tempfile.mkdtemp()), runs=[], ablations=[])
client = TestClient(create_app(settings))
codes = [client.get(page, headers={"Accept": "text/html"}).status_code for page in sys.argv[2:]]
print(json.dumps({"exit": 0 if set(codes) == {200} else codes, "heavy": [m for m in HEAVY if m in sys.modules]}))
"""


def _fresh(script: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{script}", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [
    ["--help"],
    ["check", str(DEMO_RECORD_DIR)],
    ["check", str(DEMO_RECORD_DIR), "--json"],
    ["seeds", str(DEMO_RECORD_DIR)],
    ["record", str(REPO / "no-such-run"), "--code", str(REPO / "train_gpt.py")],
])
def test_text_commands_start_without_heavy_imports(args):
    outcome = _fresh(_RUN_COMMAND, *args)
    assert outcome["heavy"] == [], f"pgolf {' '.join(args)} imported {outcome['heavy']}"
    # set before torch could load libgomp, which reads it once (crawler.train_cli says why)
    assert outcome["spin"] == "10000"
    # the run did its work (a failed check exits 1; a run folder that does not exist exits 2)
    assert outcome["exit"] in ((0, 1) if args[0] != "record" else (2,)), outcome


def test_web_process_serves_pages_without_heavy_imports():
    outcome = _fresh(_SERVE_PAGES, str(DEMO_RECORD_DIR.parent), "/records", "/leaderboard", "/overlay",
                     f"/records/{DEMO_RECORD}", f"/api/records/{DEMO_RECORD}/charts")
    assert outcome == {"exit": 0, "heavy": []}
