"""The job page as a running job shows it: attempt and start time in elements the page's script keeps live, the
overall progress the API computes (percent, elapsed, the estimate), and no server path (the validation data's
folder) anywhere on the page."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import update

from webapp.tables import Evaluation, utcnow

HTML = {"accept": "text/html"}


def test_a_running_job_page_shows_attempt_start_and_no_server_path(client, settings, tiny_artifact):
    job = client.post("/api/evaluations", files={"artifact": ("tiny.ptz", tiny_artifact.read_bytes())}).json()
    job_id = job["evaluation"]["id"]
    started = (utcnow() - timedelta(seconds=65)).replace(microsecond=0)
    with client.app.state.sessions.begin() as session:
        session.execute(update(Evaluation).where(Evaluation.id == job_id).values(
            state="running", stage="sliding_window", attempts=1, started_at=started, heartbeat_at=utcnow(), scored=10,
            to_score=100, plan=[["roundtrip", 300], ["sliding_window", 1000], ["loops", None]]))
    page = client.get(f"/evaluations/{job_id}", headers=HTML).text
    assert 'Attempt <span id="job-attempt">1</span> of 2' in page
    assert f'<span id="job-started">{started:%Y-%m-%d %H:%M:%S} UTC</span>' in page
    assert f'<span id="inputs-started">{started:%Y-%m-%d %H:%M:%S} UTC</span>' in page
    # (300 + 10% of 1,000) / 1,300 of the work done in 65 s (and the request's moment): 30%, and 65 × 0.69 / 0.31 s left
    assert '<strong id="job-percent">30%</strong>' in page and re.search(r'id="job-elapsed">1:0[56]<', page)
    assert re.search(r'<span id="job-eta">about 2:2\d left \(estimate\)</span>', page)
    assert 'id="job-elapsed"' in page and "evaluation.js" in page
    assert "sliding-window evaluation: 10 of 100 targets" in page and "loop-wise analysis after them" in page
    data_dir = str(settings.eval_data_dir.resolve())
    assert data_dir not in page and "data_dir" not in page and "max_tokens=1024" in page
