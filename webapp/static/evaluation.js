// Follow a queued or running evaluation: poll its JSON and show the progress the API computes (body.progress);
// reload once the job has ended.
(function () {
  "use strict";
  const job = document.getElementById("job");
  const state = document.getElementById("job-state");
  const detail = document.getElementById("job-detail");
  const overall = document.getElementById("job-overall");
  const bar = document.querySelector("#job-progress span");
  const percent = document.getElementById("job-percent");
  const elapsed = document.getElementById("job-elapsed");
  const eta = document.getElementById("job-eta");
  const stage = document.getElementById("job-stage");
  const outside = document.getElementById("job-outside");
  const heartbeat = document.getElementById("job-heartbeat");
  const attempt = document.getElementById("job-attempt");
  const started = document.getElementById("job-started");
  const inputsStarted = document.getElementById("inputs-started");
  // the estimated end, smoothed: each new estimate moves it a third of the way, so a heartbeat never makes it jump
  let end = null;
  const SMOOTHING = 1 / 3;
  // the words for each stage: webapp/templating.py's STAGES, handed over by the page
  const stages = JSON.parse(job.dataset.stages);

  function when(text) {
    return text ? text.replace("T", " ").slice(0, 19) + " UTC" : "—";
  }

  // m:ss, or h:mm:ss from an hour on (the template's clock macro)
  function clock(seconds) {
    const s = Math.floor(seconds);
    const pad = function (n) { return (n < 10 ? "0" : "") + n; };
    const h = Math.floor(s / 3600);
    return h ? h + ":" + pad(Math.floor(s % 3600 / 60)) + ":" + pad(s % 60) : Math.floor(s / 60) + ":" + pad(s % 60);
  }

  function showProgress(body) {
    const progress = body.progress;
    overall.hidden = !progress;
    if (!progress) {
      return;
    }
    const known = progress.fraction !== null;
    bar.style.width = (known ? 100 * progress.fraction : 0).toFixed(1) + "%";
    percent.textContent = known ? Math.floor(100 * progress.fraction) + "%" : "—";
    elapsed.textContent = clock(progress.elapsed_seconds);
    if (progress.eta_seconds !== null) {
      const now = Date.now() / 1000, estimate = now + progress.eta_seconds;
      end = end === null ? estimate : end + SMOOTHING * (estimate - end);
      eta.textContent = "about " + clock(Math.max(end - now, 0)) + " left (estimate)";
    } else {
      eta.textContent = progress.fraction === 1 ? "scoring done" : "estimating…";
    }
    stage.textContent = (stages[body.stage] || body.stage) +
      (body.to_score ? ": " + body.scored.toLocaleString() + " of " + body.to_score.toLocaleString() + " targets" : "");
    outside.hidden = progress.outside.length === 0;
  }

  function poll() {
    fetch("/api/evaluations/" + job.dataset.id, { headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (body) {
        if (body.state !== "queued" && body.state !== "running") {
          window.location.reload();
          return;
        }
        state.textContent = body.state;
        state.className = "badge " + body.state;
        detail.textContent = body.state === "queued" ? " position " + body.queue_position + " in the queue" : "";
        showProgress(body);
        heartbeat.textContent = when(body.heartbeat_at);
        attempt.textContent = body.attempts;
        started.textContent = when(body.started_at);
        inputsStarted.textContent = when(body.started_at);
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 1000);
})();
