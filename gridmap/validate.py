"""Validation of boundary layers: ids, geometry types, repairs, overlaps and gaps.

``inspect_layer`` lists every problem without stopping (for ``gridmap check``); ``clean_layer``
repairs what can be repaired, warns about it, and raises on what cannot (for the other commands).
"""

from __future__ import annotations

import logging
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.errors import (DroppedGeometryWarning, GapWarning, GridmapError, OverlapWarning,
                            RepairWarning)
from gridmap.io import id_strings, metric_crs
from gridmap.io.crs import coordinate_problem
from gridmap.i18n import N_, _
from gridmap.vocab import NO_GEOMETRY

log = logging.getLogger(__name__)

ISSUE_COLUMNS = ["layer", "feature_id", "severity", "issue", "detail", "area_m2"]
#: Overlaps and gaps smaller than this (m²) are numerical noise of shared edges, not findings.
MIN_FINDING_M2 = 1.0
#: Layer kinds that may hold points as well as polygons, and kinds that may hold anything.
POINTS_OR_POLYGONS = ("buildings",)
ANY_GEOMETRY = ("features",)
_LISTED = 10
#: What each kind of layer is called in messages.
LAYER_KINDS = {"compounds": N_("compounds"), "grids": N_("grids"), "buildings": N_("buildings"),
               "features": N_("features")}
#: The ``issue`` codes of check.csv (English, for scripts) as people read them.
ISSUES = {"empty layer": N_("empty layer"), "null id": N_("null id"), "duplicate id": N_("duplicate id"),
          "null or empty geometry": N_("null or empty geometry"), "not polygons": N_("not polygons"),
          "invalid geometry": N_("invalid geometry"), "no area": N_("no area"),
          "geometry collection": N_("geometry collection"), "compounds overlap": N_("compounds overlap"),
          "grids overlap": N_("grids overlap"), "buildings overlap": N_("buildings overlap"),
          "features overlap": N_("features overlap"), "gap between grids": N_("gap between grids"),
          "coordinates do not fit the CRS": N_("coordinates do not fit the CRS")}
#: Severities of check.csv (codes) as people read them.
SEVERITIES = {"error": N_("error"), "repaired": N_("repaired"), "dropped": N_("dropped"), "warning": N_("warning")}


def kind_name(kind: str) -> str:
    """A layer kind (``compounds``) as messages say it, in the user's language."""
    return _(LAYER_KINDS[kind]) if kind in LAYER_KINDS else str(kind)


def issue_label(issue: str) -> str:
    """An issue code of check.csv as people read it, in the user's language."""
    return _(ISSUES[issue]) if issue in ISSUES else str(issue)


def finding_text(issue: str, detail: str, feature=None) -> str:
    """A finding as one clause of a message: issue, detail and (when known) the features."""
    if feature:
        return _("{issue}: {detail} ({features})").format(issue=issue_label(issue), detail=detail, features=feature)
    return _("{issue}: {detail}").format(issue=issue_label(issue), detail=detail)


def severity_label(severity: str) -> str:
    """A severity of check.csv as people read it, in the user's language."""
    return _(SEVERITIES[severity]) if severity in SEVERITIES else str(severity)


