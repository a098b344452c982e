// Jobs list: poll /console/jobs.json every few seconds (while the tab is shown) and
// redraw the rows; tick jobs to compare them.
(function () {
  "use strict";
  var body = document.getElementById("jobs-body");
  var query = JSON.parse(document.getElementById("jobs-query").textContent);
  var live = document.getElementById("jobs-live");
  var compare = document.getElementById("compare-selected");
  var picked = new Set();

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function td(child, cls) { var c = el("td", null, cls); if (child) c.append(child); return c; }
  function row(r) {
    var tr = el("tr"); tr.dataset.jobId = r.id;
    var box = el("input"); box.type = "checkbox"; box.className = "compare-pick"; box.value = r.id;
    box.checked = picked.has(r.id); box.setAttribute("aria-label", "Compare " + r.name);
    tr.append(td(box));
    var name = el("td"); var a = el("a", r.name, "job-link"); a.href = "/console/jobs/" + encodeURIComponent(r.id);
    name.append(a, el("br"), el("small", r.id, "muted")); tr.append(name);
    tr.append(td(el("span", r.status, "job-status status-" + r.status)));
    tr.append(td(document.createTextNode(r.model)));
    tr.append(td(document.createTextNode(r.method), "hide-narrow"));
    var prog = el("td");
    if (r.total_steps) {
      var p = el("progress"); p.max = r.total_steps; p.value = r.step || 0;
      p.setAttribute("aria-label", (r.step || 0) + " of " + r.total_steps + " steps");
      prog.append(p, " ", el("small", (r.step || 0) + "/" + r.total_steps));
    } else prog.append(el("small", "–", "muted"));
    tr.append(prog);
    tr.append(td(document.createTextNode(r.eta_s === null ? "–" : r.eta_s + " s"), "hide-narrow job-eta"));
    tr.append(td(document.createTextNode(r.created_at), "hide-narrow"));
    tr.append(td(document.createTextNode(r.finished_at || "–"), "hide-narrow"));
    tr.append(td(document.createTextNode(r.dialect), "hide-narrow"));
    return tr;
  }
  function poll() {
    if (document.hidden) return;
    var params = new URLSearchParams(query);
    fetch("/console/jobs.json?" + params.toString(), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        if (!data.data.length) return;
        body.replaceChildren.apply(body, data.data.map(row));
        live.textContent = "Updated " + new Date().toLocaleTimeString();
      })
      .catch(function () { live.textContent = "Live updates paused (connection lost); retrying."; });
  }
  body.addEventListener("change", function (ev) {
    var t = ev.target;
    if (!t.classList || !t.classList.contains("compare-pick")) return;
    if (t.checked) picked.add(t.value); else picked.delete(t.value);
    compare.disabled = picked.size < 2;
  });
  compare.addEventListener("click", function () {
    var params = new URLSearchParams();
    picked.forEach(function (id) { params.append("job", id); });
    location.href = "/console/compare?" + params.toString();
  });
  setInterval(poll, 3000);
  document.addEventListener("visibilitychange", poll);
})();
