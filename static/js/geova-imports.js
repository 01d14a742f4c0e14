// The import job's page: poll its JSON state, move the progress bar, reload once there is something
// new to show (the preview once the dry run is done; the counts, the error or the rejects file once
// the import is finished). Without JavaScript the page refreshes itself (<noscript> meta refresh).
(function () {
  "use strict";
  var box = document.getElementById("job");
  if (!box) { return; }
  var bar = document.getElementById("job-progress");
  var rows = document.getElementById("job-rows");
  var phase = document.getElementById("job-phase");
  var wait = 300;  // a small file's preview is often ready at the first poll
  function poll() {
    fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) { window.setTimeout(poll, 3000); return; }
        if (s.percent !== null) { bar.value = s.percent; }
        if (s.rows_total) { rows.textContent = s.rows_done + " / " + s.rows_total; }
        phase.dataset.phase = s.phase;
        if (s.ready) { window.location.reload(); return; }
        wait = Math.min(1000, wait * 2);
        window.setTimeout(poll, wait);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, wait);
})();
