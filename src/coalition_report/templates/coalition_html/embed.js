/* Draw every chart with the inlined vega-embed; on success drop the static SVG fallback.
   ast:true makes Vega interpret expressions instead of compiling them with Function(),
   so the page's Content-Security-Policy needs no 'unsafe-eval'. */
(function () {
  "use strict";
  if (typeof window.vegaEmbed !== "function") { return; }
  var options = {
    renderer: "svg",
    ast: true,
    actions: { export: true, source: false, compiled: false, editor: false }
  };
  document.querySelectorAll("figure.chart").forEach(function (fig) {
    var view = fig.querySelector(".chart-view");
    var data = view && document.getElementById(view.getAttribute("data-spec"));
    if (!data) { return; }
    var spec;
    try { spec = JSON.parse(data.textContent); } catch (e) { return; }
    window.vegaEmbed(view, spec, options).then(function () {
      var fallback = fig.querySelector(".chart-fallback");
      if (fallback) { fallback.remove(); }
      fig.classList.add("chart-drawn");
    }).catch(function (err) {
      view.remove();
      if (window.console) { console.error("chart " + fig.id + ": " + err); }
    });
  });
})();
