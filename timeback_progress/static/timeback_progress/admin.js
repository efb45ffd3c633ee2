/* Student page: daily XP (bars) and cumulative XP (line) from the json_script
   data the admin renders; no inline script, so a strict CSP still works.
   Every day from the student's first in the window to today is in the data (0 XP days
   included), so the evenly spaced category axis is a time axis (no date
   adapter is vendored). The total is a step line that rises on the day XP
   was earned and never curves: XP never appears to fall between days.
   The series' names come translated from the template (the canvas's data-label-*
   attributes), so this file needs no JavaScript catalogue. */
'use strict';
(function () {
  function draw() {
    const data = document.getElementById('tbp-xp-data');
    const canvas = document.getElementById('tbp-xp-chart');
    if (!data || !canvas || typeof Chart === 'undefined') { return; }
    const points = JSON.parse(data.textContent);
    const daily = canvas.dataset.labelDaily || 'XP per day';
    const totalLabel = canvas.dataset.labelTotal || 'Total XP';
    let total = 0;
    const cumulative = points.map(function (p) { total += p.xp; return Math.round(total * 100) / 100; });
    new Chart(canvas, {
      data: {
        labels: points.map(function (p) { return p.day; }),
        datasets: [
          { type: 'bar', label: daily, data: points.map(function (p) { return p.xp; }),
            backgroundColor: 'rgba(65, 118, 144, 0.6)', yAxisID: 'y' },
          { type: 'line', label: totalLabel, data: cumulative, borderColor: '#c77c02',
            backgroundColor: '#c77c02', stepped: 'after', tension: 0, pointRadius: 0, yAxisID: 'y1' }
        ]
      },
      options: {
        maintainAspectRatio: false,
        animation: false,
        scales: {
          y: { beginAtZero: true, title: { display: true, text: daily } },
          y1: { beginAtZero: true, position: 'right', grid: { drawOnChartArea: false },
                title: { display: true, text: totalLabel } }
        }
      }
    });
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', draw);
  } else {
    draw();
  }
})();
