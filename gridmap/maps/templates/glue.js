{#- The page's script: window.gridmap (the map and its layers), side-panel links that fit the map to
    their data-b bounds, and the fullscreen, side-panel, search and legend controls, in plain Leaflet
    (no plugin files). Strings reach the script only through tojson. #}
(function () {
  var map = {{ map_name }};
  var layers = { {%- for k, v in layers.items() %}{{ k|tojson }}: {{ v }},{% endfor %} };
  window.gridmap = { map: map, layers: layers };
  function decode(s) { var t = document.createElement('textarea'); t.innerHTML = s || ''; return t.value; }
  function fit(b) { map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { maxZoom: 18, padding: [24, 24] }); }
  document.addEventListener('click', function (ev) {
    var a = ev.target.closest && ev.target.closest('a[data-b]');
    if (!a) { return; }
    ev.preventDefault();
    fit(a.getAttribute('data-b').split(',').map(Number));
  });
  {%- if attribution %}
  map.attributionControl.addAttribution({{ attribution|tojson }});
  {%- endif %}
  var Full = L.Control.extend({ options: { position: 'topleft' }, onAdd: function () {
    var bar = L.DomUtil.create('div', 'leaflet-bar');
    var a = L.DomUtil.create('a', 'gm-btn gm-full', bar);
    a.href = '#'; a.title = '全屏 / fullscreen'; a.setAttribute('role', 'button'); a.innerHTML = '<svg width="16" height="16" viewBox="0 0 16 16" style="vertical-align:middle"><path d="M1 6V1h5M10 1h5v5M15 10v5h-5M6 15H1v-5" fill="none" stroke="#222" stroke-width="2"/></svg>';
    L.DomEvent.on(a, 'click', function (e) {
      L.DomEvent.preventDefault(e);
      var el = map.getContainer();
      if (document.fullscreenElement) { document.exitFullscreen(); }
      else if (el.requestFullscreen) { el.requestFullscreen(); }
    });
    L.DomEvent.disableClickPropagation(bar);
    return bar; } });
  document.addEventListener('fullscreenchange', function () { map.invalidateSize(); });
  new Full().addTo(map);
  L.control.scale({ imperial: false, maxWidth: 150 }).addTo(map);
  {%- if side %}
  var Side = L.Control.extend({ options: { position: 'topleft' }, onAdd: function () {
    var bar = L.DomUtil.create('div', 'leaflet-bar');
    var a = L.DomUtil.create('a', 'gm-btn gm-side-toggle', bar);
    a.href = '#'; a.title = '侧栏 / side panel'; a.setAttribute('role', 'button'); a.textContent = '\u2630';
    L.DomEvent.on(a, 'click', function (e) {
      L.DomEvent.preventDefault(e);
      document.body.classList.toggle('gm-noside'); map.invalidateSize();
    });
    L.DomEvent.disableClickPropagation(bar);
    return bar; } });
  new Side().addTo(map);
  {%- endif %}
  {%- if search %}
  var target = layers[{{ search|tojson }}];
  var Search = L.Control.extend({ options: { position: 'topleft' }, onAdd: function () {
    var box = L.DomUtil.create('div', 'leaflet-bar gm-search');
    var input = L.DomUtil.create('input', '', box);
    input.type = 'search'; input.placeholder = '搜索小区 search';
    input.setAttribute('list', 'gm-names'); input.setAttribute('aria-label', '搜索小区');
    var list = L.DomUtil.create('datalist', '', box); list.id = 'gm-names';
    var names = {};
    target.eachLayer(function (l) { l._gmName = decode(l.feature.properties.n); names[l._gmName] = 1; });
    Object.keys(names).sort().forEach(function (n) {
      var o = document.createElement('option'); o.value = n; list.appendChild(o); });
    function go() {
      var q = input.value.trim(); if (!q) { return; }
      var hits = [];
      target.eachLayer(function (l) { if (l._gmName === q) { hits.push(l); } });
      if (!hits.length) { target.eachLayer(function (l) { if (l._gmName.indexOf(q) >= 0) { hits.push(l); } }); }
      box.classList.toggle('gm-miss', !hits.length);
      if (!hits.length) { return; }
      if (!map.hasLayer(target)) { map.addLayer(target); }
      var b = L.latLngBounds([]);
      hits.forEach(function (l) { b.extend(l.getBounds ? l.getBounds() : l.getLatLng()); });
      map.fitBounds(b, { maxZoom: 18, padding: [30, 30] });
      if (hits.length === 1) {
        var at = hits[0].getBounds ? hits[0].getBounds().getCenter() : hits[0].getLatLng();
        hits[0].fire('click', { latlng: at }, true);
      }
    }
    input.addEventListener('change', go);
    input.addEventListener('keydown', function (e) { if (e.key === 'Enter') { go(); } });
    L.DomEvent.disableClickPropagation(box); L.DomEvent.disableScrollPropagation(box);
    return box; } });
  new Search().addTo(map);
  {%- endif %}
  {%- if legend %}
  var Legend = L.Control.extend({ options: { position: 'bottomright' }, onAdd: function () {
    var div = L.DomUtil.create('div', 'gm-legend');
    div.innerHTML = {{ legend|tojson }};
    L.DomEvent.disableClickPropagation(div); L.DomEvent.disableScrollPropagation(div);
    return div; } });
  new Legend().addTo(map);
  {%- endif %}
})();
