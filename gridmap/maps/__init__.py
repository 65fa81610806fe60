"""Offline HTML maps for community workers and planners (DESIGN §7, issue 5).

``make_maps`` writes ``index.html`` (the whole area), one page per community (or, without
communities, per section of a few dozen neighbouring grids) and, given an alignment proposal,
``proposal.html``. Pages are folium maps made self-contained: Leaflet, its CSS and images are
inlined from the pinned ``xstatic-leaflet`` wheel (Leaflet 1.9.3, the version folium targets);
folium's CDN defaults (jQuery, Bootstrap, awesome-markers) are dropped, and the fullscreen, search
and legend controls are small plain-Leaflet controls written here. ``assert_offline`` refuses a
page that would still load anything from the network. Basemap tiles are the one exception: they
are images requested at run time, and without a network they fail quietly while the vector
layers still draw over a plain background.

Every attribute value is HTML-escaped (and ``$`` and backticks too, since folium pastes tooltip
and popup text into JavaScript template literals) before it reaches the page. Personal data
(member names, phones, ID numbers) is never read into a page: only ids, counts and the names of
places and organisational units are shown, and central households by kind only.

The modules, from the data to the page:

- ``safety``: ``escape`` and ``assert_offline``;
- ``assets``: Leaflet inlined from the xstatic-leaflet wheel;
- ``layers``: :class:`Layer` (display geometries, escaped fields) and one builder per kind of feature;
- ``context``: the pages (communities or sections) and every layer with the page of each feature;
- ``elements``: the folium map, basemaps, GeoJSON layers and the page's own Leaflet controls;
- ``panels``: legends, symbols and the table of situations;
- ``pages``: ``index.html`` and the community pages; ``proposal``: the planners' ``proposal.html``;
- ``make``: :func:`make_maps`, which writes them all.
"""

from gridmap.maps.assets import leaflet_assets
from gridmap.maps.context import SECTION_GRIDS, Page, split_sections
from gridmap.maps.layers import DECIMALS, INDEX_SIMPLIFY, Layer, display_geometries
from gridmap.maps.make import BASEMAPS, make_maps
from gridmap.maps.safety import assert_offline, escape, escape_series, network_references

__all__ = ["BASEMAPS", "DECIMALS", "INDEX_SIMPLIFY", "Layer", "Page", "SECTION_GRIDS", "assert_offline",
           "display_geometries", "escape", "escape_series", "leaflet_assets", "make_maps", "network_references",
           "split_sections"]
