// The job page: one EventSource on the job's stream feeds the charts (uPlot, redrawn with
// setData at most once per animation frame), the header, the timeline and the events log.
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("job-config").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var NAMES = { valid_loss: "Validation loss", perplexity: "Perplexity", token_accuracy: "Token accuracy",
    bleu4: "BLEU-4", rouge1: "ROUGE-1", rouge2: "ROUGE-2", rougeL: "ROUGE-L", accuracy: "Accuracy",
    f1_macro: "F1 (macro)", reward_accuracy: "Reward accuracy", reward_margin: "Reward margin" };

  // Series, as columns uPlot reads directly.
  var xs = [], loss = [], raw = [], acc = [], lr = [];
  var vx = [], vy = [], marks = [];
  var lastSeq = 0, status = cfg.job.status, stream = null;

  var charts = {
    loss: TyCharts.make($("chart-loss"), [
      { label: "raw loss", stroke: "#7aa7e0", width: 1 },
      { label: "smoothed loss", stroke: "#0a58ca", width: 2 }
    ], { markers: function () { return marks; } }),
    valid: TyCharts.make($("chart-valid"), [
      { label: "validation loss", stroke: "#cf222e", points: { show: true, size: 7 } }
    ], { markers: function () { return marks; } }),
    accuracy: TyCharts.make($("chart-accuracy"), [{ label: "token accuracy", stroke: "#1a7f37" }],
      { markers: function () { return marks; } }),
    lr: TyCharts.make($("chart-lr"), [{ label: "learning rate", stroke: "#8250df" }],
      { markers: function () { return marks; } })
  };
  var pending = false;
  function redraw() {
    pending = false;
    charts.loss.setData([xs, raw, loss]);
    charts.valid.setData([vx, vy]);
    charts.accuracy.setData([xs, acc]);
    charts.lr.setData([xs, lr]);
    window.tyChartPoints = xs.length;  // read by the browser tests
  }
  function schedule() { if (!pending) { pending = true; requestAnimationFrame(redraw); } }

  function duration(s) {
    if (s === null || s === undefined) return "–";
    s = Math.round(s);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + " h " : "") + (h || m ? m + " min " : "") + r + " s";
  }

  function onPoints(d) {
    for (var i = 0; i < d.step.length; i++) {
      xs.push(d.step[i]); loss.push(d.loss[i]); raw.push(d.raw_loss[i]);
      acc.push(d.accuracy[i]); lr.push(d.lr[i]);
    }
    var latest = d.latest || {};
    if (latest.tokens_per_s != null) $("job-throughput").textContent = Math.round(latest.tokens_per_s) + " tokens/s";
    if (status === "running") $("job-eta").textContent = latest.remaining_s == null ? "estimating…" : duration(latest.remaining_s);
    schedule();
  }

  function onCheckpoint(c) {
    if (marks.indexOf(c.step) < 0) { marks.push(c.step); marks.sort(function (a, b) { return a - b; }); }
    if (c.valid_loss === null || c.valid_loss === undefined) return;
    var at = vx.indexOf(c.step);
    if (at >= 0) { vy[at] = c.valid_loss; return; }
    var i = 0; while (i < vx.length && vx[i] < c.step) i++;
    vx.splice(i, 0, c.step); vy.splice(i, 0, c.valid_loss);
  }

  // Events log and timeline.
  var entries = [], log = $("event-log"), filter = $("log-filter"), search = $("log-search"), follow = $("log-follow");
  function shown(ev) {
    var f = filter.value, q = search.value.trim().toLowerCase();
    if (f === "status" && ev.type !== "status") return false;
    if (f === "error" && ev.level !== "error") return false;
    if (f === "message" && ev.type !== "message") return false;
    return !q || ev.message.toLowerCase().indexOf(q) >= 0;
  }
  function line(ev) {
    var li = document.createElement("li");
    li.className = "level-" + ev.level + " type-" + ev.type;
    li.dataset.seq = ev.seq;
    li.textContent = (ev.time || "").replace("T", " ").slice(0, 19) + "  " + ev.message;
    return li;
  }
  function addLog(ev) {
    entries.push(ev);
    if (entries.length > 5000) entries.shift();
    if (shown(ev)) { log.append(line(ev)); if (follow.checked) log.scrollTop = log.scrollHeight; }
  }
  function relog() {
    log.replaceChildren.apply(log, entries.filter(shown).map(line));
    if (follow.checked) log.scrollTop = log.scrollHeight;
  }
  filter.addEventListener("change", relog);
  search.addEventListener("input", relog);
  follow.addEventListener("change", function () { if (follow.checked) log.scrollTop = log.scrollHeight; });

  function addTimeline(ev) {
    var li = document.createElement("li");
    var t = document.createElement("time"); t.dateTime = ev.time; t.textContent = (ev.time || "").replace("T", " ").slice(0, 19);
    var to = ev.data && ev.data.to ? ev.data.to : "";
    li.append(t, " — ", ev.message);
    if (to) li.className = "status-" + to;
    $("job-timeline").append(li);
  }

  function onLog(ev) {
    addLog(ev);
    if (ev.type === "status") addTimeline(ev);
    var d = ev.data;
    if (ev.type === "message" && d && typeof d.step === "number" && d.path !== undefined) { onCheckpoint(d); schedule(); }
  }

  function onJob(s) {
    status = s.status;
    var el = $("job-status"); el.textContent = s.status; el.className = "status-" + s.status;
    var p = $("job-progress"); p.max = s.total_steps || 1; p.value = s.step || 0;
    $("job-step").textContent = (s.step || 0) + "/" + (s.total_steps || "?");
    $("job-epoch").textContent = (s.epoch || 0) + "/" + (s.total_epochs || "?");
    $("job-finished").textContent = s.finished_at || "–";
    if (s.status !== "running") $("job-eta").textContent = s.terminal ? "–" : "not running";
    var err = $("job-error");
    if (s.error) { err.hidden = false; err.textContent = s.error + (s.error_code ? " (" + s.error_code + ")" : ""); }
    document.querySelectorAll("#job-actions form[data-action]").forEach(function (f) {
      f.hidden = s.actions.indexOf(f.dataset.action) < 0;
    });
    var keys = Object.keys(s.metrics || {});
    if (keys.length) {
      var box = $("final-metrics");
      box.replaceChildren.apply(box, keys.map(function (k) {
        var div = document.createElement("div"); div.dataset.metric = k;
        var dt = document.createElement("dt"); dt.textContent = NAMES[k] || k;
        var dd = document.createElement("dd"); dd.textContent = (+s.metrics[k]).toPrecision(4);
        div.append(dt, dd); return div;
      }));
    }
  }

  var state = $("stream-status");
  function open() {
    var url = cfg.stream + (cfg.stream.indexOf("?") < 0 ? "?" : "&") + "after=" + lastSeq;
    stream = new EventSource(url);
    var track = function (e) { if (e.lastEventId) lastSeq = +e.lastEventId; };
    stream.addEventListener("open", function () { state.textContent = "Live."; });
    stream.addEventListener("points", function (e) { track(e); onPoints(JSON.parse(e.data)); });
    stream.addEventListener("log", function (e) { track(e); onLog(JSON.parse(e.data)); });
    stream.addEventListener("job", function (e) { onJob(JSON.parse(e.data)); });
    stream.addEventListener("end", function (e) {
      stream.close();
      var s = JSON.parse(e.data).status;
      if (s === "paused") { state.textContent = "Paused; checking again every 10 s."; setTimeout(open, 10000); }
      else state.textContent = "The job has " + s + "; everything it reported is shown.";
    });
    stream.addEventListener("gone", function () { stream.close(); state.textContent = "This job was deleted."; });
    stream.addEventListener("error", function () {
      if (stream.readyState === EventSource.CLOSED) {  // refused (e.g. signed out): retry later
        state.textContent = "Live updates stopped; retrying in 10 s.";
        setTimeout(open, 10000);
      } else state.textContent = "Reconnecting…";
    });
  }
  open();
})();
