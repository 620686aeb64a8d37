// spinetrack page script (no inline scripts: the Content-Security-Policy forbids them).
// Plots: every element with data-plot="ID" is drawn from the JSON in <script type="application/json" id="ID">.
(function () {
  "use strict";
  // Break a long title or legend entry into lines of at most `max` characters (at spaces).
  function wrap(text, max) {
    if (typeof text !== "string" || text.length <= max || text.indexOf("<br>") >= 0) { return text; }
    var lines = [], line = "";
    text.split(" ").forEach(function (word) {
      if (line && (line + " " + word).length > max) { lines.push(line); line = word; } else { line = line ? line + " " + word : word; }
    });
    if (line) { lines.push(line); }
    return lines.join("<br>");
  }
  // On a narrow screen (a phone) axis titles and legend entries wrap instead of being cut off at the
  // plot's edge; the legend below the plot moves down by the extra lines of the x-axis title.
  function fitNarrow(el, fig) {
    var width = el.clientWidth, layout = fig.layout || {};
    if (!width || width >= 560) { return false; }
    var max = Math.max(18, Math.floor((width - 56) / 9));
    // the legend below the plot takes about a third of the height on a phone: give it room
    layout.height = Math.round((layout.height || 450) * 1.3);
    ["xaxis", "yaxis"].forEach(function (axis) {
      var a = layout[axis];
      if (a && a.title && typeof a.title.text === "string") {
        a.title.text = wrap(a.title.text, axis === "xaxis" ? max : 26);
      }
    });
    var y = layout.yaxis && layout.yaxis.title && layout.yaxis.title.text;
    if (typeof y === "string" && y.indexOf("<br>") >= 0 && layout.margin && typeof layout.margin.l === "number") {
      layout.margin.l += 18;
    }
    (fig.data || []).forEach(function (trace) { if (trace.name) { trace.name = wrap(trace.name, max - 6); } });
    var x = layout.xaxis && layout.xaxis.title && layout.xaxis.title.text;
    var extra = typeof x === "string" ? x.split("<br>").length - 1 : 0;
    if (extra && layout.legend && typeof layout.legend.y === "number" && layout.legend.y < 0) {
      layout.legend.y -= 0.12 * extra;
    }
    return true;
  }
  function drawPlots() {
    if (typeof Plotly === "undefined") { return; }
    document.querySelectorAll("[data-plot]").forEach(function (el) {
      var src = document.getElementById(el.getAttribute("data-plot"));
      if (!src) { return; }
      var fig = JSON.parse(src.textContent);
      var narrow = fitNarrow(el, fig);
      var config = Object.assign({ displaylogo: false, responsive: true }, fig.config || {});
      if (narrow) { config.displayModeBar = false; }  // on a phone the tool bar covered the title
      Plotly.newPlot(el, fig.data, fig.layout || {}, config).then(function () { el.setAttribute("data-rendered", "1"); });
    });
  }
  // Confirm buttons: <button data-confirm="Are you sure?">
  document.addEventListener("click", function (ev) {
    var t = ev.target.closest("[data-confirm]");
    if (t && !window.confirm(t.getAttribute("data-confirm"))) { ev.preventDefault(); }
  });
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", drawPlots); } else { drawPlots(); }
})();
