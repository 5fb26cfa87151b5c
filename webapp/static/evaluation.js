// Follow a queued or running evaluation: poll its JSON and update the bar; reload once it has ended.
(function () {
  "use strict";
  const job = document.getElementById("job");
  const state = document.getElementById("job-state");
  const detail = document.getElementById("job-detail");
  const bar = document.querySelector("#job-progress span");
  const heartbeat = document.getElementById("job-heartbeat");
  const attempt = document.getElementById("job-attempt");
  const started = document.getElementById("job-started");
  const elapsed = document.getElementById("job-elapsed");
  // the words for each stage: webapp/templating.py's STAGES, handed over by the page
  const stages = JSON.parse(job.dataset.stages);

  function when(text) {
    return text ? text.replace("T", " ").slice(0, 19) + " UTC" : "—";
  }

  // the server's times are naive UTC (no zone in the JSON)
  function parseUtc(text) {
    return text ? new Date(text.endsWith("Z") ? text : text + "Z") : null;
  }

  function tickElapsed() {
    const start = parseUtc(started.dataset.started);
    if (!start) {
      elapsed.textContent = "—";
      return;
    }
    const seconds = Math.max(0, Math.round((Date.now() - start.getTime()) / 1000));
    const minutes = Math.floor(seconds / 60);
    elapsed.textContent = minutes ? minutes + " min " + (seconds % 60) + " s" : seconds + " s";
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
        if (body.state === "queued") {
          detail.textContent = " position " + body.queue_position + " in the queue";
        } else {
          const share = body.to_score ? body.scored / body.to_score : 0;
          detail.textContent = " " + (stages[body.stage] || body.stage) +
            (body.to_score ? ": " + body.scored.toLocaleString() + " of " + body.to_score.toLocaleString() + " targets" : "");
          bar.style.width = (100 * share).toFixed(1) + "%";
        }
        heartbeat.textContent = when(body.heartbeat_at);
        attempt.textContent = body.attempts;
        started.textContent = when(body.started_at);
        started.dataset.started = body.started_at || "";
        tickElapsed();
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 1000);
  tickElapsed();
  window.setInterval(tickElapsed, 1000);
})();
