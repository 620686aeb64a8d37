// spinetrack page script (no inline scripts: the Content-Security-Policy forbids them).
// Plots: every element with data-plot="ID" is drawn from the JSON in <script type="application/json" id="ID">.
(function () {
  "use strict";
  function drawPlots() {
    if (typeof Plotly === "undefined") { return; }
    document.querySelectorAll("[data-plot]").forEach(function (el) {
      var src = document.getElementById(el.getAttribute("data-plot"));
      if (!src) { return; }
      var fig = JSON.parse(src.textContent);
      var config = Object.assign({ displaylogo: false, responsive: true }, fig.config || {});
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
