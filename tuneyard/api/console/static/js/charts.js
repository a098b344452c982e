// Shared uPlot helpers for the job and compare pages: a step-by-value line chart sized to
// its box, with optional vertical markers (checkpoints). Data are updated with setData.
window.TyCharts = (function () {
  "use strict";
  var HEIGHT = 220;
  var PALETTE = ["#0a58ca", "#cf222e", "#1a7f37", "#8250df", "#9a6700", "#0e7490", "#bf3989", "#57606a"];

  function width(el) { return Math.max(260, el.clientWidth - 10); }

  // The y axis' tick labels, as many significant digits as the ticks need to differ
  // (uPlot's default prints 0.00001, 0.00002… as 0, 0, 0); small or large ones as 1.2e-5.
  function ticks(u, values) {
    var span = Math.max.apply(null, values.map(Math.abs));
    var exp = span > 0 && (span < 1e-3 || span >= 1e6);
    for (var digits = 1; digits < 8; digits++) {
      var labels = values.map(function (v) {
        if (v === 0) return "0";
        return exp ? v.toExponential(digits - 1) : String(+v.toPrecision(digits));
      });
      var unique = labels.filter(function (l, i) { return labels.indexOf(l) === i; });
      if (unique.length === labels.length) return labels;
    }
    return values.map(function (v) { return String(v); });
  }

  // A plugin drawing a dashed vertical line at each step `steps()` returns.
  function markers(steps) {
    return {
      hooks: {
        draw: [function (u) {
          var list = steps();
          if (!list.length) return;
          var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
          ctx.save();
          ctx.strokeStyle = "#9a6700";
          ctx.setLineDash([4, 4]);
          ctx.lineWidth = 1;
          for (var i = 0; i < list.length; i++) {
            var x = Math.round(u.valToPos(list[i], "x", true));
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
            ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke();
          }
          ctx.restore();
        }]
      }
    };
  }

  // A chart in `el` with one line per entry of `lines` ({label, stroke?, width?, points?}).
  function make(el, lines, options) {
    options = options || {};
    var series = [{ label: "Step" }];
    lines.forEach(function (line, i) {
      series.push({
        label: line.label,
        stroke: line.stroke || PALETTE[i % PALETTE.length],
        width: line.width || 2,
        spanGaps: true,
        points: line.points || { show: false },
        value: function (u, v) { return v === null || v === undefined ? "–" : (+v).toPrecision(4); }
      });
    });
    var data = [[]].concat(lines.map(function () { return []; }));
    var chart = new uPlot({
      width: width(el),
      height: HEIGHT,
      scales: { x: { time: false } },
      series: series,
      axes: [{ label: "step" }, { size: 70, values: ticks }],
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      plugins: options.markers ? [markers(options.markers)] : []
    }, data, el);
    window.addEventListener("resize", function () {
      chart.setSize({ width: width(el), height: HEIGHT });
    });
    return chart;
  }

  return { make: make, palette: PALETTE, ticks: ticks };
})();
