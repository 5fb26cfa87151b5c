"""Small things on the real records: the Best seed card names its seed (the submission's claim, a mean, sits with
the mean), and the API page links the paths that can be opened and shows no literal backticks."""
from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.conftest import CRAWLER_RECORD, shared_path
from tests.webapp.helpers import catalog_client

HTML = {"accept": "text/html"}


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> TestClient:
    tmp = tmp_path_factory.mktemp("pages")
    return catalog_client(tmp, [shared_path("records")], [tmp / "ablations"])


def test_the_best_seed_card_names_the_seed_and_the_claim_sits_with_the_mean(client):
    page = client.get(f"/records/{CRAWLER_RECORD}", headers=HTML).text
    best = re.search(r'<div class="sub" id="best-seed">([^<]*)</div>', page).group(1)
    assert best == "seed 1337 · train_seed1337.log"  # 1.18720375, the lowest of the three
    mean_card = page[page.index("Mean BPB"):page.index("Best seed")]
    assert "claimed in submission.json: 1.18742567" in mean_card


def test_api_paths_are_links_and_summaries_show_code_not_backticks(client):
    page = client.get("/api", headers=HTML).text
    table = page[page.index('id="endpoints"'):]
    assert '<a href="/api/records">/api/records</a>' in table and '<a href="/api/leaderboard">' in table
    assert '<a href="/api/records/{record_id}">' not in table
    assert "`" not in table and "<code>against</code>" in table


def test_serve_help_names_every_setting():
    """Each Settings field is a flag of `pgolf serve` or named in its help as its PGOLF_ variable."""
    from typer.testing import CliRunner

    from pgolf import app
    from webapp.settings import Settings

    text = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "400", "NO_COLOR": "1"}).output
    flags = {"host", "port", "records", "runs", "ablations", "db", "data_dir", "eval_data_dir"}
    missing = [name for name in Settings.model_fields
               if name not in flags and f"PGOLF_{name.upper()}" not in text]
    assert missing == []
    assert "--eval-data" in text and "PGOLF_EVAL_DATA_DIR" in text