def inspect_layer(gdf: gpd.GeoDataFrame, id_field: str | None, kind: str, *, keep_unusable: bool = False
                  ) -> tuple[gpd.GeoDataFrame | None, pd.DataFrame]:
    """Check a polygon layer and repair what can be repaired.

    Parameters
    ----------
    gdf : GeoDataFrame
        The layer as read.
    id_field : str or None
        Column of feature ids; None when the layer has none (features are then named by number).
    kind : str
        What the layer holds ("compounds", "grids", …), for messages.

    Returns
    -------
    cleaned : GeoDataFrame or None
        Repaired polygons with null or empty geometries dropped, ``None`` when an error stops use.
        With ``keep_unusable``, every row is kept: those without a usable geometry (null, empty, no
        area after repair) get geometry None and the reason in ``attrs["geometry_issue"]`` (a
        Series indexed like the layer, None for usable rows).
    issues : DataFrame
        One row per finding, columns ``ISSUE_COLUMNS``; severity is ``error``, ``repaired``,
        ``dropped`` or ``warning``.
    """
    source = gdf.attrs.get("source", kind)
    rows: list[dict] = []

    def add(feature, severity, issue, detail="", area=np.nan):
        rows.append(dict(layer=source, feature_id=feature, severity=severity, issue=issue,
                         detail=detail, area_m2=area))

    if len(gdf) == 0:
        add("", "error", "empty layer", _("the {kind} layer has no features").format(kind=kind_name(kind)))
        return None, _frame(rows)

    labels = _labels(gdf, id_field)
    if id_field is not None:
        ids = id_strings(gdf[id_field])
        null = ids.isna() | (ids == "")
        if null.any():
            add(_sample(labels[null.to_numpy()]), "error", "null id",
                _("{count} features have no {field}").format(count=null.sum(), field=id_field))
        dup = ids[~null & ids.duplicated(keep=False)]
        if len(dup):
            add(_sample(pd.unique(dup)), "error", "duplicate id",
                _("{count} values of {field} are used more than once").format(count=dup.nunique(), field=id_field))

    geoms = gdf.geometry.to_numpy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    kept_note = _("; kept in every table with situation {code}").format(code=NO_GEOMETRY) if keep_unusable else ""
    null = shapely.is_missing(geoms)
    for label, is_null in zip(labels[missing], null[missing]):
        add(label, "dropped", "null or empty geometry", (_("null geometry") if is_null else _("empty geometry"))
            + kept_note)

    types = shapely.get_type_id(geoms)
    polygonal = np.isin(types, (3, 6))
    collection = (types == 7) & (kind not in ANY_GEOMETRY)
    allowed = polygonal | np.isin(types, (0, 4)) if kind in POINTS_OR_POLYGONS else polygonal
    wrong = ~missing & ~allowed & ~collection & (kind not in ANY_GEOMETRY)
    if wrong.any():
        kinds = pd.Series(_type_names(geoms[wrong])).value_counts()
        add(_sample(labels[wrong]), "error", "not polygons",
            _("{kind} must be polygons; {count} features are {types}").format(
                kind=kind_name(kind), count=wrong.sum(), types=", ".join(f"{n} {t}" for t, n in kinds.items())))

    invalid = ~missing & polygonal & ~shapely.is_valid(geoms)
    reasons = shapely.is_valid_reason(geoms[invalid])
    for label, reason in zip(labels[invalid], reasons):
        add(label, "repaired", "invalid geometry", _("{reason}; repaired with make_valid").format(reason=reason))

    if any(r["severity"] == "error" for r in rows):
        return None, _frame(rows)

    fixed = geoms.copy()
    fixed[invalid | collection] = polygonal_part(shapely.make_valid(geoms[invalid | collection]))
    collapsed = ~missing & shapely.is_empty(fixed)
    for label in labels[collapsed & ~missing]:
        add(label, "dropped", "no area", _("the geometry has no polygonal part") + kept_note)
    for label in labels[collection & ~collapsed]:
        add(label, "repaired", "geometry collection", _("kept its polygons"))

    keep = ~missing & ~collapsed
    if not keep.any():
        add("", "error", "empty layer", _("the {kind} layer has no usable polygons").format(kind=kind_name(kind)))
        return None, _frame(rows)
    if keep_unusable:
        reasons = np.full(len(gdf), None, dtype=object)
        reasons[missing & null] = "null geometry"
        reasons[missing & ~null] = "empty geometry"
        reasons[collapsed & ~missing] = "no area after repair"
        fixed = fixed.copy()
        fixed[~keep] = None
        cleaned = gdf.copy()
        cleaned = cleaned.set_geometry(gpd.GeoSeries(fixed, index=cleaned.index, crs=gdf.crs))
        cleaned.attrs.update(gdf.attrs)
        cleaned.attrs["geometry_issue"] = pd.Series(reasons, index=gdf.index, dtype=object)
        return cleaned, _frame(rows)
    cleaned = gdf.loc[keep].copy()
    cleaned = cleaned.set_geometry(gpd.GeoSeries(fixed[keep], index=cleaned.index, crs=gdf.crs))
    cleaned.attrs.update(gdf.attrs)
    return cleaned, _frame(rows)


