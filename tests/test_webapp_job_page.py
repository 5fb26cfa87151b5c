"""The job page as a running job shows it: attempt and start time in elements the page's script keeps live (with
the elapsed time), and no server path (the validation data's folder) anywhere on the page."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from webapp.tables import Evaluation

pytest_plugins = ("tests.test_webapp_fixtures",)  # the shared fixtures

HTML = {"accept": "text/html"}


def test_a_running_job_page_shows_attempt_start_and_no_server_path(client, settings, tiny_artifact):
    job = client.post("/api/evaluations", files={"artifact": ("tiny.ptz", tiny_artifact.read_bytes())}).json()
    job_id = job["evaluation"]["id"]
    with client.app.state.sessions.begin() as session:
        session.execute(update(Evaluation).where(Evaluation.id == job_id).values(
            state="running", stage="sliding", attempts=1, started_at=datetime(2026, 11, 27, 12, 0, 5),
            heartbeat_at=datetime(2026, 11, 27, 12, 0, 9), scored=10, to_score=100))
    page = client.get(f"/evaluations/{job_id}", headers=HTML).text
    assert 'Attempt <span id="job-attempt">1</span> of 2' in page
    assert '<span id="job-started" data-started="2026-11-27T12:00:05">2026-11-27 12:00:05 UTC</span>' in page
    assert 'id="job-elapsed"' in page and "evaluation.js" in page
    data_dir = str(settings.eval_data_dir.resolve())
    assert data_dir not in page and "data_dir" not in page and "max_tokens=1024" in page
