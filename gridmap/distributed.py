"""Running the heavy per-community stages on a Dask cluster (docs/design.md §8).

Grids never cross a community, so the organisation (one tree per community) and the micro-grids
(cut grid by grid) split into parts of whole communities that run in parallel on Dask workers.
Inputs go to the workers as GeoParquet in an exchange folder beside the output folder (on a real
cluster that folder must be on storage every worker sees); the driver merges the parts into exactly
the tables a single-process run makes. The cheap global stages (validate, classify, align, reach)
and the pages stay on the driver.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from gridmap.classify import Classification
from gridmap.errors import GridmapError
from gridmap.i18n import N_, _
from gridmap.io import id_strings
from gridmap.microgrids import MicroGrids, microgrids
from gridmap.org import community_area, merge_organisations, natural_key, organise

log = logging.getLogger(__name__)

#: Seconds to wait for a scheduler before saying it cannot be reached.
CONNECT_TIMEOUT = 5
#: Parts per worker. Each part repeats the global assignment steps (buildings to grids and
#: communities) before laying out its own communities, so one part per worker costs least.
PARTS_PER_WORKER = 1


def connect(workers: int | None = None, scheduler: str | None = None):
    """A dask.distributed Client: on an existing scheduler, or on a local cluster of ``workers``.

    Raises
    ------
    GridmapError
        The scheduler cannot be reached within ``CONNECT_TIMEOUT`` seconds.
    """
    if scheduler:
        check_address(scheduler)
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise GridmapError(_("Cannot reach the Dask scheduler at {scheduler} within {seconds} s "
                                 "({error}). Is `dask scheduler` running there, and is the "
                                 "address (tcp://HOST:PORT) right?").format(
                scheduler=scheduler, seconds=CONNECT_TIMEOUT, error=type(exc).__name__)) from None
        if not client.scheduler_info().get("workers"):
            try:
                client.wait_for_workers(1, timeout=CONNECT_TIMEOUT * 2)
            except TimeoutError:
                client.close()
                raise GridmapError(_("The Dask scheduler at {scheduler} has no workers: start some with "
                                     "`dask worker {scheduler}`.").format(scheduler=scheduler)) from None
        return client
    if not workers or workers < 1:
        raise GridmapError(_("--workers {workers}: give a number of worker processes, 1 or more.").format(
            workers=workers))
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.ERROR)
    return Client(cluster, set_as_default=False)


#: A scheduler address: PROTOCOL://HOST[:PORT] (tcp, tls, ws, wss, ucx), e.g. tcp://10.0.0.5:8786.
_ADDRESS = re.compile(r"^(tcp|tls|ws|wss|ucx)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(:(\d{1,5}))?/?$")


def check_address(scheduler: str) -> None:
    """Refuse a scheduler address that is not ``PROTOCOL://HOST[:PORT]``, before connecting.

    Raises
    ------
    GridmapError
        Naming the address and the form expected.
    """
    m = _ADDRESS.match(str(scheduler).strip())
    if not m or (m.group(4) is not None and not 0 < int(m.group(4)) < 65536):
        raise GridmapError(_("--scheduler {scheduler} is not a Dask scheduler address: write it as "
                             "tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786 (the address `dask scheduler` prints).").format(
            scheduler=repr(scheduler)))


def close(client) -> None:
    """Close the client, and the local cluster when gridmap started it."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


# ------------------------------------------------------------------ the exchange folder


@dataclass
class Exchange:
    """GeoParquet files of the inputs the parts need, in a folder workers can read."""

    folder: Path

    def write(self, name: str, frame: pd.DataFrame | None) -> None:
        if frame is None:
            return
        frame = _parquet_safe(frame)
        if isinstance(frame, gpd.GeoDataFrame):
            frame.to_parquet(self.folder / f"{name}.parquet")
        else:
            pd.DataFrame(frame).to_parquet(self.folder / f"{name}.parquet")
        attrs = {k: v for k, v in frame.attrs.items() if isinstance(v, str)}
        (self.folder / f"{name}.attrs.json").write_text(json.dumps(attrs, ensure_ascii=False), encoding="utf-8")

    def read(self, name: str, geo: bool = True):
        path = self.folder / f"{name}.parquet"
        if not path.exists():
            return None
        frame = gpd.read_parquet(path) if geo else pd.read_parquet(path)
        frame.attrs.update(json.loads((self.folder / f"{name}.attrs.json").read_text(encoding="utf-8")))
        return frame

    def write_classification(self, cls: Classification) -> None:
        self.write("cls_compounds", cls.compounds)
        self.write("cls_grids", cls.grids)
        self.write("cls_overlaps", cls.overlaps)
        meta = {"crs": cls.crs.to_wkt(), "compound_id": cls.compound_id, "grid_id": cls.grid_id,
                "sliver": cls.sliver, "nest": cls.nest}
        (self.folder / "classification.json").write_text(json.dumps(meta), encoding="utf-8")

    def read_classification(self) -> Classification:
        meta = json.loads((self.folder / "classification.json").read_text(encoding="utf-8"))
        return Classification(compounds=self.read("cls_compounds"), grids=self.read("cls_grids"),
                              overlaps=self.read("cls_overlaps", geo=False), crs=CRS.from_wkt(meta["crs"]),
                              compound_id=meta["compound_id"], grid_id=meta["grid_id"], sliver=meta["sliver"],
                              nest=meta["nest"])