def clean_layer(gdf: gpd.GeoDataFrame, id_field: str | None, kind: str, *,
                keep_unusable: bool = False) -> gpd.GeoDataFrame:
    """Repair a layer for use, warning about repairs and drops.

    With ``keep_unusable`` (classify), features without a usable geometry keep their rows with
    geometry None and their reason in ``attrs["geometry_issue"]`` (see :func:`inspect_layer`).

    Raises
    ------
    GridmapError
        Empty layer, null or duplicate ids, non-polygon features.
    """
    cleaned, issues = inspect_layer(gdf, id_field, kind, keep_unusable=keep_unusable)
    errors = issues[issues.severity == "error"]
    if len(errors):
        source = gdf.attrs.get("source", kind)
        lines = [finding_text(r.issue, r.detail, r.feature_id) for r in errors.itertuples()]
        raise GridmapError(_("{source}: {problems}. Fix the layer (gridmap check lists every problem) and run "
                             "again.").format(source=source, problems=_("; ").join(lines)))
    repaired = issues[issues.severity == "repaired"]
    if len(repaired):
        warnings.warn(_("{source}: repaired {count} invalid geometries with make_valid ({features})").format(
            source=gdf.attrs.get("source", kind), count=len(repaired), features=_sample(repaired.feature_id.to_numpy())),
            RepairWarning, stacklevel=2)
    dropped = issues[issues.severity == "dropped"]
    if len(dropped) and keep_unusable:
        warnings.warn(_("{source}: dropped {count} features from the measurements: no geometry or no area "
                        "({features}); they stay in every table with situation {code}").format(
            source=gdf.attrs.get("source", kind), count=len(dropped), features=_sample(dropped.feature_id.to_numpy()),
            code=NO_GEOMETRY), DroppedGeometryWarning, stacklevel=2)
    elif len(dropped):
        warnings.warn(_("{source}: dropped {count} features with no geometry or no area ({features})").format(
            source=gdf.attrs.get("source", kind), count=len(dropped), features=_sample(dropped.feature_id.to_numpy())),
            DroppedGeometryWarning, stacklevel=2)
    return cleaned


