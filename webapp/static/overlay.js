// The overlay picker: the filter box hides the choices that do not match, so a long list stays usable on a phone.
"use strict";

(function () {
  const filter = document.getElementById("overlay-filter");
  if (!filter) return;
  filter.addEventListener("input", function () {
    const needle = filter.value.trim().toLowerCase();
    document.querySelectorAll("#overlay-form label.choice").forEach(function (choice) {
      choice.hidden = needle !== "" && !choice.textContent.toLowerCase().includes(needle);
    });
  });
})();
