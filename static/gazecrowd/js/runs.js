// Follow unfinished runs on the dashboard by polling the runs API every 2 s
// (GET /api/studies/<id>/runs/<run_id>/ -> {status, progress, stage, error}).
(function () {
  "use strict";
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-run][data-finished='0']"));
  if (!rows.length) return;
  function update(row, run) {
    row.querySelector("[data-progress]").value = run.progress;
    row.querySelector("[data-stage]").textContent = run.stage + " " + Math.round(run.progress * 100) + " %";
    var badge = row.querySelector("[data-status]");
    badge.textContent = run.status;
    badge.className = "badge " + run.status;
    if (run.status === "failed") {
      var err = row.querySelector("[data-error]");
      err.textContent = run.error; err.hidden = false;
    }
    if (run.status === "succeeded") row.querySelector("[data-results]").hidden = false;
    if (run.status === "succeeded" || run.status === "failed") row.setAttribute("data-finished", "1");
  }
  function poll() {
    rows = rows.filter(function (r) { return r.getAttribute("data-finished") === "0"; });
    if (!rows.length) return;
    Promise.all(rows.map(function (row) {
      return fetch(row.getAttribute("data-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (run) { if (run) update(row, run); })
        .catch(function () { /* try again next round */ });
    })).then(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 1000);
})();
