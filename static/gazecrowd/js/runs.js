// Follow a study's runs on the dashboard without reloading: poll the runs API every 2 s
// (GET /api/studies/<id>/runs/ -> [{id, status, stage, progress, waiting_seconds,
// elapsed_seconds, eta_seconds, error}]), show stage, elapsed time and an estimate of the time
// left, the error and a retry button when one fails; reload when a new run appears (a
// recording that completes the quorum starts one).
(function () {
  "use strict";
  var box = document.getElementById("runs-live");
  if (!box) return;
  var url = box.getAttribute("data-runs-url");
  // A form sent from this page (start a run, retry) is already taking us to a fresh page:
  // reloading now would cancel that navigation.
  var leaving = false;
  document.addEventListener("submit", function () { leaving = true; }, true);

  function clock(seconds) {
    if (seconds === null || seconds === undefined) return "";
    var s = Math.max(0, Math.round(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m)) + ":" + String(r).padStart(2, "0");
    return h ? h + ":" + mm : mm;
  }

  function describe(run) {
    if (run.status === "queued") {
      var text = "queued " + clock(run.waiting_seconds);
      if (run.waiting_seconds > 10) text += ", waiting for a free worker";
      return text;
    }
    var parts = [(run.stage || run.status) + " " + Math.round(run.progress * 100) + " %"];
    if (run.elapsed_seconds !== null) parts.push(clock(run.elapsed_seconds) + " elapsed");
    if (run.eta_seconds !== null) parts.push("about " + clock(run.eta_seconds) + " left");
    return parts.join(" · ");
  }

  function update(row, run) {
    row.querySelector("[data-progress]").value = run.progress;
    row.querySelector("[data-stage]").textContent = describe(run);
    var badge = row.querySelector("[data-status]");
    badge.textContent = run.status;
    badge.className = "badge " + run.status;
    var err = row.querySelector("[data-error]");
    var retry = row.querySelector("[data-retry]");
    err.hidden = run.status !== "failed";
    if (run.status === "failed") err.textContent = run.error;
    if (retry) retry.hidden = run.status !== "failed";
    row.querySelector("[data-results]").hidden = run.status !== "succeeded";
    row.setAttribute("data-finished", run.status === "succeeded" || run.status === "failed" ? "1" : "0");
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (runs) {
        if (!runs) return;
        for (var i = 0; i < runs.length; i++) {
          var row = box.querySelector("tr[data-run='" + runs[i].id + "']");
          if (!row) { if (!leaving) window.location.reload(); return; }
          update(row, runs[i]);
        }
      })
      .catch(function () { /* try again next round */ })
      .then(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 1000);
})();
