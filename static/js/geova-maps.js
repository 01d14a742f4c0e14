/* geova map layers, called by the folium elements of geova/web/maps.py.
 * Everything that comes from users or files (names, labels, descriptions, addresses) reaches the
 * page through textContent, never as HTML; this file holds no eval and no inline handler, so it
 * runs under the app's Content-Security-Policy. */
(function () {
  'use strict';
  var geova = window.geova = window.geova || {};

  /* On a small screen (a phone, 390 px) the map's controls start folded: expanded, the layer
   * control and the legend cover half the map. Leaflet's layer control folds itself when built
   * with collapsed: true, whatever the page asked for; its toggle (and a hover) unfolds it. */
  geova.smallScreen = function () {
    return !!(window.matchMedia && window.matchMedia('(max-width: 600px)').matches);
  };
  L.Control.Layers.addInitHook(function () {
    if (geova.smallScreen()) { this.options.collapsed = true; }
  });

  geova.text = function (value) {
    var s = document.createElement('span');
    s.textContent = value === null || value === undefined ? '' : String(value);
    return s;
  };

  geova.table = function (rows) {
    var t = document.createElement('table');
    t.className = 'geova-popup';
    rows.forEach(function (r) {
      if (r[1] === null || r[1] === undefined || r[1] === '') { return; }
      var tr = t.insertRow();
      var th = document.createElement('th');
      th.textContent = r[0];
      tr.appendChild(th);
      tr.insertCell().textContent = String(r[1]);
    });
    return t;
  };

  /* Only links into the app itself are followed (never a javascript: or another site's URL). */
  function sameOrigin(url) {
    if (!url) { return false; }
    try { return new URL(url, window.location.href).origin === window.location.origin; } catch (e) { return false; }
  }

  function announce(name, detail) {
    document.dispatchEvent(new CustomEvent(name, {detail: detail}));
  }

  /* Layers stack in the order the page creates them, not in the order their data arrives: each
   * polygon layer gets its own pane above the previous one (Leaflet's overlay pane is at 400), and
   * requests a pane above every polygon, so an outline loaded late never covers the markers. */
  var panes = 0;
  function pane(map, name, zIndex) {
    if (!map.getPane(name)) { map.createPane(name).style.zIndex = String(zIndex); }
    return name;
  }

  /* Polygons from a GeoJSON URL, styled by properties the server computed:
   * fill (colour), label (tooltip text), url (opened on click). */
  geova.remotePolygons = function (map, o) {
    panes += 1;
    var layer = L.geoJSON(null, {
      pane: pane(map, 'geova-polygons-' + panes, 400 + panes),
      style: function (f) {
        return {color: o.stroke, weight: o.weight, dashArray: o.dash, fillColor: f.properties.fill || o.fill,
                fillOpacity: o.fillOpacity};
      },
      onEachFeature: function (f, l) {
        if (f.properties.label) { l.bindTooltip(geova.text(f.properties.label), {sticky: true}); }
        if (sameOrigin(f.properties.url)) {
          l.on('click', function () { window.location.href = f.properties.url; });
        }
      }
    });
    if (o.show) { layer.addTo(map); }
    fetch(o.url, {credentials: 'same-origin'})
      .then(function (r) { return r.json(); })
      .then(function (data) {
        layer.addData(data);
        if (o.fit && layer.getLayers().length) { map.fitBounds(layer.getBounds(), {padding: [10, 10]}); }
        announce('geova:layer-loaded', {name: o.name, features: layer.getLayers().length});
      });
    return layer;
  };

  /* Requests of the current view, reloaded when the view moves. The server sends points
   * (properties i: id, s: state) or, when the view holds too many, grid clusters
   * (properties n: count, o: overdue count). Popups are fetched on click and built as text. */
  geova.remotePoints = function (map, o) {
    /* Clusters are neutral (blue) and red when they hold an overdue request: the default colours by
     * size would read as request states next to the legend. */
    var group = L.markerClusterGroup({
      chunkedLoading: true, showCoverageOnHover: false, maxClusterRadius: 45,
      iconCreateFunction: function (cluster) {
        var overdue = cluster.getAllChildMarkers().some(function (m) { return m.options.geovaState === 'open_overdue'; });
        var icon = L.divIcon({className: 'geova-grid' + (overdue ? ' has-overdue' : ''), iconSize: [36, 36],
                              html: String(cluster.getChildCount())});
        return icon;
      }
    });
    var points = pane(map, 'geova-points', 490);
    var grid = L.layerGroup();
    var wrapper = L.layerGroup([group, grid]);
    var pending = null;
    var shown = {};  // 'id|state' -> the marker on the map

    function popup(marker, id) {
      fetch(o.detailUrl.replace('{id}', id), {credentials: 'same-origin'})
        .then(function (r) { return r.json(); })
        .then(function (d) {
          var rows = o.fields.map(function (f) {
            return [f[1], f[0] === 'state' ? (o.labels[d.state] || d.state) : d[f[0]]];
          });
          var content = geova.table(rows);
          if (d.url && sameOrigin(d.url) && o.open) {
            var link = document.createElement('a');
            link.href = d.url;
            link.className = 'geova-popup-link';
            link.textContent = o.open;
            var box = document.createElement('div');
            box.appendChild(content);
            box.appendChild(link);
            content = box;
          }
          marker.bindPopup(content).openPopup();
        });
    }

    function gridMarker(ll, p) {
      var icon = L.divIcon({className: 'geova-grid' + (p.o ? ' has-overdue' : ''), iconSize: [36, 36]});
      var m = L.marker(ll, {icon: icon, title: String(p.n)});
      m.on('add', function () { var el = m.getElement(); if (el) { el.textContent = String(p.n); } });
      m.on('click', function () { map.setView(ll, map.getZoom() + 2); });
      return m;
    }

    function load() {
      var b = map.getBounds();
      var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(5); });
      var url = o.url + (o.url.indexOf('?') < 0 ? '?' : '&') + 'bbox=' + bbox.join(',') + '&zoom=' + map.getZoom();
      if (pending) { pending.abort(); }
      pending = new AbortController();
      fetch(url, {credentials: 'same-origin', signal: pending.signal})
        .then(function (r) { return r.json(); })
        .then(function (data) {
          /* Markers still in view are kept, not rebuilt: opening a popup near the edge pans the
           * map (autoPan), the pan reloads the points, and a marker removed and rebuilt here
           * would close the popup it had just opened. The marker whose popup is open stays. */
          grid.clearLayers();
          var kept = {}, added = [], dropped = [], count = 0;
          data.features.forEach(function (f) {
            var ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]], p = f.properties;
            if (p.n !== undefined) {
              grid.addLayer(gridMarker(ll, p));
              return;
            }
            var key = p.i + '|' + p.s;
            count += 1;
            if (shown[key]) { kept[key] = shown[key]; return; }
            /* bubblingMouseEvents: false: a click on a request opens its popup and is not also a
             * click on the map (which would move the report form's pin onto an existing request) */
            var c = L.circleMarker(ll, {radius: 6, weight: 1, color: '#333', fillColor: o.colours[p.s] || '#888',
                                        fillOpacity: 0.9, geovaState: p.s, pane: points,
                                        bubblingMouseEvents: false});
            c.geovaId = p.i;
            c.on('click', function () { popup(c, p.i); });
            kept[key] = c;
            added.push(c);
          });
          Object.keys(shown).forEach(function (key) {
            if (kept[key]) { return; }
            if (shown[key].isPopupOpen()) { kept[key] = shown[key]; } else { dropped.push(shown[key]); }
          });
          shown = kept;
          group.removeLayers(dropped);
          group.addLayers(added);
          announce('geova:points-loaded', {points: count, clusters: grid.getLayers().length,
                                           total: data.total});
        })
        .catch(function (e) { if (e.name !== 'AbortError') { console.warn('geova: points not loaded', e); } });
    }

    map.on('moveend', load);
    if (o.show) { wrapper.addTo(map); }
    map.whenReady(load);
    return wrapper;
  };

  /* A click on the map fills the report form's latitude and longitude fields. */
  geova.pickLocation = function (map, o) {
    var marker = null;
    map.on('click', function (e) {
      /* a click that landed on a marker, a popup or a control is not a place to report */
      var target = e.originalEvent && e.originalEvent.target;
      if (target && target.closest && target.closest('.leaflet-marker-icon, .leaflet-popup, .leaflet-control')) { return; }
      var lat = document.getElementById(o.lat), lon = document.getElementById(o.lon);
      if (!lat || !lon) { return; }
      lat.value = e.latlng.lat.toFixed(6);
      lon.value = e.latlng.lng.toFixed(6);
      if (marker) { marker.setLatLng(e.latlng); } else { marker = L.marker(e.latlng).addTo(map); }
      announce('geova:location-picked', {lat: lat.value, lon: lon.value});
    });
  };

  geova.legend = function (map, title, items) {
    var legend = L.control({position: 'bottomright'});
    legend.onAdd = function () {
      /* a <details>: folded on a small screen, its title unfolds it; a click on it is not a click
       * on the map (it would move the report pin) */
      var div = L.DomUtil.create('details', 'geova-legend');
      div.open = !geova.smallScreen();
      var t = document.createElement('summary');
      t.textContent = title;
      div.appendChild(t);
      items.forEach(function (it) {
        var row = document.createElement('div');
        var sw = document.createElement('i');
        sw.style.background = it[0];
        row.appendChild(sw);
        row.appendChild(document.createTextNode(it[1]));
        div.appendChild(row);
      });
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    legend.addTo(map);
    return legend;
  };
}());
