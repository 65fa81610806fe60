"""What the pages are made of, read from package data: Leaflet from the pinned ``xstatic-leaflet``
wheel (Leaflet 1.9.3, the version folium targets), with its CSS and images as data: URIs; gridmap's
own CSS and scripts (``gridmap/maps/static``) and the Jinja templates of the side panels, legends and
controls (``gridmap/maps/templates``)."""

from __future__ import annotations

import base64
import functools
import json
import re
from importlib import resources
from pathlib import Path

import jinja2
from markupsafe import Markup
from xstatic.pkg import leaflet as xleaflet

from gridmap.errors import GridmapError
from gridmap.maps.safety import escape


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


@functools.lru_cache(maxsize=None)
def static_text(name: str) -> str:
    """A file of ``gridmap/maps/static`` (page.css, gmfc.js), as it is."""
    return resources.files("gridmap.maps").joinpath("static", name).read_text(encoding="utf-8")


def _escaped(value):
    """Every text a template prints goes through :func:`escape` (``$``, backticks and braces as
    entities too), unless it is already :class:`~markupsafe.Markup`; None prints as nothing."""
    if value is None:
        return ""
    if isinstance(value, str) and not isinstance(value, Markup):
        return Markup(escape(value))
    return value


@functools.lru_cache(maxsize=1)
def templates() -> jinja2.Environment:
    """gridmap's own Jinja environment for the page templates, compiled once per process.

    HTML templates are autoescaped, and every printed text goes through gridmap's :func:`escape`
    first (``finalize``), so a value is marked :class:`~markupsafe.Markup` only where it was built
    from escaped parts (a layer's fields, a rendered macro). Scripts (``*.js``) take their values
    through ``tojson``, which writes compact JSON with Chinese kept as UTF-8 and ``< > & '`` as
    ``\\u`` escapes, safe inside ``<script>``. This is the environment's own JSON policy: folium's
    environment, shared by every folium user in the process, is left as it is.
    """
    env = jinja2.Environment(loader=jinja2.PackageLoader("gridmap.maps", "templates"),
                             autoescape=jinja2.select_autoescape(("html", "svg")), finalize=_escaped,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False, "separators": (",", ":")}
    return env


def render(template: str, **values) -> Markup:
    """A template of ``gridmap/maps/templates`` rendered: HTML built from escaped parts."""
    return Markup(templates().get_template(template).render(**values))
