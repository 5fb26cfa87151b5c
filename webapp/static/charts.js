// Interactive charts: each <div class="charts" data-src="URL"> fetches {panels: [{id, title, figure, log_y, missing}]}
// and draws every panel with plotly.js (served by this app), with a log-y switch and a smoothing slider per panel.
"use strict";

(function () {
  // TensorBoard's smoothing: an exponential moving average, debiased so the first points are not pulled to 0
  function smooth(values, weight) {
    if (weight <= 0) return values.slice();
    let last = 0, n = 0;
    return values.map(function (v) {
      last = last * weight + (1 - weight) * v;
      n += 1;
      return last / (1 - Math.pow(weight, n));
    });
  }

  function element(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text) node.textContent = text;
    return node;
  }

  // builds the panel's section and returns the function that draws it: every section is in the page before the
  // first plot is drawn, so that each plot takes its final width in the grid
  function addPanel(container, panel) {
    const section = element("section", {"class": "panel", "id": panel.id});
    section.appendChild(element("h3", {}, panel.title));
    container.appendChild(section);
    if (!panel.figure) {
      section.appendChild(element("p", {"class": "muted small missing"}, panel.missing));
      return function () {};
    }
    const controls = element("div", {"class": "chart-controls"});
    const logLabel = element("label");
    const logBox = element("input", {"type": "checkbox", "class": "logy"});
    logBox.checked = panel.log_y;
    logLabel.appendChild(logBox);
    logLabel.appendChild(document.createTextNode(" log y"));
    const smoothLabel = element("label", {}, "smoothing ");
    const slider = element("input", {"type": "range", "class": "smooth", "min": "0", "max": "0.98", "step": "0.02",
                                     "value": "0", "aria-label": "smoothing"});
    const shown = element("span", {"class": "smooth-value"}, "0.00");
    smoothLabel.appendChild(slider);
    smoothLabel.appendChild(shown);
    controls.appendChild(logLabel);
    controls.appendChild(smoothLabel);
    if (panel.controls) section.appendChild(controls);
    const plot = element("div", {"class": "plotly-chart"});
    section.appendChild(plot);

    const data = panel.figure.data;
    const raw = data.map(function (trace) { return trace.y.slice(); });
    const curves = data.map(function (trace, i) { return trace.meta === "curve" ? i : -1; })
      .filter(function (i) { return i >= 0; });
    logBox.addEventListener("change", function () {
      Plotly.relayout(plot, {"yaxis.type": logBox.checked ? "log" : "linear", "yaxis.autorange": true});
    });
    slider.addEventListener("input", function () {
      const weight = Number(slider.value);
      shown.textContent = weight.toFixed(2);
      // only the logged curves are smoothed; the final scores (stars) stay exact
      Plotly.restyle(plot, {y: curves.map(function (i) { return smooth(raw[i], weight); })}, curves);
    });
    return function () { return Plotly.newPlot(plot, data, panel.figure.layout, {responsive: true, displaylogo: false}); };
  }

  function load(container) {
    fetch(container.dataset.src, {headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) throw new Error("the charts could not be loaded (HTTP " + response.status + ")");
        return response.json();
      })
      .then(function (body) {
        const draws = body.panels.map(function (panel) { return addPanel(container, panel); });
        return Promise.all(draws.map(function (draw) { return draw(); }));
      })
      .then(function () { container.dataset.ready = "1"; })
      .catch(function (error) {
        container.appendChild(element("div", {"class": "notice error"}, error.message));
        container.dataset.ready = "error";
      });
  }

  document.querySelectorAll(".charts[data-src]").forEach(load);
})();
