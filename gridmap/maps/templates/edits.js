{#- The planners' adjustments on proposal.html (issue 13): a compound's popup moves it wholly into a
    grid it may go to; the compound is redrawn in that grid's colour and the side panel's figures
    and change list follow at once; 撤销此项 undoes a change; 导出调整 downloads edits.csv (UTF-8 with
    BOM: compound_id, to_grid_id, note) and 导入调整 loads one back. Plain Leaflet and DOM, offline.
    The data is the JSON block #gm-edit-data (read with JSON.parse); every id, name and note
    reaches the page as text (textContent, value, setAttribute), never as HTML or script. #}
(function () {
  var gm = window.gridmap, block = document.getElementById('gm-edit-data');
  if (!gm || !block) { return; }
  var map = gm.map, layer = gm.layers[{{ layer|tojson }}];
  var D = JSON.parse(block.textContent);
  var G = D.grids, C = D.compounds, low = D.range[0], high = D.range[1];
  var load = G.hh.slice(), placed = {}, order = [], byK = {}, gridAt = {}, compAt = {};
  G.id.forEach(function (id, i) { if (id !== null) { gridAt[id] = i; } });
  C.id.forEach(function (id, k) { compAt[id] = k; });
  layer.eachLayer(function (l) { byK[l.feature.properties.k] = l; });
  var msg = document.getElementById('gm-edit-msg');
  var api = { placed: placed, load: load, lastMs: null };
  gm.edits = api;

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }
  function gridName(g) { return G.name[g] || G.id[g] || ''; }
  function gridLabel(g) { return G.name[g] && G.id[g] ? G.name[g] + '（' + G.id[g] + '）' : gridName(g); }
  function swatch(g) {
    var s = el('span', null, 'gm-swatch');
    s.style.background = G.colour[g]; s.style.borderColor = G.colour[g];
    return s;
  }
  function whole(v) { return v === null || v === undefined ? '—' : String(Math.round(v)); }
  function inRange(v) { return v === null || (Math.round(v) >= low && Math.round(v) <= high); }
  // Where compound k's households lie now: [[grid, households], …].
  function parts(k) {
    var p = placed[k], out = [], a = C.parts[k] || [], i;
    if (p) { return [[p.g, C.hh[k] || 0]]; }
    for (i = 0; i < a.length; i += 2) { out.push([a[i], a[i + 1]]); }
    return out;
  }
  function shift(k, sign) {
    parts(k).forEach(function (q) { if (load[q[0]] !== null) { load[q[0]] += sign * q[1]; } });
  }
  function current(k) { return placed[k] ? placed[k].g : C.home[k]; }
  function restyle(k) {
    var l = byK[k], p = placed[k];
    if (!l) { return; }
    if (p) {
      l.setStyle({ color: '#111', weight: 2.5, dashArray: '5 3', fillColor: G.colour[p.g], fillOpacity: 0.75 });
    } else {
      layer.resetStyle(l);
    }
  }
  // Put compound k in grid g (null: back where the proposal has it).
  function place(k, g, note, applied) {
    shift(k, -1);
    if (g === null) {
      delete placed[k];
      order = order.filter(function (x) { return x !== k; });
    } else {
      if (!placed[k]) { order.push(k); }
      placed[k] = { g: g, note: note || (placed[k] ? placed[k].note : ''), applied: !!applied };
    }
    shift(k, 1);
    restyle(k);
  }
  api.place = function (id, gridId) { place(compAt[id], gridId === null ? null : gridAt[gridId]); refresh(); };

  // The side panel: the figures of every grid a change touches, and the change list.
  function touched() {
    var seen = {}, list = [];
    order.forEach(function (k) {
      var gs = [placed[k].g], a = C.parts[k] || [], i;
      for (i = 0; i < a.length; i += 2) { gs.push(a[i]); }
      gs.forEach(function (g) { if (!seen[g]) { seen[g] = 1; list.push(g); } });
    });
    return list.sort(function (a, b) { return gridName(a) < gridName(b) ? -1 : gridName(a) > gridName(b) ? 1 : 0; });
  }
  function refresh() {
    var table = document.getElementById('gm-edit-grids'), list = document.getElementById('gm-edit-list');
    table.textContent = ''; list.textContent = '';
    var gs = touched();
    if (gs.length) {
      var head = el('tr');
      ['网格', '方案户数', '调整后', '户数范围 ' + low + '–' + high].forEach(function (t, i) {
        head.appendChild(el('th', t, i === 1 || i === 2 ? 'num' : null)); });
      table.appendChild(head);
      gs.forEach(function (g) {
        var tr = el('tr'), name = el('td');
        tr.setAttribute('data-grid', G.id[g] || '');
        name.appendChild(swatch(g)); name.appendChild(document.createTextNode(gridName(g)));
        tr.appendChild(name);
        tr.appendChild(el('td', whole(G.hh[g]), 'num'));
        tr.appendChild(el('td', whole(load[g]), 'num gm-now'));
        var ok = inRange(load[g]), emptied = load[g] !== null && Math.round(load[g]) === 0 && G.hh[g] > 0;
        tr.appendChild(emptied ? el('td', '无户，将并入相邻网格', 'k') :
          el('td', load[g] === null ? '户数不详' : ok ? '✓ 范围内' : '✗ 超出范围', ok ? 'gm-in' : 'gm-out'));
        table.appendChild(tr);
      });
    }
    if (!order.length) { list.appendChild(el('p', '尚无调整。', 'note')); }
    order.forEach(function (k) {
      var p = placed[k], item = el('div', null, 'gm-edit-item'), a = el('a', C.name[k] || C.id[k]);
      item.setAttribute('data-compound', C.id[k]);
      var l = byK[k];
      if (l) { var b = l.getBounds(); a.setAttribute('data-b', [b.getSouth(), b.getWest(), b.getNorth(), b.getEast()].join(',')); }
      item.appendChild(a);
      var from = C.home[k] >= 0 ? gridName(C.home[k]) : (C.prop[k] || '—');
      var what = (from === gridName(p.g) ? ' 保持在 ' : ' ' + from + ' → ') + gridName(p.g)
        + (C.hh[k] !== null ? ' · ' + whole(C.hh[k]) + ' 户' : '') + (p.applied ? '（方案已应用）' : '');
      item.appendChild(el('span', what, 'k'));
      item.appendChild(el('br'));
      var note = el('input');
      note.type = 'text'; note.placeholder = '备注 note'; note.value = p.note;
      note.addEventListener('input', function () { p.note = note.value; });
      item.appendChild(note);
      var undo = el('button', '撤销此项');
      undo.type = 'button';
      undo.addEventListener('click', function () { place(k, null); refresh(); map.closePopup(); });
      item.appendChild(undo);
      list.appendChild(item);
    });
  }

  // The popup of a compound: its households, grids now and proposed, and one button per grid.
  // The popup shows the new state in place: the map does not pan for it (a pan redraws every feature).
  function update(popup, k) {
    var pan = popup.options.autoPan;
    popup.options.autoPan = false;
    popup.setContent(popupFor(k, popup));
    popup.options.autoPan = pan;
  }
  function popupFor(k, popup) {
    var box = el('div', null, 'gm-edit-pop'), t = el('table');
    box.appendChild(el('strong', C.name[k] || C.id[k]));
    function row(label, value) { var tr = el('tr'); tr.appendChild(el('th', label)); tr.appendChild(el('td', value)); t.appendChild(tr); }
    row('小区编码', C.id[k]);
    row('户数', C.hh[k] === null ? '—' : whole(C.hh[k]));
    row('现网格', C.now[k] || '—');
    row('方案网格', C.home[k] >= 0 ? gridLabel(C.home[k]) : (C.prop[k] ? '跨 ' + C.prop[k] : '—'));
    if (placed[k]) { row('调整后', gridLabel(placed[k].g)); }
    box.appendChild(t);
    var cands = el('div', null, 'gm-cands');
    if (C.why[k] === 'crosses') { cands.appendChild(el('span', '小区跨社区，不能整体调入一个网格。', 'note')); }
    if (C.why[k] === 'outside') { cands.appendChild(el('span', '小区不在任何网格内。', 'note')); }
    var here = current(k), ordered = C.cand[k].filter(function (g) { return g === here; })
      .concat(C.cand[k].filter(function (g) { return g !== here; }));
    ordered.forEach(function (g) {
      if (g === here) {
        var cur = el('div', '当前所在：', 'gm-cur'); cur.appendChild(swatch(g));
        cur.appendChild(document.createTextNode(gridName(g))); cands.appendChild(cur);
        return;
      }
      var btn = el('button');
      btn.type = 'button'; btn.className = 'gm-move'; btn.setAttribute('data-grid', G.id[g]);
      btn.appendChild(swatch(g)); btn.appendChild(document.createTextNode('移入 ' + gridName(g)));
      btn.addEventListener('click', function (e) {
        var t0 = performance.now();
        L.DomEvent.stop(e);
        place(k, g === C.home[k] && !(placed[k] && placed[k].applied) ? null : g);
        refresh();
        update(popup, k);
        requestAnimationFrame(function () { requestAnimationFrame(function () { api.lastMs = performance.now() - t0; }); });
      });
      cands.appendChild(btn);
      if (G.lc[g]) { cands.appendChild(el('div', '（该网格在大小区内：调入后，大小区在其中的部分将另划网格）', 'gm-cur')); }
    });
    if (placed[k]) {
      var undo = el('button', '撤销此项');
      undo.type = 'button';
      undo.addEventListener('click', function (e) { L.DomEvent.stop(e); place(k, null); refresh(); update(popup, k); });
      cands.appendChild(undo);
    }
    box.appendChild(cands);
    return box;
  }
  layer.on('click', function (e) {
    var k = e.layer && e.layer.feature ? e.layer.feature.properties.k : null;
    if (k === null || k === undefined) { return; }
    var popup = L.popup({ maxWidth: 380, className: 'gm-edit-popup' }).setLatLng(e.latlng);
    popup.setContent(popupFor(k, popup)).openOn(map);
  });

  // edits.csv: UTF-8 with BOM, one row per compound placed.
  function cell(v) { v = String(v === null || v === undefined ? '' : v); return /[",\r\n]/.test(v) || /^\s|\s$/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v; }
  document.getElementById('gm-export').addEventListener('click', function () {
    var lines = ['compound_id,to_grid_id,note'];
    order.forEach(function (k) { lines.push([C.id[k], G.id[placed[k].g], placed[k].note].map(cell).join(',')); });
    var blob = new Blob(['\ufeff' + lines.join('\r\n') + '\r\n'], { type: 'text/csv;charset=utf-8' });
    var a = document.createElement('a');
    a.href = URL.createObjectURL(blob); a.download = 'edits.csv';
    document.body.appendChild(a); a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 0);
    msg.textContent = '已导出 ' + order.length + ' 项调整（edits.csv）。';
  });
  function parseCsv(text) {
    var rows = [], row = [], f = '', q = false, i, ch;
    text = text.replace(/^\ufeff/, '');
    for (i = 0; i < text.length; i++) {
      ch = text[i];
      if (q) {
        if (ch === '"') { if (text[i + 1] === '"') { f += '"'; i++; } else { q = false; } } else { f += ch; }
      } else if (ch === '"') { q = true; }
      else if (ch === ',') { row.push(f); f = ''; }
      else if (ch === '\n' || ch === '\r') {
        if (ch === '\r' && text[i + 1] === '\n') { i++; }
        row.push(f); f = ''; rows.push(row); row = [];
      } else { f += ch; }
    }
    if (f !== '' || row.length) { row.push(f); rows.push(row); }
    return rows.filter(function (r) { return r.some(function (v) { return v.trim() !== ''; }); });
  }
  function load_(text) {
    var rows = parseCsv(text), head = (rows.shift() || []).map(function (h) { return h.trim().toLowerCase(); });
    var ci = head.indexOf('compound_id'), gi = head.indexOf('to_grid_id'), ni = head.indexOf('note');
    if (ci < 0 || gi < 0) { msg.textContent = '无法导入：文件没有 compound_id 和 to_grid_id 列。'; return; }
    order.slice().forEach(function (k) { place(k, null); });
    var done = 0, bad = [];
    rows.forEach(function (r) {
      var id = (r[ci] || '').trim(), to = (r[gi] || '').trim(), k = compAt[id], g = gridAt[to];
      if (k === undefined) { bad.push('小区 ' + id + ' 不在本图'); return; }
      if (g === undefined) { bad.push('网格 ' + to + ' 不在方案中'); return; }
      if (C.cand[k].indexOf(g) < 0) { bad.push('小区 ' + id + ' 不能调入网格 ' + to); return; }
      place(k, g, ni >= 0 ? r[ni] || '' : '', false); done++;
    });
    refresh();
    msg.textContent = '已导入 ' + done + ' 项调整' + (bad.length ? '；未导入 ' + bad.length + ' 项：' + bad.slice(0, 8).join('；') : '') + '。';
  }
  document.getElementById('gm-import').addEventListener('change', function () {
    var file = this.files && this.files[0], input = this;
    if (!file) { return; }
    file.arrayBuffer().then(function (buf) {
      var text;
      try { text = new TextDecoder('utf-8', { fatal: true }).decode(buf); }
      catch (err) { text = new TextDecoder('gb18030').decode(buf); }
      load_(text);
      input.value = '';
    });
  });
  (D.applied || []).forEach(function (a) { place(a[0], a[1], a[2], true); });
  refresh();
})();
