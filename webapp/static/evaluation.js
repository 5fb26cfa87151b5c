// Follow a queued or running evaluation: poll its JSON and update the bar; reload once it has ended.
(function () {
  "use strict";
  const job = document.getElementById("job");
  const state = document.getElementById("job-state");
  const detail = document.getElementById("job-detail");
  const bar = document.querySelector("#job-progress span");
  const heartbeat = document.getElementById("job-heartbeat");
  // the same words as the STAGES table in webapp/templating.py
  const stages = { loading: "loading the artifact", roundtrip: "roundtrip evaluation", sliding: "sliding-window evaluation",
                   prequant: "pre-quantisation evaluation", loops: "loop-wise analysis" };

  function when(text) {
    return text ? text.replace("T", " ").slice(0, 19) + " UTC" : "—";
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
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 1000);
})();
