// New job: upload with a progress bar, the validation report inline, then create.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var $ = function (id) { return document.getElementById(id); };
  var uploadForm = $("upload-form"), jobForm = $("job-form");
  var progress = $("upload-progress"), status = $("upload-status");
  var lastReport = null;

  function text(el, value) { el.textContent = value; return el; }

  function fact(list, name, value) {
    if (value === null || value === undefined || value === "") return;
    var div = document.createElement("div");
    div.appendChild(text(document.createElement("dt"), name));
    div.appendChild(text(document.createElement("dd"), String(value)));
    list.appendChild(div);
  }

  function renderReport(report, file, why) {
    lastReport = report;
    var box = $("validation-report"), issues = $("report-issues"), facts = $("report-facts");
    box.hidden = false;
    issues.textContent = "";
    facts.textContent = "";
    var summary = $("report-summary");
    if (report.ok) {
      summary.className = "ok";
      text(summary, "No issues: " + report.rows + " rows" +
        (report.format ? " of " + report.format : "") + (file ? ". The file is kept as " + file.id + "." : "."));
    } else {
      summary.className = "error";
      text(summary, report.total_issues + " issue" + (report.total_issues === 1 ? "" : "s") +
        " found" + (why || (file ? "." : ": the file was not kept. Fix it and upload it again.")));
    }
    fact(facts, "Format", report.format);
    fact(facts, "Rows", report.rows);
    fact(facts, "Conversations", report.conversations);
    if (report.labels) fact(facts, "Labels", report.labels.join(", "));
    if (report.profile && report.profile.tokens !== undefined) fact(facts, "Tokens", report.profile.tokens);
    (report.issues || []).forEach(function (issue) {
      var li = document.createElement("li");
      li.className = "issue";
      li.dataset.reason = issue.reason;
      if (issue.line !== null && issue.line !== undefined) li.dataset.line = issue.line;
      var where = issue.line !== null && issue.line !== undefined ? "Line " + issue.line : "File";
      if (issue.field) where += ", " + issue.field;
      li.appendChild(text(document.createElement("strong"), where));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(text(document.createElement("code"), issue.reason));
      li.appendChild(document.createTextNode(": " + issue.message));
      issues.appendChild(li);
    });
    var more = report.total_issues - (report.issues || []).length;
    $("report-more").hidden = more <= 0;
    if (more > 0) text($("report-more"), "… and " + more + " more issue" + (more === 1 ? "" : "s") + ".");
  }

  function autoPreview() {
    var out = $("auto-preview");
    if (!lastReport || !lastReport.auto) { out.textContent = ""; return; }
    var key = $("method").value + "/" + $("objective").value;
    var picked = lastReport.auto[key];
    if (!picked) { out.textContent = ""; return; }
    var parts = Object.keys(picked).map(function (k) { return k + " " + picked[k]; });
    out.textContent = "For this file, auto would pick about: " + parts.join(", ") + ".";
  }

  function syncModel() {
    var option = $("base-model").selectedOptions[0];
    var kinds = option ? option.dataset.taskTypes.split(",") : ["generation"];
    var task = $("task-type");
    Array.prototype.forEach.call(task.options, function (o) { o.disabled = kinds.indexOf(o.value) < 0; });
    if (task.selectedOptions[0].disabled) task.value = kinds[0];
    $("model-help").textContent = option ? option.title : "";
    syncMethod();
  }

  function pickModelFor(task) {
    var select = $("base-model"), current = select.selectedOptions[0];
    if (current && current.dataset.taskTypes.split(",").indexOf(task) >= 0) return;
    Array.prototype.some.call(select.options, function (o) {
      if (o.dataset.taskTypes.split(",").indexOf(task) < 0) return false;
      select.value = o.value;
      return true;
    });
  }

  function syncMethod() {
    var lora = $("method").value === "lora", dpo = $("objective").value === "dpo";
    document.querySelectorAll("fieldset[data-lora]").forEach(function (f) { f.disabled = !lora; f.hidden = !lora; });
    document.querySelectorAll("[data-dpo]").forEach(function (d) { d.hidden = !dpo; });
    autoPreview();
  }

  function fail(message) {
    status.className = "error";
    text(status, message);
  }

  function errorMessage(xhrStatus, body) {
    if (body && body.error && body.error.message) return body.error.message;
    if (xhrStatus === 413) return "The file is larger than this server accepts.";
    return "The request failed (HTTP " + xhrStatus + ").";
  }

  uploadForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var input = $("upload-file");
    if (!input.files.length) { fail("Choose a file first."); return; }
    var data = new FormData();
    data.append("file", input.files[0]);
    data.append("task_type", $("upload-task-type").value);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", uploadForm.dataset.uploadUrl);
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.setRequestHeader("Accept", "application/json");
    progress.hidden = false;
    progress.value = 0;
    status.className = "";
    text(status, "Uploading…");
    $("upload-button").disabled = true;
    jobForm.hidden = true;
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) progress.value = Math.round((100 * e.loaded) / e.total);
    });
    xhr.upload.addEventListener("load", function () { progress.value = 100; text(status, "Checking…"); });
    xhr.addEventListener("load", function () {
      $("upload-button").disabled = false;
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if (xhr.status !== 200 || !body || !body.report) { fail(errorMessage(xhr.status, body)); return; }
      text(status, body.file ? "Uploaded and checked." : "Checked: the file has issues.");
      renderReport(body.report, body.file);
      if (body.file) {
        $("file-id").value = body.file.id;
        text($("chosen-file"), body.file.filename + " (" + body.file.id + ")");
        if (body.report.objective) $("objective").value = body.report.objective;
        pickModelFor($("upload-task-type").value);
        $("task-type").value = $("upload-task-type").value;
        jobForm.hidden = false;
        syncModel();
      }
    });
    xhr.addEventListener("error", function () { $("upload-button").disabled = false; fail("The upload failed: the server could not be reached."); });
    xhr.send(data);
  });

  document.querySelectorAll("input.auto").forEach(function (box) {
    box.addEventListener("change", function () {
      var input = $("hp-" + box.dataset.field);
      input.disabled = box.checked;
      if (box.checked) { input.dataset.kept = input.value; input.value = "auto"; }
      else { input.value = input.dataset.kept || input.dataset.default; }
    });
  });
  $("base-model").addEventListener("change", syncModel);
  $("method").addEventListener("change", syncMethod);
  $("objective").addEventListener("change", syncMethod);

  jobForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var error = $("create-error");
    error.hidden = true;
    var hp = {}, auto = [];
    document.querySelectorAll("[id^=hp-]").forEach(function (el) {
      if (el.tagName !== "INPUT" && el.tagName !== "SELECT") return;
      if (el.type === "checkbox") { if (el.checked) auto.push(el.dataset.field); return; }
      if (el.closest("fieldset") && el.closest("fieldset").disabled) return;
      if (!el.disabled) hp[el.name] = el.value;
    });
    var body = {
      file_id: $("file-id").value, name: $("job-name").value, model: $("base-model").value,
      task_type: $("task-type").value, method: $("method").value, objective: $("objective").value,
      hyperparameters: hp, auto: auto
    };
    $("create-button").disabled = true;
    fetch(jobForm.dataset.createUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        $("create-button").disabled = false;
        if (response.status === 201 && data && data.url) { window.location.assign(data.url); return; }
        error.hidden = false;
        text(error, errorMessage(response.status, data));
        if (data && data.report) renderReport(data.report, null, " for this model and objective: nothing was created.");
      });
    }).catch(function () {
      $("create-button").disabled = false;
      error.hidden = false;
      text(error, "The server could not be reached.");
    });
  });
})();
