function gmFC(g, c, d) {
  var k = Object.keys(c), f = new Array(g.length), i, j;
  Object.keys(d).forEach(function (n) { c[n] = c[n].map(function (v) { return v < 0 ? null : d[n][v]; }); });
  for (i = 0; i < g.length; i++) { var p = {}; for (j = 0; j < k.length; j++) { p[k[j]] = c[k[j]][i]; }
    f[i] = {type: 'Feature', geometry: g[i], properties: p}; }
  return {type: 'FeatureCollection', features: f}; }
