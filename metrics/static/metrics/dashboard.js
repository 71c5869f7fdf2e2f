/* Draws the KPI dashboard's charts with Chart.js (vendored: metrics/static/metrics/vendor/chartjs,
   no CDN) from the JSON the page embeds (#dashboard-data, metrics.dashboard.Dashboard.chart_data).
   Numbers are formatted for the page's language (thousands separators); the font stack has
   Japanese glyphs on Windows, macOS and Linux. window.kpiDashboardCharts lists the charts. */
(function () {
  "use strict";
  var dataNode = document.getElementById("dashboard-data");
  if (!dataNode || typeof Chart === "undefined") { return; }
  var data = JSON.parse(dataNode.textContent);
  var lang = document.documentElement.lang || "en";
  var style = getComputedStyle(document.body);
  var fg = style.getPropertyValue("--body-fg").trim() || "#333";
  var grid = style.getPropertyValue("--hairline-color").trim() || "#e5e5e5";
  var palette = ["#417690", "#e07b39", "#2e7d32", "#8e24aa", "#c62828", "#00838f", "#6d4c41"];

  Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", "Hiragino Sans", ' +
    '"Hiragino Kaku Gothic ProN", "Noto Sans CJK JP", "Noto Sans JP", "Yu Gothic", Meiryo, sans-serif';
  Chart.defaults.color = fg;
  Chart.defaults.borderColor = grid;
  Chart.defaults.animation = false;  // draw at once: screenshots and tests see the final chart

  var decimals = {percent: 1, yen: 0, count: 0, points: 0, score: 1, years: 1, per_year: 2};
  function format(value, unit) {
    if (value === null || value === undefined) { return "–"; }
    var places = unit in decimals ? decimals[unit] : (Number.isInteger(value) ? 0 : 2);
    var text = new Intl.NumberFormat(lang, {minimumFractionDigits: places,
      maximumFractionDigits: places}).format(value);
    if (unit === "percent") { return text + "%"; }
    if (unit === "yen") { return "¥" + text; }
    return text;
  }
  function axisTicks(unit) {
    return {callback: function (value) {
      return new Intl.NumberFormat(lang, {maximumFractionDigits: 1}).format(value) +
        (unit === "percent" ? "%" : "");
    }};
  }
  function tooltip(unit) {
    return {callbacks: {label: function (ctx) {
      return ctx.dataset.label + ": " + format(ctx.parsed.y, unit);
    }}};
  }

  var charts = [];
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var index = Number(canvas.dataset.index);
    var config;
    if (canvas.dataset.chart === "trend") {
      var series = data.trends[index];
      var color = palette[index % palette.length];
      var datasets = [{label: series.label, data: series.values, borderColor: color,
        backgroundColor: color, tension: 0.2, spanGaps: true, pointRadius: 2}];
      if (series.goals.some(function (g) { return g !== null; })) {
        datasets.push({label: data.texts.target, data: series.goals, borderColor: "#9e9e9e",
          backgroundColor: "#9e9e9e", borderDash: [5, 4], pointStyle: "rectRot", pointRadius: 4,
          showLine: false});
      }
      config = {type: "line", data: {labels: series.labels, datasets: datasets},
        options: {maintainAspectRatio: false, plugins: {legend: {display: datasets.length > 1},
          tooltip: tooltip(series.unit)}, scales: {y: {ticks: axisTicks(series.unit)}}}};
    } else {
      var bars = data.segments[index];
      config = {type: "bar", data: {labels: bars.labels, datasets: [{label: bars.label,
        data: bars.values, backgroundColor: palette[index % palette.length]}]},
        options: {maintainAspectRatio: false, plugins: {legend: {display: false},
          tooltip: tooltip(bars.unit)}, scales: {y: {beginAtZero: true, ticks: axisTicks(bars.unit)}}}};
    }
    charts.push(new Chart(canvas, config));
  });
  window.kpiDashboardCharts = charts;
})();