def _parquet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding several kinds of value (ids typed as text here, numbers there) are
    stored as text, which Arrow needs; the columns gridmap reads are text already."""
    out = frame.copy()
    out.attrs.update(frame.attrs)
    for col in out.columns:
        if col == getattr(out, "_geometry_column_name", None) or out[col].dtype != object:
            continue
        kinds = {type(v) for v in out[col].dropna()}
        if len(kinds) > 1:
            out[col] = out[col].map(lambda v: None if pd.isna(v) else str(v))
    return out


# ------------------------------------------------------------------ parts


def community_names(classification: Classification, communities: gpd.GeoDataFrame | None,
                    proposal: gpd.GeoDataFrame | None) -> list[str]:
    """The communities ``organise`` lays trees out for, in its order."""
    area = community_area(classification, communities, proposal, None)
    names = set(area.grids.community.dropna()) | set(area.compounds.community.dropna())
    return sorted(names, key=natural_key)


def split(names: Sequence[str], n_parts: int) -> list[list[str]]:
    """Communities in ``n_parts`` contiguous groups of about equal count, order kept."""
    names = list(names)
    n_parts = max(1, min(n_parts, len(names)))
    size = math.ceil(len(names) / n_parts)
    return [names[i:i + size] for i in range(0, len(names), size)]


def _organise_part(folder: str, communities: list[str], options: dict):
    ex = Exchange(Path(folder))
    return organise(ex.read_classification(), ex.read("buildings"), ex.read("ledger", geo=False),
                    ex.read("communities"), ex.read("proposal"), only_communities=communities, **options)


def _microgrids_part(folder: str, grid_ids: list[str], options: dict) -> str:
    ex = Exchange(Path(folder))
    result = microgrids(ex.read("grids"), ex.read("buildings"), streets=ex.read("streets"),
                        roster=ex.read("workers", geo=False), only_grids=grid_ids, **options)
    key = f"{abs(hash(tuple(grid_ids))):x}"
    result.microgrids.to_parquet(Path(folder) / f"microgrids-{key}.parquet")
    result.buildings.to_parquet(Path(folder) / f"microgrid-buildings-{key}.parquet")
    return key


def _gather(client, futures: list, parts: list[list[str]], what: str) -> list:
    """Results of the parts, in order; a failed part is named."""
    results = []
    for future, part in zip(futures, parts):
        try:
            results.append(future.result())
        except Exception as exc:  # the part's own error, or KilledWorker when its worker died twice
            for other in futures:
                other.cancel()
            shown = ", ".join(map(str, part[:5])) + (_(" and {count} more").format(count=len(part) - 5)
                                                     if len(part) > 5 else "")
            raise GridmapError(_("The {what} part of {parts} failed on the cluster ({error}: "
                                 "{reason}); nothing of this run was written as complete.").format(
                what=_(what), parts=shown, error=type(exc).__name__, reason=exc)) from exc
    return results


def organise_distributed(client, exchange: Exchange, community_names: Sequence[str], options: dict):
    """``organise`` by parts of whole communities, merged into the full run's Organisation."""
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    parts = split(community_names, n_workers * PARTS_PER_WORKER)
    futures = [client.submit(_organise_part, str(exchange.folder), part, options, key=f"organise-part-{i}",
                             pure=False, retries=1) for i, part in enumerate(parts)]
    log.info("organising %d communities in %d parts on %d workers", len(community_names), len(parts), n_workers)
    return merge_organisations(_gather(client, futures, parts, N_("organisation")))


def microgrids_distributed(client, exchange: Exchange, grids: gpd.GeoDataFrame, grid_id: str,
                           community: np.ndarray, options: dict, crs: CRS, households_range: tuple[int, int]):
    """``microgrids`` by parts of whole communities' grids, merged into the full run's tables."""
    ids = id_strings(grids[grid_id]).to_numpy(dtype=object)
    names = list(dict.fromkeys(community))
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    groups = split(names, n_workers * PARTS_PER_WORKER)
    parts = [list(ids[np.isin(community, g)]) for g in groups]
    futures = [client.submit(_microgrids_part, str(exchange.folder), part, options, key=f"microgrids-part-{i}",
                             pure=False, retries=1) for i, part in enumerate(parts)]
    keys = _gather(client, futures, parts, N_("micro-grid"))
    mg = pd.concat([gpd.read_parquet(exchange.folder / f"microgrids-{k}.parquet") for k in keys])
    position = pd.Series(np.arange(len(ids)), index=ids)
    mg = mg.iloc[np.lexsort((mg.microgrid_id.to_numpy(dtype=object).astype(str),
                             position.reindex(mg.grid_id).to_numpy()))].reset_index(drop=True)
    # Every part assigns all buildings among all grids; each building's row comes from the part
    # that cut its grid (buildings outside every grid read the same in every part).
    tables = [gpd.read_parquet(exchange.folder / f"microgrid-buildings-{k}.parquet") for k in keys]
    b = tables[0].copy()
    for table, part in zip(tables, parts):
        mine = table.grid_id.isin(part).to_numpy()
        b.loc[mine] = table.loc[mine]
    return MicroGrids(mg, b, crs, households_range)


def cleanup(exchange: Exchange) -> None:
    shutil.rmtree(exchange.folder, ignore_errors=True)
