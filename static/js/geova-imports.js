// The import job's page: poll its JSON state, move the progress bar, reload once it is finished
// (the page then shows the counts, the error or the rejects file). Without JavaScript the page
// refreshes itself (<noscript> meta refresh).
(function () {
  "use strict";
  var box = document.getElementById("job");
  if (!box) { return; }
  var bar = document.getElementById("job-progress");
  var rows = document.getElementById("job-rows");
  var phase = document.getElementById("job-phase");
  function poll() {
    fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) { window.setTimeout(poll, 3000); return; }
        if (s.percent !== null) { bar.value = s.percent; }
        if (s.rows_total) { rows.textContent = s.rows_done + " / " + s.rows_total; }
        phase.dataset.phase = s.phase;
        if (s.finished) { window.location.reload(); return; }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
