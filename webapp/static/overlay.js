// The overlay picker: search, track and kind filters hide the choices that do not match (a long list stays usable on
// a phone); more than MAX ticked items are refused here, in place, with the selection kept. The settings table
// shows only the rows that differ from the reference unless "differences only" is unticked.
"use strict";

(function () {
  const form = document.getElementById("overlay-form");
  if (!form) return;
  const filter = document.getElementById("overlay-filter");
  const track = document.getElementById("overlay-track");
  const kind = document.getElementById("overlay-kind");
  const count = document.getElementById("overlay-count");
  const refused = document.getElementById("overlay-refused");
  const max = Number(form.dataset.max);

  function applyFilters() {
    const needle = filter.value.trim().toLowerCase();
    form.querySelectorAll("label.choice").forEach(function (choice) {
      choice.hidden = (needle !== "" && !choice.textContent.toLowerCase().includes(needle))
        || (track.value !== "" && choice.dataset.track !== track.value)
        || (kind.value !== "" && choice.dataset.kind !== kind.value);
    });
  }
  [filter, track, kind].forEach(function (input) {
    input.addEventListener("input", applyFilters);
    input.addEventListener("change", applyFilters);
  });

  function ticked() { return form.querySelectorAll('input[name="item"]:checked').length; }
  form.addEventListener("change", function () {
    count.textContent = ticked();
    if (ticked() <= max) refused.hidden = true;
  });
  form.addEventListener("submit", function (event) {
    if (ticked() > max) {
      event.preventDefault();
      refused.textContent = "Too many items: choose at most " + max + " (" + ticked() + " ticked). Untick some and press Overlay again.";
      refused.hidden = false;
    }
  });

  const only = document.getElementById("differences-only");
  const settings = document.getElementById("overlay-settings");
  if (only && settings) {
    const show = function () { settings.classList.toggle("differences-only", only.checked); };
    only.addEventListener("change", show);
    show();
  }
})();