def usable_only(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The rows whose geometry is usable: not null or empty, and with an area once repaired.

    For work that needs every geometry (alignment): the rows left out keep situation
    ``no_geometry`` in classify's tables. Rows of other geometry types stay, so that the checks
    that refuse them still run.
    """
    geoms = np.asarray(gdf.geometry.to_numpy(), dtype=object)
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6)) & ~bad
    invalid = polygonal & ~shapely.is_valid(geoms)
    if invalid.any():
        fixed = polygonal_part(shapely.make_valid(geoms[invalid]))
        bad[np.flatnonzero(invalid)[shapely.is_empty(fixed)]] = True
    if not bad.any():
        return gdf
    out = gdf.loc[~bad]
    out.attrs.update(gdf.attrs)
    log.info("%s: %d features without a usable geometry left out", gdf.attrs.get("source", "a layer"), bad.sum())
    return out


def polygonal_part(geoms: np.ndarray) -> np.ndarray:
    """Keep the polygons of each geometry (make_valid may add lines and points); empty if none."""
    geoms = np.asarray(geoms, dtype=object)
    out = np.array([shapely.Polygon()] * len(geoms), dtype=object)
    if not len(geoms):
        return out
    parts, index = shapely.get_parts(geoms, return_index=True)
    # Collections may nest: flatten twice (make_valid yields at most GeometryCollection of Multi*).
    parts2, index2 = shapely.get_parts(parts, return_index=True)
    index2 = index[index2]
    keep = shapely.get_type_id(parts2) == 3
    if not keep.any():
        return out
    # multipolygons() wants consecutive indices: renumber the geometries that have polygons.
    present, consecutive = np.unique(index2[keep], return_inverse=True)
    merged = shapely.multipolygons(parts2[keep], indices=consecutive)
    single = shapely.get_num_geometries(merged) == 1
    merged[single] = shapely.get_geometry(merged[single], 0)
    out[present] = merged
    return out


def layer_overlaps(gdf_m: gpd.GeoDataFrame, id_field: str | None) -> pd.DataFrame:
    """Pairs of features of one layer that overlap, with the shared area in m².

    ``gdf_m`` must be in a metric CRS. Returns columns ``id_a``, ``id_b``, ``area_m2``.
    """
    geoms = gdf_m.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    area = shapely.area(shapely.intersection(geoms[a], geoms[b]))
    big = area >= MIN_FINDING_M2
    labels = _labels(gdf_m, id_field)
    return pd.DataFrame({"id_a": labels[a[big]], "id_b": labels[b[big]], "area_m2": area[big]})


def grid_gaps(gdf_m: gpd.GeoDataFrame, id_field: str | None) -> gpd.GeoDataFrame:
    """Holes enclosed by the grids' union that no grid covers: territory nobody manages.

    ``gdf_m`` must be in a metric CRS. Returns one row per gap with its area (m²) and the ids of
    the grids around it.
    """
    union = shapely.union_all(gdf_m.geometry.to_numpy())
    polygons = shapely.get_parts(union)
    polygons = polygons[shapely.get_type_id(polygons) == 3]
    rings = np.concatenate([shapely.get_interior_ring(p, np.arange(shapely.get_num_interior_rings(p)))
                            for p in polygons]) if len(polygons) else np.array([], dtype=object)
    holes = shapely.polygons(rings) if len(rings) else np.array([], dtype=object)
    holes = holes[shapely.area(holes) >= MIN_FINDING_M2] if len(holes) else holes
    labels = _labels(gdf_m, id_field)
    tree = shapely.STRtree(gdf_m.geometry.to_numpy())
    hole_idx, grid_idx = tree.query(holes, predicate="touches") if len(holes) else (np.array([], int),) * 2
    around = pd.Series(labels[grid_idx]).groupby(hole_idx).agg(lambda s: ";".join(sorted(map(str, s))))
    return gpd.GeoDataFrame({"area_m2": shapely.area(holes),
                             "grid_ids": around.reindex(range(len(holes))).fillna("").to_numpy()},
                            geometry=list(holes), crs=gdf_m.crs)


def overlap_issues(gdf_m: gpd.GeoDataFrame, id_field: str | None, kind: str) -> pd.DataFrame:
    """Overlaps (and for grids, gaps) as issue rows, with warnings raised."""
    source = gdf_m.attrs.get("source", kind)
    rows = []
    pairs = layer_overlaps(gdf_m, id_field)
    for r in pairs.itertuples():
        rows.append(dict(layer=source, feature_id=f"{r.id_a} × {r.id_b}", severity="warning",
                         issue=f"{kind} overlap", detail=_("{area:,.0f} m² shared").format(area=r.area_m2),
                         area_m2=r.area_m2))
    if len(pairs):
        warnings.warn(_("{source}: {count} pairs of {kind} overlap ({area:,.0f} m² in all)").format(
            source=source, count=len(pairs), kind=kind_name(kind), area=pairs.area_m2.sum()),
            OverlapWarning, stacklevel=2)
    if kind == "grids":
        gaps = grid_gaps(gdf_m, id_field)
        centres = shapely.point_on_surface(gaps.geometry.to_crs(4326).to_numpy()) if len(gaps) else []
        for r, c in zip(gaps.itertuples(), centres):
            rows.append(dict(layer=source, feature_id=r.grid_ids, severity="warning", issue="gap between grids",
                             detail=_("{area:,.0f} m² near {x:.5f}, {y:.5f}").format(area=r.area_m2, x=c.x, y=c.y),
                             area_m2=r.area_m2))
        if len(gaps):
            warnings.warn(_("{source}: {count} gaps between grids ({area:,.0f} m² in all)").format(
                source=source, count=len(gaps), area=gaps.area_m2.sum()), GapWarning, stacklevel=2)
    return _frame(rows)


def layer_findings(gdf: gpd.GeoDataFrame, id_field: str | None, kind: str
                   ) -> tuple[gpd.GeoDataFrame | None, pd.DataFrame]:
    """``inspect_layer`` and, for a usable layer, its overlaps (and grid gaps) measured in metres.

    Returns the cleaned layer (None when an error stops its use) and all findings in one table.
    """
    cleaned, issues = inspect_layer(gdf, id_field, kind)
    if cleaned is None:
        return None, issues
    problem = coordinate_problem(cleaned)
    if problem:
        row = _frame([dict(layer=gdf.attrs.get("source", kind), feature_id="", severity="error",
                           issue="coordinates do not fit the CRS", detail=problem, area_m2=np.nan)])
        return None, pd.concat([issues, row], ignore_index=True)
    measured = cleaned.to_crs(metric_crs(cleaned))
    measured.attrs.update(cleaned.attrs)
    return cleaned, pd.concat([issues, overlap_issues(measured, id_field, kind)], ignore_index=True)


def _labels(gdf: pd.DataFrame, id_field: str | None) -> np.ndarray:
    """Names of features for messages: their id, else 'feature N' (1-based, as GIS tables count)."""
    feature = _("feature {number}")
    numbers = np.array([feature.format(number=i) for i in range(1, len(gdf) + 1)], dtype=object)
    if id_field is None:
        return numbers
    ids = id_strings(gdf[id_field]).to_numpy(dtype=object, copy=True)
    empty = pd.isna(ids) | (ids == "")
    ids[empty] = numbers[empty]
    return ids


def _type_names(geoms: np.ndarray) -> list[str]:
    names = np.array(["Point", "LineString", "LinearRing", "Polygon", "MultiPoint",
                      "MultiLineString", "MultiPolygon", "GeometryCollection"], dtype=object)
    return list(names[shapely.get_type_id(geoms)])


def _sample(values) -> str:
    values = [str(v) for v in values]
    shown = ", ".join(values[:_LISTED])
    return shown + (_(" and {count} more").format(count=len(values) - _LISTED) if len(values) > _LISTED else "")


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=ISSUE_COLUMNS)
