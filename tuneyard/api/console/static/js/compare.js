// Compare: read each job's stream once (follow=0), then overlay the curves; the x values
// are the union of the jobs' steps, each job's line has gaps where it has no point.
(function () {
  "use strict";
  var jobs = JSON.parse(document.getElementById("compare-config").textContent);
  var state = document.getElementById("compare-status");

  function read(job) {
    return new Promise(function (resolve) {
      var got = { loss: new Map(), valid: new Map() };
      var es = new EventSource(job.stream);
      es.addEventListener("points", function (e) {
        var d = JSON.parse(e.data);
        for (var i = 0; i < d.step.length; i++) got.loss.set(d.step[i], d.loss[i]);
      });
      es.addEventListener("log", function (e) {
        var ev = JSON.parse(e.data), c = ev.data;
        if (ev.type === "message" && c && typeof c.step === "number" && c.path !== undefined && c.valid_loss !== null && c.valid_loss !== undefined) got.valid.set(c.step, c.valid_loss);
      });
      function done() { es.close(); resolve(got); }
      es.addEventListener("end", done);
      es.addEventListener("gone", done);
      es.addEventListener("error", done);
    });
  }
  function aligned(maps) {
    var steps = new Set();
    maps.forEach(function (m) { m.forEach(function (_, k) { steps.add(k); }); });
    var xs = Array.from(steps).sort(function (a, b) { return a - b; });
    return [xs].concat(maps.map(function (m) { return xs.map(function (x) { return m.has(x) ? m.get(x) : null; }); }));
  }
  var lines = jobs.map(function (j) { return { label: j.name + " (" + j.id + ")" }; });
  var loss = TyCharts.make(document.getElementById("compare-loss"), lines);
  var valid = TyCharts.make(document.getElementById("compare-valid"), lines.map(function (l) {
    return { label: l.label, points: { show: true, size: 6 } };
  }));
  jobs.reduce(function (chain, job) {
    return chain.then(function (all) { return read(job).then(function (g) { all.push(g); return all; }); });
  }, Promise.resolve([])).then(function (all) {
    loss.setData(aligned(all.map(function (g) { return g.loss; })));
    valid.setData(aligned(all.map(function (g) { return g.valid; })));
    state.textContent = "Curves of " + all.length + " jobs.";
    window.tyCompareReady = true;
  });
})();
