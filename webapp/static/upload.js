// Drag-and-drop and upload progress for the evaluation form. Without JavaScript the form posts as usual.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  const zone = document.getElementById("dropzone");
  const artifactInput = document.getElementById("artifact-input");
  const button = document.getElementById("upload-button");
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");

  function showFile() {
    const file = artifactInput.files[0];
    zone.querySelector(".big").textContent = file ? file.name + " (" + file.size.toLocaleString() + " bytes)" : "Drop the artifact here";
  }

  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.remove("over"); });
  });
  // each dropped file goes to the input its extension names: .model tokenizer, .json/.toml config, else artifact
  function inputFor(name) {
    const lower = name.toLowerCase();
    if (lower.endsWith(".model")) { return form.elements.tokenizer; }
    if (lower.endsWith(".json") || lower.endsWith(".toml")) { return form.elements.config; }
    return artifactInput;
  }

  zone.addEventListener("drop", function (event) {
    Array.prototype.forEach.call(event.dataTransfer.files, function (file) {
      const one = new DataTransfer();
      one.items.add(file);
      inputFor(file.name).files = one.files;
    });
    showFile();
  });
  artifactInput.addEventListener("change", showFile);

  function fail(message) {
    status.textContent = message;
    status.className = "error";
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    status.className = "";
    if (!artifactInput.files.length) {
      fail("Choose or drop an artifact first.");
      return;
    }
    // the server refuses more than this anyway; checking here spares uploading a file only to have it refused
    const limit = Number(form.dataset.maxBytes);
    const total = Array.prototype.reduce.call(form.querySelectorAll("input[type=file]"), function (sum, input) {
      return sum + (input.files.length ? input.files[0].size : 0);
    }, 0);
    if (limit && total > limit) {
      fail("Too large: the files come to " + total.toLocaleString() + " bytes, over the limit of " +
           limit.toLocaleString() + " bytes. Nothing was uploaded.");
      return;
    }
    const request = new XMLHttpRequest();
    request.open("POST", "/api/evaluations");
    request.upload.addEventListener("progress", function (progress) {
      if (progress.lengthComputable) {
        bar.firstElementChild.style.width = (100 * progress.loaded / progress.total).toFixed(1) + "%";
      }
    });
    request.addEventListener("load", function () {
      let body = {};
      try { body = JSON.parse(request.responseText); } catch (error) { body = {}; }
      if (request.status === 200 || request.status === 202) {
        status.textContent = body.reused ? "Uploaded before: opening the earlier evaluation." : "Queued: opening the evaluation.";
        window.location.assign(body.url);
      } else {
        fail("Rejected (" + request.status + "): " + (body.detail || request.statusText));
        button.disabled = false;
        bar.hidden = true;
      }
    });
    request.addEventListener("error", function () {
      fail("The upload did not reach the server.");
      button.disabled = false;
      bar.hidden = true;
    });
    button.disabled = true;
    bar.hidden = false;
    status.textContent = "Uploading…";
    request.send(new FormData(form));
  });
})();
