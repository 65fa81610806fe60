"""Package data the pages inline: Leaflet from the pinned ``xstatic-leaflet`` wheel (Leaflet 1.9.3,
the version folium targets), its CSS and images as data: URIs."""

from __future__ import annotations

import base64
import functools
import json
import re
from pathlib import Path

from xstatic.pkg import leaflet as xleaflet

from gridmap.errors import GridmapError


@functools.lru_cache(maxsize=1)
def leaflet_assets() -> str:
    """Leaflet's CSS and JS with its images as data: URIs, from the xstatic-leaflet wheel."""
    base = Path(xleaflet.BASE_DIR)
    css = (base / "leaflet.css").read_text(encoding="utf-8")
    images = {p.name: "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode("ascii")
              for p in (base / "images").glob("*.png")}
    css = re.sub(r"url\((['\"]?)images/([\w.-]+\.png)\1\)",
                 lambda m: f'url("{images[m.group(2)]}")', css)
    js = (base / "leaflet.js").read_text(encoding="utf-8")
    js = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", js)
    if "</script" in js.lower():
        raise GridmapError("The bundled leaflet.js contains '</script' and cannot be inlined.")
    # Markers find their images by a CSS path trick that data: URIs defeat: point them directly.
    icons = (f"L.Icon.Default.imagePath='';L.Icon.Default.mergeOptions({{"
             f"iconUrl:{json.dumps(images['marker-icon.png'])},"
             f"iconRetinaUrl:{json.dumps(images['marker-icon-2x.png'])},"
             f"shadowUrl:{json.dumps(images['marker-shadow.png'])}}});")
    return (f"<style>/* Leaflet {xleaflet.VERSION}, BSD-2-Clause, (c) Vladimir Agafonkin, "
            f"CloudMade */\n{css}</style>\n<script>{js}\n{icons}</script>\n")
