"""The programme's further figures (issue 15): funding, roll-ups by street and district, property
management, the community level and candidate counts — as tables for the report and the workbooks.

Everything here takes frames and returns frames (or ``Section``s of titled tables); nothing is
written. Counts only: no member is named (the candidates' names go to the roster, see
``gridmap.org.candidates``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap import vocab
from gridmap.classify import Classification
from gridmap.errors import PlacementWarning
from gridmap.i18n import _
from gridmap.io import find_field
from gridmap.org.area import Area, community_area, community_names, point_communities
from gridmap.org.candidates import candidate_counts, has_identities
from gridmap.org.funding import BRANCHES_HEADER, FUNDING_COLUMNS, FUNDING_HEADERS, FundingPolicy, funding_table
from gridmap.org.model import TOTAL, Organisation
from gridmap.org.names import community_order, id_values, sample_text, text_or_none


@dataclass
class Table:
    """A titled table: ``caption`` above it in the report, ``sheet`` its sheet in report.xlsx."""

    caption: str
    sheet: str
    frame: pd.DataFrame


@dataclass
class Section:
    """A section of the report: a title, sentences, and titled tables."""

    title: str
    lines: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


#: Headers of the candidate counts.
CANDIDATE_HEADERS = {"community": "社区", "units": BRANCHES_HEADER,
                     "with_secretary_candidate": "有三渠道书记人选", "without_secretary_candidate": "无三渠道书记人选",
                     "with_committee": "设支委会", "committee_with_candidate": "有交叉任职人选",
                     "committee_without_candidate": "无交叉任职人选"}
#: Cells of a property field that mean "no property management".
_NO_COMPANY = {"无", "无物业", "没有", "暂无", "none", "no", "n/a", "na", "-", "—", "/", "否", "0", "nan"}
_YES = {"是", "yes", "y", "true", "t", "1", "√", "✓", "有"}
_NO = {"否", "no", "n", "false", "f", "0", "×", "✗", "无"}


# ------------------------------------------------------------------ where things are


def classification_area(cls: Classification, communities: gpd.GeoDataFrame | None) -> Area:
    """Compounds and grids of the classification with their communities, as ``organise`` assigns
    them (alignment never moves land between communities, so the proposal's do not differ)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return community_area(cls, communities, None, None)


def station_counts(area: Area, stations: gpd.GeoDataFrame | None,
                   communities: gpd.GeoDataFrame | None) -> pd.Series:
    """Service stations per community: a station counts in the community polygon holding it, or
    in its grid's community; a station in neither is warned about and counted nowhere."""
    if stations is None or not len(stations):
        return pd.Series(dtype=np.int64)
    where = point_communities(stations.geometry, area, communities)
    lost = pd.isna(where)
    if lost.any():
        warnings.warn(_("{source}: {count} service stations lie in no community and no grid; they are not "
                        "counted in the funding estimate").format(source=stations.attrs.get("source", "stations"),
                                                                  count=int(lost.sum())),
                      PlacementWarning, stacklevel=2)
    return pd.Series(where[~lost]).value_counts().astype(np.int64)


def funding_for(org: Organisation, cls: Classification, stations: gpd.GeoDataFrame | None,
                communities: gpd.GeoDataFrame | None, policy: FundingPolicy) -> pd.DataFrame:
    """``funding.csv`` of a run: the organisation's units and the stations in each community."""
    return funding_table(org.units, station_counts(classification_area(cls, communities), stations, communities),
                         policy)


def community_streets(area: Area, grids: pd.DataFrame, communities: gpd.GeoDataFrame | None) -> pd.DataFrame | None:
    """Each community's street (街道) and district (区): from the communities layer's fields, else
    from the grids' (the value most of its grids carry). None when neither layer has either field."""
    out = pd.DataFrame({"community": sorted(set(area.grids.community) | set(area.compounds.community),
                                            key=community_order)})
    found = False
    for meaning in ("street", "district"):
        values = pd.Series(None, index=out.community.to_numpy(), dtype=object)
        if communities is not None:
            f = find_field(communities, meaning, required=False)
            if f:
                own = pd.Series(communities[f].map(text_or_none).to_numpy(dtype=object),
                                index=community_names(communities)).dropna()
                own = own[~own.index.duplicated()]
                values = own.reindex(values.index).astype(object)
                found = True
        f = find_field(grids, meaning, required=False, exclude=vocab.COMPUTED_COLUMNS)
        if f:
            by_grid = pd.DataFrame({"community": area.grids.community.reindex(id_values(grids.grid_id)).to_numpy(),
                                    "value": grids[f].map(text_or_none).to_numpy(dtype=object)}).dropna()
            if len(by_grid):
                most = by_grid.groupby("community").value.agg(lambda v: v.value_counts().index[0])
                values = values.where(values.notna(), most.reindex(values.index))
                found = True
        out[meaning] = values.to_numpy(dtype=object)
    return out if found else None


# ------------------------------------------------------------------ property management


def property_status(compounds: pd.DataFrame, company: str | None = None, red: str | None = None
                    ) -> pd.DataFrame | None:
    """Each compound's property management: ``company`` (text, None when it has none), ``managed``
    (a company, or red property) and ``red`` (红色物业: True, False or None when not said). None when
    the compounds have neither a property-company (物业公司) nor a red-property (红色物业) field."""
    exclude = vocab.COMPUTED_COLUMNS
    c_field = find_field(compounds, "property_company", company, required=False, exclude=exclude)
    r_field = find_field(compounds, "red_property", red, required=False,
                         exclude=exclude + ((c_field,) if c_field else ()))
    if not c_field and not r_field:
        return None
    n = len(compounds)
    names = (compounds[c_field].map(text_or_none).to_numpy(dtype=object) if c_field
             else np.full(n, None, dtype=object))
    names = np.array([None if v is None or str(v).strip().lower() in _NO_COMPANY else v for v in names], dtype=object)
    red_cells = (compounds[r_field].map(text_or_none).to_numpy(dtype=object) if r_field
                 else np.full(n, None, dtype=object))
    red_values = np.array([None if v is None else True if str(v).lower() in _YES else
                           False if str(v).lower() in _NO else None for v in red_cells], dtype=object)
    odd = [v for v, r in zip(red_cells, red_values) if v is not None and r is None]
    if odd:
        warnings.warn(_("{source}: {count} values of {field} are not yes or no ({values}); taken as not said").format(
            source=compounds.attrs.get("source", "compounds"), count=len(odd), field=r_field,
            values=sample_text(pd.unique(np.array(odd, dtype=object)))), PlacementWarning, stacklevel=2)
    managed = np.array([c is not None or r is True for c, r in zip(names, red_values)], dtype=bool)
    if not c_field:  # only the red-property field: management is known where it says yes
        managed = np.array([True if r is True else None for r in red_values], dtype=object)
    return pd.DataFrame({"company": pd.Series(names, index=compounds.index, dtype=object),
                         "managed": pd.Series(managed, index=compounds.index, dtype=object if not c_field else bool),
                         "red": pd.Series(red_values, index=compounds.index, dtype=object)})


def compound_types(compounds: pd.DataFrame, type_field: str | None = None) -> pd.Series | None:
    """Each compound's type (未填类型 where empty); None without a type field."""
    f = find_field(compounds, "compound_type", type_field, required=False, exclude=vocab.COMPUTED_COLUMNS)
    if not f:
        return None
    return compounds[f].map(text_or_none).fillna(vocab.UNTYPED).astype(object)


def _type_order(types: pd.Series) -> list[str]:
    present = set(types)
    return [t for t in vocab.COMPOUND_TYPES if t in present] + sorted(present - set(vocab.COMPOUND_TYPES))


def property_section(cls: Classification, area: Area, type_field: str | None = None) -> Section | None:
    """Coverage of property management overall and by compound type, red property, and the compounds
    without management (id, name, type, community). None without property fields."""
    comps = cls.compounds
    status = property_status(comps)
    if status is None:
        return None
    types = compound_types(comps, type_field)
    if types is None:
        types = pd.Series(vocab.UNTYPED, index=comps.index, dtype=object)
    known = status.managed.notna()
    if "outline" in comps.columns:  # an outline inferred from buildings carries no attributes
        known &= comps["outline"].astype(str).ne("inferred").to_numpy()
    frame = pd.DataFrame({"type": types.to_numpy(), "managed": status.managed.eq(True).to_numpy(),
                          "known": known.to_numpy(), "red": status.red.eq(True).to_numpy()})
    rows = []
    for label, part in [*((t, frame[frame.type == t]) for t in _type_order(types)), (TOTAL, frame)]:
        n, m = len(part), int(part.managed.sum())
        rows.append({"类型": label, "小区数": n, "有物业管理": m,
                     "无物业管理": int((part.known & ~part.managed).sum()),
                     "未填": int((~part.known & ~part.managed).sum()),
                     "覆盖率（%）": round(100 * m / n, 1) if n else np.nan, "红色物业": int(part.red.sum())})
    coverage = pd.DataFrame(rows)
    name_field = find_field(comps, "compound_name", required=False, exclude=vocab.COMPUTED_COLUMNS)
    without = (known & ~status.managed.eq(True)).to_numpy()
    names = comps[name_field].to_numpy(dtype=object) if name_field else np.full(len(comps), None, dtype=object)
    missing = pd.DataFrame({
        "小区编码": comps.compound_id.to_numpy()[without],
        "小区名称": names[without],
        "类型": types.to_numpy()[without],
        "社区": area.compounds.community.reindex(comps.compound_id).to_numpy()[without],
    })
    total = rows[-1]
    lines = [f"有物业管理的小区{total['有物业管理']}个，占{total['覆盖率（%）']:g}%；无物业管理的小区{total['无物业管理']}个；"
             f"红色物业{total['红色物业']}个。" if total["小区数"] else "没有小区。"]
    return Section("物业管理", lines, [Table("物业覆盖（按小区类型）", "物业覆盖", coverage),
                                   Table(f"无物业管理的小区（{len(missing)}个）", "无物业小区", missing)])


# ------------------------------------------------------------------ roll-ups


def rollup_tables(cls: Classification, area: Area, places: pd.DataFrame, *, org: Organisation | None = None,
                  microgrids: pd.DataFrame | None = None, stations: pd.Series | None = None,
                  funding: pd.DataFrame | None = None, type_field: str | None = None) -> list[Table]:
    """One row per street (sheet 街道) and per district (sheet 区), with a total row: communities,
    compounds by type and by situation, units by kind, members, micro-grids, stations and funding."""
    comps = cls.compounds
    community = area.compounds.community.reindex(comps.compound_id).fillna("").to_numpy(dtype=object)
    types = compound_types(comps, type_field)
    per: dict[str, pd.DataFrame] = {}
    base = pd.DataFrame(index=pd.Index(places.community, name="community"))
    base["社区数"] = 1
    compound_frame = pd.DataFrame({"community": community, "situation": comps.situation.to_numpy()})
    base["小区数"] = compound_frame.groupby("community").size().reindex(base.index).fillna(0)
    if types is not None:
        compound_frame["type"] = types.to_numpy()
        by_type = pd.crosstab(compound_frame.community, compound_frame.type).reindex(columns=_type_order(types))
        per["type"] = by_type
    by_sit = pd.crosstab(compound_frame.community, compound_frame.situation)
    by_sit = by_sit[[s for s in (*vocab.COMPOUND_SITUATIONS, vocab.NO_GEOMETRY) if s in by_sit.columns]]
    per["situation"] = by_sit.rename(columns=vocab.SITUATION_LABELS)
    if org is not None and len(org.units):
        u = org.units
        per["kind"] = pd.crosstab(u.community, u.kind)[[k for k in vocab.KINDS if k in set(u.kind)]].rename(
            columns=vocab.KIND_LABELS)
        base["党员"] = u[u.depth == 0].groupby("community").members.sum().reindex(base.index).fillna(0)
    if microgrids is not None:
        grid_community = area.grids.community
        mg = id_values(microgrids.grid_id).map(grid_community).fillna("")
        base["微网格"] = mg.value_counts().reindex(base.index).fillna(0)
    if stations is not None:
        base["党群服务站"] = stations.reindex(base.index).fillna(0)
    for key in per:
        base = base.join(per[key].reindex(base.index).fillna(0))
    if funding is not None:
        rows = funding[funding.community != TOTAL].set_index("community")
        base[FUNDING_HEADERS["one_off"]] = rows.one_off.reindex(base.index).fillna(0)
        base[FUNDING_HEADERS["per_year"]] = rows.per_year.reindex(base.index).fillna(0)
    tables = []
    for meaning, label, sheet, missing in (("street", "街道", "街道", vocab.NO_STREET),
                                           ("district", "区", "区", vocab.NO_DISTRICT)):
        if meaning not in places or places[meaning].isna().all():
            continue
        key = places.set_index("community")[meaning].reindex(base.index).fillna(missing)
        table = base.groupby(key.to_numpy(), sort=False).sum()
        table = table.reindex(sorted(table.index, key=community_order))
        table.loc[TOTAL] = table.sum()
        table = table.rename_axis(label).reset_index()
        for c in table.columns[1:]:
            if (table[c] == table[c].round()).all():
                table[c] = table[c].astype(np.int64)
        tables.append(Table(f"按{label}汇总", sheet, table))
    return tables


# ------------------------------------------------------------------ the report's sections


def community_level_table(org: Organisation) -> pd.DataFrame:
    """Each community's own unit: its name, level (``vocab.COMMUNITY_KIND_LABELS``) and members."""
    roots = org.units[org.units.depth == 0]
    return pd.DataFrame({"社区": roots.community.to_numpy(), "组织": roots.name.to_numpy(),
                         "层级": roots.kind.map(vocab.COMMUNITY_KIND_LABELS).to_numpy(),
                         "党员": roots.members.to_numpy()})


def programme_sections(cls: Classification, *, org: Organisation | None = None,
                       communities: gpd.GeoDataFrame | None = None, stations: gpd.GeoDataFrame | None = None,
                       microgrids: pd.DataFrame | None = None, funding: pd.DataFrame | None = None,
                       policy: FundingPolicy | None = None, ledger: pd.DataFrame | None = None,
                       type_field: str | None = None) -> list[Section]:
    """The report's sections of issue 15, each present when its data is: the community level, the
    funding estimate, secretary candidates (counts), property management, roll-ups by street and
    district."""
    area = classification_area(cls, communities)
    sections = []
    if org is not None and len(org.units):
        level = community_level_table(org)
        counts = level["层级"].value_counts()
        said = "、".join(f"{label}{int(counts[label])}个" for label in vocab.COMMUNITY_KIND_LABELS.values()
                        if label in counts)
        sections.append(Section("社区党组织", [f"按党员人数设置：{said}。"],
                                [Table("社区党组织设置", "社区党组织", level)]))
    if funding is not None:
        lines = [f"政策：{policy.describe()}。"] if policy is not None else []
        total = funding[funding.community == TOTAL].iloc[0]
        lines.append(f"一次性经费 ¥{total.one_off:,}，每年经费 ¥{total.per_year:,}。")
        sections.append(Section("经费测算", lines, [Table("经费测算（按社区）", "经费测算",
                                                       funding[FUNDING_COLUMNS].rename(columns=FUNDING_HEADERS))]))
    if org is not None and org.members is not None and has_identities(ledger):
        counts = candidate_counts(org, ledger)
        total = counts.iloc[-1]
        lines = [f"{BRANCHES_HEADER}{total.units}个，其中{total.without_secretary_candidate}个没有来自离退休干部、"
                 f"退役军人、社区工作者和网格员的书记人选；设支委会的{total.with_committee}个，其中"
                 f"{total.committee_without_candidate}个没有物业、业委会或网格员的交叉任职人选。人选名单只在名册（--roster）中。"]
        sections.append(Section("书记和支委人选", lines, [Table("人选（按社区，只计数）", "人选统计",
                                                          counts.rename(columns=CANDIDATE_HEADERS))]))
    prop = property_section(cls, area, type_field)
    if prop is not None:
        sections.append(prop)
    places = community_streets(area, cls.grids, communities)
    if places is not None:
        if funding is not None:  # counted once, when the estimate was made
            per = funding[funding.community != TOTAL].set_index("community").stations
        else:
            per = station_counts(area, stations, communities) if stations is not None else None
        tables = rollup_tables(cls, area, places, org=org, microgrids=microgrids, stations=per,
                               funding=funding, type_field=type_field)
        if tables:
            sections.append(Section("街道和区汇总", [], tables))
    return sections


__all__ = ["CANDIDATE_HEADERS", "Section", "Table", "classification_area", "community_level_table",
           "community_streets", "compound_types", "funding_for", "programme_sections", "property_section",
           "property_status", "rollup_tables", "station_counts"]
