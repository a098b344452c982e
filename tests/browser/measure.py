"""Measuring pages from inside Chromium: the bytes each response took on the wire, and
when uPlot drew what (an init script that times it from inside the page)."""

from __future__ import annotations

from typing import Any

__all__ = ["TIMING", "describe", "shown_steps", "weigh"]

TIMING = """
(() => {
  const t = window.__tyTiming = {draws: [], tasks: [], firstPoints: null, lastPoints: null,
                                 plots: {}, opened: [], connects: 0};
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) t.tasks.push({start: e.startTime, ms: e.duration});
    }).observe({type: "longtask", buffered: true});
  } catch (e) {}
  const RealSource = window.EventSource;
  function TimedSource(url, init) {
    const source = new RealSource(url, init);
    t.opened.push(String(url));
    source.addEventListener("open", () => { t.connects += 1; });
    source.addEventListener("points", () => {
      const now = performance.now();
      if (t.firstPoints === null) t.firstPoints = now;
      t.lastPoints = now;
    });
    return source;
  }
  TimedSource.prototype = RealSource.prototype;
  for (const k of ["CONNECTING", "OPEN", "CLOSED"]) TimedSource[k] = RealSource[k];
  window.EventSource = TimedSource;
  let real;
  Object.defineProperty(window, "uPlot", {
    configurable: true,
    get() { return real; },
    set(U) {
      function Timed(opts, data, target) {
        let started = performance.now();
        opts.hooks = opts.hooks || {};
        opts.hooks.draw = (opts.hooks.draw || []).concat([(u) => {
          const now = performance.now();
          const draw = {points: u.data[0].length, at: now, ms: now - started,
                        chart: target && target.id, painted: null};
          t.draws.push(draw);
          requestAnimationFrame(() => requestAnimationFrame(() => {
            draw.painted = performance.now();  // the frame with this draw is on screen
          }));
        }]);
        const plot = new U(opts, data, target);
        if (target && target.id) t.plots[target.id] = plot;
        const setData = plot.setData.bind(plot);
        plot.setData = (d, reset) => { started = performance.now(); return setData(d, reset); };
        return plot;
      }
      Object.setPrototypeOf(Timed, U);
      Timed.prototype = U.prototype;
      real = Timed;
    },
  });
})();
"""
"""An init script: `window.__tyTiming` gets `draws` (each uPlot draw: chart id, points,
`at` = performance.now(), `ms` since its last setData, `painted` once the frame that
shows it is presented), `tasks` (long tasks) and the
times of the stream's first and last `points` frames; `plots` (each uPlot by its
element's id, to read what it shows), `opened` (the URL of each EventSource the page
made) and `connects` (how many times any of them connected, reconnections included)."""


def weigh(page: Any, url: str) -> list[tuple[str, int]]:
    """Open `url`, wait until the job's stream has sent everything, and return each
    response's bytes as received on the wire (headers and body, before any decoding), from
    Chromium's own accounting (DevTools `Network.*` events)."""
    cdp = page.context.new_cdp_session(page)
    urls: dict[str, str] = {}
    finished: dict[str, int] = {}
    received: dict[str, int] = {}
    cdp.on(
        "Network.responseReceived", lambda e: urls.update({e["requestId"]: e["response"]["url"]})
    )
    cdp.on(
        "Network.loadingFinished",
        lambda e: finished.update({e["requestId"]: e["encodedDataLength"]}),
    )
    cdp.on(
        "Network.dataReceived",
        lambda e: received.update(
            {e["requestId"]: received.get(e["requestId"], 0) + e["encodedDataLength"]}
        ),
    )
    cdp.send("Network.enable")
    page.goto(url)
    page.wait_for_function("() => window.tyChartPoints > 0")
    page.locator("#stream-status").filter(has_text="everything it reported").wait_for()
    page.wait_for_load_state("networkidle")
    cdp.detach()
    origin = url.split("/console")[0]
    return [
        (address.replace(origin, ""), finished.get(rid, received.get(rid, 0)))
        for rid, address in urls.items()
    ]


def describe(sizes: list[tuple[str, int]]) -> str:
    """One line per response: its size in KB and its path."""
    return "\n".join(f"  {size / 1024:8.1f} KB  {path}" for path, size in sizes)


def shown_steps(page: Any, chart: str) -> list[int]:
    """The x values (steps) the uPlot chart in element `chart` shows (needs TIMING)."""
    steps: list[int] = page.evaluate(
        "(id) => Array.from(window.__tyTiming.plots[id].data[0])", chart
    )
    return steps
