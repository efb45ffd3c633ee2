/* Draws the dashboard charts from data the page embeds with json_script.
   Needs Chart.js (vendored, loaded before this file); without it the pages
   still show every figure as text. */
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") { return; }

  function data(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }
  function css(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }
  var accent = css("--tbp-accent", "#2457c5");
  var accentSoft = css("--tbp-accent-soft", "rgba(36, 87, 197, 0.35)");
  var good = css("--tbp-good", "#15703f");
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = css("--tbp-muted", "#5b6472");

  var common = {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    interaction: { mode: "index", intersect: false },
    plugins: { legend: { display: false } },
    scales: {
      x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
      y: { beginAtZero: true, title: { display: true, text: "XP" } }
    }
  };

  var classData = data("tbp-class-chart-data");
  if (classData) {
    new Chart(document.getElementById("tbp-class-chart"), {
      type: "bar",
      data: {
        labels: classData.display || classData.labels,
        datasets: [{ label: "Class XP", data: classData.xp, backgroundColor: accent, borderRadius: 3 }]
      },
      options: common
    });
  }

  var studentData = data("tbp-student-chart-data");
  if (studentData) {
    // Series names come translated from the template's data-label-* attributes (as admin.js does).
    var studentCanvas = document.getElementById("tbp-student-chart");
    var dayLabel = studentCanvas.dataset.labelDay || "XP that day";
    var perDayLabel = studentCanvas.dataset.labelPerDay || "XP per day";
    var totalLabel = studentCanvas.dataset.labelTotal || "Total XP";
    new Chart(studentCanvas, {
      data: {
        labels: studentData.labels,
        datasets: [
          { type: "bar", label: dayLabel, data: studentData.xp, backgroundColor: accentSoft, borderRadius: 3, yAxisID: "y" },
          { type: "line", label: totalLabel, data: studentData.cumulative, borderColor: good, backgroundColor: good, pointRadius: 0, stepped: true, yAxisID: "y1" }
        ]
      },
      options: Object.assign({}, common, {
        plugins: { legend: { display: true, position: "bottom" } },
        scales: {
          x: common.scales.x,
          y: { beginAtZero: true, title: { display: true, text: perDayLabel } },
          y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false }, title: { display: true, text: totalLabel } }
        }
      })
    });
  }
})();
