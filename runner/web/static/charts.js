/* The runbook page's charts, drawn with the vendored uPlot from the JSON the page embeds
   (<script type="application/json" id="chart-data">: the same series as
   /api/runbooks/NAME). One chart per threshold: its value over the runbook's runs, the
   warning and critical bands as they were at each run, each point in the colour of its
   run's status; hovering a point says the run, clicking it opens the run's page. One
   chart of the runs' durations. No inline script or style: the CSP refuses both. */
(function () {
  "use strict";

  var COLOURS = {
    OK: "#1e7a34",
    WARNING: "#f0b400",
    CRITICAL: "#b3261e",
    UNKNOWN: "#5f6b76",
    SKIPPED: "#8b949e"
  };
  var WARNING_BAND = "rgba(240, 180, 0, 0.18)";
  var CRITICAL_BAND = "rgba(179, 38, 30, 0.16)";

  function seconds(started) {
    return Date.parse(started) / 1000;
  }

  function finite(value) {
    return typeof value === "number" && isFinite(value);
  }

  /* The y range: every value and every limit, with a margin, so the bands show. */
  function yRange(numbers) {
    var kept = numbers.filter(finite);
    if (!kept.length) {
      return [0, 1];
    }
    var low = Math.min.apply(null, kept);
    var high = Math.max.apply(null, kept);
    var margin = (high - low) * 0.1 || Math.abs(high) * 0.1 || 1;
    return [low - margin, high + margin];
  }

  /* Each point's horizontal stretch: from halfway to the one before to halfway to the
     one after (the plot's edges at the ends), in canvas pixels. */
  function stretches(u, xs) {
    var left = u.bbox.left;
    var right = u.bbox.left + u.bbox.width;
    var at = xs.map(function (x) {
      return u.valToPos(x, "x", true);
    });
    return at.map(function (x, i) {
      return [
        i === 0 ? left : (at[i - 1] + x) / 2,
        i === at.length - 1 ? right : (x + at[i + 1]) / 2
      ];
    });
  }

  /* Fill from the limit `from` to the limit `to` (or the plot's edge on the bad side). */
  function fillBand(u, span, from, to, below, colour) {
    if (!finite(from)) {
      return;
    }
    var top = u.bbox.top;
    var bottom = u.bbox.top + u.bbox.height;
    var y0 = u.valToPos(from, "y", true);
    var y1 = finite(to) ? u.valToPos(to, "y", true) : below ? bottom : top;
    var high = Math.max(top, Math.min(y0, y1));
    var low = Math.min(bottom, Math.max(y0, y1));
    if (low > high) {
      u.ctx.fillStyle = colour;
      u.ctx.fillRect(span[0], high, span[1] - span[0], low - high);
    }
  }

  function drawBands(points, below) {
    return function (u) {
      var spans = stretches(u, points.map(function (p) { return seconds(p.started); }));
      u.ctx.save();
      points.forEach(function (point, i) {
        fillBand(u, spans[i], point.warning, point.critical, below, WARNING_BAND);
        fillBand(u, spans[i], point.critical, null, below, CRITICAL_BAND);
      });
      u.ctx.restore();
    };
  }

  function drawPoints(points, valueOf) {
    return function (u) {
      var radius = 4 * (window.devicePixelRatio || 1);
      u.ctx.save();
      points.forEach(function (point) {
        var value = valueOf(point);
        if (!finite(value)) {
          return;
        }
        u.ctx.beginPath();
        u.ctx.arc(
          u.valToPos(seconds(point.started), "x", true),
          u.valToPos(value, "y", true),
          radius, 0, 2 * Math.PI
        );
        u.ctx.fillStyle = COLOURS[point.status] || COLOURS.UNKNOWN;
        u.ctx.fill();
        u.ctx.strokeStyle = "#1a1a1a";
        u.ctx.lineWidth = 1;
        u.ctx.stroke();
      });
      u.ctx.restore();
    };
  }

  /* One chart in `holder`: `points` (run_id, started, status, ...) with `valueOf` their
     value; `bands` the direction of a threshold ("above" or "below"), or null. */
  function chart(holder, points, valueOf, label, bands) {
    var hover = document.createElement("p");
    hover.className = "hover";
    hover.textContent = "Hover a point to see its run; click it to open the run.";
    var xs = points.map(function (p) { return seconds(p.started); });
    var ys = points.map(function (p) {
      var value = valueOf(p);
      return finite(value) ? value : null;
    });
    var range = ys.slice();
    if (bands) {
      points.forEach(function (p) { range.push(p.warning, p.critical); });
    }
    var hooks = { draw: [drawPoints(points, valueOf)] };
    if (bands) {
      hooks.drawClear = [drawBands(points, bands === "below")];
    }
    hooks.setCursor = [function (u) {
      var i = u.cursor.idx;
      if (i === null || i === undefined || !points[i]) {
        return;
      }
      var p = points[i];
      var value = valueOf(p);
      hover.textContent = "Run " + p.run_id + ", " + p.started + ": " + label + " " +
        (finite(value) ? value : "-") + ", " + p.status;
    }];
    var width = Math.max(320, Math.min(holder.clientWidth || 800, 960));
    var plot = new uPlot({
      width: width,
      height: 220,
      scales: {
        x: { time: true },
        y: { range: function () { return yRange(range); } }
      },
      legend: { show: false },
      cursor: { points: { show: false }, drag: { x: false, y: false } },
      series: [
        {},
        { label: label, stroke: "#0b4f9c", width: 1.5, points: { show: false }, spanGaps: true }
      ],
      hooks: hooks
    }, [xs, ys], holder);
    plot.over.addEventListener("click", function () {
      var i = plot.cursor.idx;
      if (i !== null && i !== undefined && points[i]) {
        window.location.href = "/runs/" + encodeURIComponent(points[i].run_id);
      }
    });
    holder.appendChild(hover);
  }

  function start() {
    var source = document.getElementById("chart-data");
    if (!source || typeof uPlot === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var holders = document.querySelectorAll("div.chart[data-series]");
    Array.prototype.forEach.call(holders, function (holder) {
      var which = holder.getAttribute("data-series");
      if (which === "durations") {
        if (data.runs.length) {
          chart(holder, data.runs, function (p) { return p.duration; }, "duration (s)", null);
        }
        return;
      }
      var line = data.series[Number(which)];
      if (line && line.points.length) {
        chart(holder, line.points, function (p) { return p.value; }, line.threshold,
          line.direction === "below" ? "below" : "above");
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
