/* Field surveys: the transects on a small map, and on the surveyor's page an outbox of graded
 * transects kept in localStorage until the server has acknowledged each one.
 *
 * Every entry gets its id here (a UUID) when the surveyor saves it; the server stores an id once,
 * so sending again after a lost answer, a reload or a dropped network never duplicates an entry.
 * Entries are sent as JSON with the page's CSRF token in the X-CSRFToken header.
 */
(function () {
  "use strict";
  var dataNode = document.getElementById("survey-data");
  if (!dataNode) { return; }
  var data = JSON.parse(dataNode.textContent);
  var statusNode = document.getElementById("survey-status");
  var forms = document.querySelectorAll("form.grade-form");

  function colour(t) {
    if (t.below === true) { return "#c62828"; }
    if (t.below === false || (t.below === undefined && t.grades)) { return "#2e7d32"; }
    return "#757575";
  }

  var markers = {};
  function drawMap() {
    var node = document.getElementById("survey-map");
    if (!node || typeof L === "undefined" || !data.transects.length) { return; }
    var map = L.map(node, { scrollWheelZoom: false });
    if (data.tiles && String(data.tiles).toLowerCase() !== "none") {
      L.tileLayer(data.tiles, { attribution: data.attribution || "", maxZoom: 19 }).addTo(map);
    }
    var bounds = [];
    data.transects.forEach(function (t) {
      var m = L.circleMarker([t.lat, t.lon], { radius: 7, color: colour(t), fillOpacity: 0.8 });
      var label = String(t.position) + " · " + (t.quarter_name || t.quarter) + " · " + (t.zone_name || t.zone_kind);
      if (t.below === true) { label += " · " + data.text.below; }
      else if (t.below === false) { label += " · " + data.text.ok; }
      else if (t.below === null && data.text.none) { label += " · " + data.text.none; }
      var text = document.createElement("span");
      text.textContent = label; /* names come from files: text, never HTML (a string would be HTML) */
      m.bindTooltip(text);
      m.on("click", function () {
        var item = document.querySelector('#transects li[data-position="' + t.position + '"] details');
        if (item) { item.open = true; item.scrollIntoView({ block: "start" }); }
      });
      m.addTo(map);
      markers[t.position] = m;
      bounds.push([t.lat, t.lon]);
    });
    map.fitBounds(bounds, { padding: [12, 12], maxZoom: 17 });
  }

  drawMap();
  if (!forms.length) { return; }

  /* ---- the outbox ---- */
  var KEY = "geova-survey-outbox:" + data.campaign;
  var sending = false;

  function load() {
    try { return JSON.parse(localStorage.getItem(KEY) || "[]"); } catch (e) { return []; }
  }
  function save(box) { localStorage.setItem(KEY, JSON.stringify(box)); }

  function uuid() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function say(text) { if (statusNode) { statusNode.textContent = text; } }

  function showState() {
    var n = load().length;
    document.body.dataset.pending = String(n);
    if (n) {
      say((navigator.onLine ? "" : data.text.offline + " ") + data.text.pending.replace("{n}", n));
    } else {
      say(data.text.sent);
    }
  }

  function mark(position, text) {
    var node = document.querySelector('#transects li[data-position="' + position + '"] .state');
    if (node) { node.textContent = text; }
    if (markers[position]) { markers[position].setStyle({ color: "#2e7d32" }); }
  }

  function token() {
    return (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  }

  function refreshToken() {
    /* the page's CSRF token expires (an hour by default): a survey offline for longer gets a new one */
    return fetch(data.token, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (body && body.csrf_token) {
          document.querySelector('meta[name="csrf-token"]').content = body.csrf_token;
          return true;
        }
        return false;
      })
      .catch(function () { return false; });
  }

  function send(entry) {
    return fetch(data.post, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": token() },
      body: JSON.stringify(entry)
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (body) {
        return { response: response, body: body };
      });
    });
  }

  function flush(retried) {
    if (sending) { return Promise.resolve(); }
    var box = load();
    if (!box.length) { showState(); return Promise.resolve(); }
    sending = true;
    var entry = box[0];
    return send(entry).then(function (answer) {
      var response = answer.response, body = answer.body;
      if (response.ok && body && body.entry_id === entry.entry_id) {
        save(load().filter(function (e) { return e.entry_id !== entry.entry_id; }));
        mark(entry.position, data.text.graded);
        return "next";
      }
      if (body && body.error && [400, 404, 413].indexOf(response.status) >= 0) {
        /* refused for good (a bad grade, a campaign gone): say why and drop it */
        save(load().filter(function (e) { return e.entry_id !== entry.entry_id; }));
        say(data.text.refused.replace("{reason}", String(body.error)));
        return "next";
      }
      if (response.status === 400 && !retried) {
        return refreshToken().then(function (ok) { return ok ? "retry" : "stop"; });
      }
      if (response.redirected || response.status === 401 || response.status === 403) {
        return "login"; /* logged out: the entries wait on this device */
      }
      return "stop"; /* busy store: keep it and try again later */
    }).catch(function () {
      return "stop"; /* no network: keep it */
    }).then(function (what) {
      sending = false;
      showState();
      if (what === "login") { say(data.text.login); }
      if (what === "next") { return flush(false); }
      if (what === "retry") { return flush(true); }
    });
  }

  function readPhoto(input) {
    var file = input && input.files && input.files[0];
    if (!file) { return Promise.resolve(null); }
    if (file.size > 2 * 1024 * 1024) { return Promise.reject(new Error(data.text.photo_too_big)); }
    return new Promise(function (resolve, reject) {
      var reader = new FileReader();
      reader.onload = function () {
        var url = String(reader.result);
        resolve({ type: file.type, data: url.slice(url.indexOf(",") + 1) });
      };
      reader.onerror = function () { reject(reader.error); };
      reader.readAsDataURL(file);
    });
  }

  Array.prototype.forEach.call(forms, function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var grades = {};
      data.elements.forEach(function (e) {
        var checked = form.querySelector('input[name="' + e.code + '"]:checked');
        if (checked) { grades[e.code] = checked.value; }
      });
      if (!Object.keys(grades).length) { return; }
      readPhoto(form.querySelector('input[name="photo"]')).then(function (photo) {
        var entry = {
          entry_id: uuid(),
          position: Number(form.dataset.position),
          grades: grades,
          note: form.querySelector('textarea[name="note"]').value || null,
          graded_at: new Date().toISOString()
        };
        if (photo) { entry.photo = photo; }
        var box = load();
        box.push(entry);
        save(box);
        mark(entry.position, data.text.saved);
        var details = form.closest("details");
        if (details) { details.open = false; }
        showState();
        return flush(false);
      }).catch(function (error) { say(String(error.message || error)); });
    });
  });

  load().forEach(function (e) { mark(e.position, data.text.saved); }); /* kept from an earlier visit */
  window.addEventListener("online", function () { flush(false); });
  window.addEventListener("offline", showState);
  setInterval(function () { flush(false); }, 15000);
  showState();
  flush(false);
}());
