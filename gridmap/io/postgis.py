"""PostGIS: layers read from a city database, and a run's tables written into one (docs/design.md §5).

A layer is ``postgresql://USER@HOST[:PORT]/DBNAME:[SCHEMA.]TABLE[?geometry=COL]`` (``postgres://``
too), the ``:LAYER`` convention of files; a target is ``postgresql://USER@HOST[:PORT]/DBNAME:SCHEMA``.
Names may be Chinese, written plainly or percent-encoded; ``"a.b"`` quotes a name holding a dot.
Other query parameters (``sslmode``, ``connect_timeout``, …) go to libpq as they are.

Passwords come from ``PGPASSWORD`` or ``~/.pgpass`` (libpq reads both), never from a URL: a URL
holding one is refused, and every message, log line and stored input has passwords masked.

Driver: ``geopandas.read_postgis`` / ``to_postgis`` over SQLAlchemy 2 + psycopg 3 (GeoAlchemy2
types the geometry column when writing). GDAL's PostgreSQL driver is not an option from pip: the
wheels of pyogrio 0.13 (GDAL 3.12) and fiona 1.10 (GDAL 3.9) do not carry it (``pyogrio.list_drivers()``
and ``fiona.supported_drivers`` lack "PostgreSQL"), so it would need a system GDAL. Measured on the
bundled sample, see README "PostGIS".

Writing (``write_results``) happens in one transaction: the schema is created if missing, the tables
of the previous run (listed, with their table OIDs, in ``SCHEMA.gridmap_runs``) are dropped, the new
ones written and a row added to ``gridmap_runs``. A table of the same name that gridmap did not write
is never dropped: the write is refused and the database left as it was.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote

import geopandas as gpd
import pyogrio
import numpy as np
import pandas as pd

from gridmap import settings
from gridmap.errors import CRSWarning, GridmapError
from gridmap.i18n import N_, _, ngettext
from gridmap.io.fields import numeric_if_clean
from gridmap.io.crs import set_crs
from gridmap.vocab import with_label_columns

log = logging.getLogger(__name__)

SCHEMES = ("postgresql://", "postgres://")
#: Seconds libpq waits for a server before giving up, unless the URL says ``?connect_timeout=``.
CONNECT_TIMEOUT = 10
#: The registry of runs in the target schema.
RUNS_TABLE = "gridmap_runs"
RUNS_COLUMNS = ("run_id", "written_at", "written_by", "gridmap_version", "out_folder", "inputs",
                "tables", "row_counts", "table_oids")
#: Tables a run writes, in order: name → the column that is unique in it (made the primary key).
TABLES: dict[str, str | None] = {
    "compounds": "compound_id", "grids": "grid_id", "overlaps": None, "proposal_grids": "grid_id",
    "proposal_changes": None, "organization": "unit_id", "microgrids": "microgrid_id",
    "reach": "compound_id", "funding": None,
}
#: Project layers that are plain tables read from files only.
TABLE_FILES = {"members": N_("member ledger"), "grid_workers": N_("grid-worker roster")}
#: Name of the geometry column in written tables (the PostGIS convention).
GEOMETRY_COLUMN = "geom"


def is_database_url(spec) -> bool:
    """Whether a layer argument or project path is a PostgreSQL URL rather than a file."""
    return isinstance(spec, str) and spec.strip().lower().startswith(SCHEMES)


# ------------------------------------------------------------------ URLs and masking

_PASSWORD_IN_URL = re.compile(r"(?i)(postgres(?:ql)?://[^:/@?\s]*):([^@/?\s]*)@")
_PASSWORD_PARAM = re.compile(r"(?i)([?&]password=)[^&\s]*")


def mask(text: str) -> str:
    """``text`` with any password masked: in URLs (``user:***@``, ``?password=***``) and the value of
    ``PGPASSWORD`` wherever it appears (a server or driver message might echo it)."""
    text = _PASSWORD_IN_URL.sub(r"\1:***@", str(text))
    text = _PASSWORD_PARAM.sub(r"\1***", text)
    secret = os.environ.get("PGPASSWORD")
    if secret and len(secret) >= 3:
        text = text.replace(secret, "***")
    return text


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed layer or target URL (it never holds a password)."""

    text: str
    user: str | None
    host: str | None
    port: int | None
    database: str
    schema: str | None = None
    table: str | None = None
    geometry: str | None = None
    options: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return mask(self.text)

    @property
    def server(self) -> str:
        host = self.host or _("the local socket")
        return f"{host}:{self.port}" if self.port else host

    @property
    def qualified(self) -> str:
        """``schema.table`` (or the table alone) as the user wrote it."""
        return f"{self.schema}.{self.table}" if self.schema else str(self.table)

    @property
    def where(self) -> str:
        """``table src.小区 in database city on 127.0.0.1:5432 as gridmap``, for messages."""
        if self.table:
            text = _("table {table} in database {database} on {server}")
        elif self.schema:
            text = _("schema {schema} of database {database} on {server}")
        else:
            text = _("database {database} on {server}")
        who = _(" as {user}").format(user=self.user) if self.user else ""
        return text.format(table=self.qualified, schema=self.schema, database=self.database,
                           server=self.server) + who


def parse_url(text: str, *, target: bool = False) -> DatabaseURL:
    """Parse a layer URL (``…/DB:[SCHEMA.]TABLE[?geometry=COL]``) or, with ``target``, an output URL
    (``…/DB:SCHEMA``).

    Raises
    ------
    GridmapError
        The URL holds a password (masked in the message), or lacks the database, table or schema.
    """
    raw = text.strip()
    shown = mask(raw)
    scheme_end = raw.index("://") + 3
    rest, _sep, query = raw[scheme_end:].partition("?")
    netloc, _sep, path = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    params = dict(parse_qsl(query, keep_blank_values=True))
    if (at and ":" in userinfo) or any(k.lower() == "password" for k in params):
        raise GridmapError(_(
            "{url}: the URL holds a password. gridmap takes no password on the command line or in a "
            "project file (it would be kept in shell history, logs and outputs): remove it from the URL and "
            "set PGPASSWORD in the environment, or add a line HOST:PORT:DATABASE:USER:PASSWORD to ~/.pgpass "
            "(mode 0600).").format(url=shown))
    user = unquote(userinfo) if at and userinfo else None
    host, port = _host_port(hostport, shown)
    database, colon, name = path.partition(":")
    database = unquote(database)
    usage = ("postgresql://USER@HOST[:PORT]/DBNAME:SCHEMA" if target
             else "postgresql://USER@HOST[:PORT]/DBNAME:[SCHEMA.]TABLE")
    if not database:
        raise GridmapError(_("{url}: no database named; write it as {usage}.").format(url=shown, usage=usage))
    geometry = params.pop("geometry", None) or None
    options = {k: v for k, v in params.items()}
    if target:
        if not name:
            raise GridmapError(_("{url}: no schema named for the results; write it as {usage} "
                                 "(the schema is created if missing).").format(url=shown, usage=usage))
        parts = _split_name(unquote(name))
        if len(parts) != 1:
            raise GridmapError(_("{url}: a results target names a schema, not SCHEMA.TABLE; write it as "
                                 "{usage}.").format(url=shown, usage=usage))
        if geometry:
            raise GridmapError(_("{url}: ?geometry= chooses the geometry column of a layer to read; it has "
                                 "no meaning for a results target.").format(url=shown))
        return DatabaseURL(raw, user, host, port, database, schema=parts[0], options=options)
    if not name:
        raise GridmapError(_("{url}: no table named; write the layer as {usage}, e.g. "
                             "{example}:public.compounds.").format(url=shown, usage=usage,
                                                                   example=shown.partition("?")[0]))
    parts = _split_name(unquote(name))
    schema, table = (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    return DatabaseURL(raw, user, host, port, database, schema=schema, table=table,
                       geometry=unquote(geometry) if geometry else None, options=options)


def _host_port(hostport: str, shown: str) -> tuple[str | None, int | None]:
    if hostport.startswith("["):  # [::1]:5432
        host, _sep, after = hostport[1:].partition("]")
        port = after[1:] if after.startswith(":") else ""
    else:
        host, _sep, port = hostport.partition(":")
    if port and not port.isdigit():
        raise GridmapError(_("{url}: the port {port} is not a number.").format(url=shown, port=repr(port)))
    return (unquote(host) or None), (int(port) if port else None)


def _split_name(text: str) -> list[str]:
    """``schema.table`` → [schema, table]; ``"a.b"`` quotes a name holding dots; one split at most."""
    m = re.fullmatch(r'\s*(?:("(?:[^"]|"")+"|[^".]+)\.)?("(?:[^"]|"")+"|[^"]+?)\s*', text)
    if not m:
        return [text]
    return [_unquote_ident(p) for p in m.groups() if p is not None]


def _unquote_ident(name: str) -> str:
    return name[1:-1].replace('""', '"') if len(name) >= 2 and name[0] == name[-1] == '"' else name


def _ident(name: str) -> str:
    """A quoted SQL identifier (Chinese, mixed case, spaces all kept as they are)."""
    return '"' + str(name).replace('"', '""') + '"'


# ------------------------------------------------------------------ connections


def _engine(url: DatabaseURL):
    try:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import URL
        from sqlalchemy.pool import NullPool
    except ImportError as exc:  # pragma: no cover - they are dependencies
        raise GridmapError(_("Reading and writing PostGIS needs SQLAlchemy, psycopg 3 and GeoAlchemy2 ({reason}): "
                             "pip install 'sqlalchemy>=2.0' 'psycopg[binary]>=3.1' 'geoalchemy2>=0.14'.").format(
            reason=exc)) from None
    query = {"connect_timeout": str(CONNECT_TIMEOUT), "application_name": "gridmap", **url.options}
    # No password: libpq takes it from PGPASSWORD or ~/.pgpass (PGPASSFILE).
    return create_engine(URL.create("postgresql+psycopg", username=url.user, host=url.host, port=url.port,
                                    database=url.database, query=query), poolclass=NullPool)


@contextlib.contextmanager
def _connection(url: DatabaseURL, doing: str, *, transaction: bool = False) -> Iterator:
    """A connection to ``url``; a failure to connect is a GridmapError naming server, database and
    what was being done (password masked)."""
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    engine = _engine(url)
    try:
        try:
            conn = engine.connect()
        except (DBAPIError, SQLAlchemyError, OSError) as exc:
            raise GridmapError(_(
                "Cannot connect to database {database} on {server}{user} ({doing}; URL {url}): {reason}. "
                "Check the host, port and database name, that the server accepts connections from this "
                "machine, and that the password is in PGPASSWORD or ~/.pgpass.").format(
                database=url.database, server=url.server, user=_(" as {user}").format(user=url.user) if url.user else "",
                doing=doing, url=url, reason=_reason(exc))) from None
        with conn:
            if transaction:
                with conn.begin():
                    yield conn
            else:
                yield conn
    finally:
        engine.dispose()


def _reason(exc: BaseException) -> str:
    """The driver's own message (not SQLAlchemy's wrapping with the SQL), on one line, masked."""
    inner = getattr(exc, "orig", None) or exc
    text = " ".join(str(inner).split()) or type(inner).__name__
    return mask(text.rstrip("."))


def _require_postgis(conn, url: DatabaseURL, doing: str) -> str:
    from sqlalchemy import text

    version = conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")).scalar()
    if version is None:
        raise GridmapError(_(
            "Database {database} on {server} has no PostGIS extension ({doing}; URL {url}). Ask its "
            "administrator to run CREATE EXTENSION postgis; in that database, or point gridmap at the "
            "database that holds the city's layers.").format(database=url.database, server=url.server,
                                                              doing=doing, url=url))
    return str(version)


# ------------------------------------------------------------------ reading


def read_table(spec: str, *, crs=None) -> gpd.GeoDataFrame:
    """Read one PostGIS table (or view) as a layer, like ``io.read_layer`` reads a file.

    Parameters
    ----------
    spec : str
        ``postgresql://USER@HOST[:PORT]/DBNAME:[SCHEMA.]TABLE``, with ``?geometry=COL`` to choose
        among several geometry columns.
    crs : optional
        CRS for a table whose geometries have SRID 0 (unknown); otherwise the table's SRID decides
        (its EPSG code, or the ``spatial_ref_sys`` definition for other authorities).

    Returns
    -------
    GeoDataFrame
        The attribute columns (other geometry columns left out) and the chosen geometry as
        ``geometry``; ``attrs["source"]`` is the URL with passwords masked.

    Raises
    ------
    GridmapError
        A password in the URL, no connection, no PostGIS, no such table, no or an unknown geometry
        column: one paragraph naming server, database and table.
    """
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    url = parse_url(spec)
    doing = _("reading table {table}").format(table=url.qualified)
    with _connection(url, doing) as conn:
        _require_postgis(conn, url, doing)
        try:
            oid, schema, table = _find_table(conn, url)
            columns = conn.execute(text(
                "SELECT a.attname, t.typname, a.atttypmod FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
                "WHERE a.attrelid = :oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"),
                {"oid": oid}).all()
            geometry = _choose_geometry(url, columns)
            kind = next(t for name, t, _mod in columns if name == geometry)
            srid = _srid(conn, schema, table, geometry, kind, url)
            geo_crs = _crs_of(conn, srid)
            attributes = [name for name, t, _mod in columns if t not in ("geometry", "geography")]
            select = ", ".join([*(_ident(a) for a in attributes),
                                f"ST_AsBinary({_ident(geometry)}{'::geometry' if kind == 'geography' else ''}) AS __gridmap_geom"])
            sql = f"SELECT {select} FROM {_ident(schema)}.{_ident(table)}"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                gdf = gpd.read_postgis(text(sql), conn, geom_col="__gridmap_geom", crs=geo_crs)
        except DBAPIError as exc:
            raise GridmapError(_("Reading {where} failed: {reason} (URL {url}).").format(
                where=url.where, reason=_reason(exc), url=url)) from None
    gdf = _numeric_decimals(gdf)
    name = "geometry" if "geometry" not in gdf.columns else "geometry_" + geometry
    gdf = gdf.rename_geometry(name)
    source = str(url)
    gdf = set_crs(gdf, source, crs)
    gdf.attrs["source"] = source
    log.info("read %s: %d features, geometry column %s, SRID %s", source, len(gdf), geometry, srid)
    return gdf


def _find_table(conn, url: DatabaseURL) -> tuple[int, str, str]:
    from sqlalchemy import text

    name = f"{_ident(url.schema)}.{_ident(url.table)}" if url.schema else _ident(url.table)
    row = conn.execute(text(
        "SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.oid = to_regclass(:name)"), {"name": name}).first()
    if row is None:
        tables = [f"{s}.{t}" for s, t in conn.execute(text(
            "SELECT f_table_schema, f_table_name FROM geometry_columns UNION "
            "SELECT f_table_schema, f_table_name FROM geography_columns ORDER BY 1, 2 LIMIT 31")).all()]
        listed = (", ".join(tables[:30]) + (", …" if len(tables) > 30 else "")) if tables else _("none")
        hint = "" if url.schema else _(" (without SCHEMA. the server's search_path is searched)")
        raise GridmapError(_("There is no table {table} in database {database} on {server}{hint} "
                             "(URL {url}). Tables with geometry there: {listed}. Names are matched exactly "
                             "(case and Chinese characters as written).").format(
            table=url.qualified, database=url.database, server=url.server, hint=hint, url=url, listed=listed))
    return int(row[0]), str(row[1]), str(row[2])


def _choose_geometry(url: DatabaseURL, columns) -> str:
    geoms = [name for name, t, _mod in columns if t in ("geometry", "geography")]
    if url.geometry:
        if url.geometry not in geoms:
            raise GridmapError(_("{where}: there is no geometry column {column} (?geometry=); its "
                                 "geometry columns are {columns} (URL {url}).").format(
                where=url.where, column=repr(url.geometry), columns=", ".join(geoms) or _("none"), url=url))
        return url.geometry
    if not geoms:
        raise GridmapError(_("{where} has no geometry column (a plain table?); its columns are "
                             "{columns} (URL {url}).").format(where=url.where, url=url,
                                                              columns=", ".join(n for n, _t, _m in columns)))
    if len(geoms) > 1:
        raise GridmapError(_("{where} has {count} geometry columns ({columns}): choose one "
                             "by adding ?geometry=COL to the URL, e.g. {url}?geometry={first}.").format(
            where=url.where, count=len(geoms), columns=", ".join(geoms), url=url, first=geoms[0]))
    return geoms[0]


def _srid(conn, schema: str, table: str, column: str, kind: str, url: DatabaseURL) -> int:
    """The column's SRID: its declared one, else the one every row has (refusing a mixture)."""
    from sqlalchemy import text

    declared = conn.execute(text(
        "SELECT srid FROM geometry_columns WHERE f_table_schema = :s AND f_table_name = :t AND f_geometry_column = :c "
        "UNION ALL SELECT srid FROM geography_columns WHERE f_table_schema = :s AND f_table_name = :t "
        "AND f_geography_column = :c"), {"s": schema, "t": table, "c": column}).scalar()
    if declared:
        return int(declared)
    cast = "::geometry" if kind == "geography" else ""
    found = [r[0] for r in conn.execute(text(
        f"SELECT DISTINCT ST_SRID({_ident(column)}{cast}) FROM {_ident(schema)}.{_ident(table)} "
        f"WHERE {_ident(column)} IS NOT NULL LIMIT 3")).all()]
    if len(found) > 1:
        raise GridmapError(_("{where}: the geometries of column {column} have several SRIDs "
                             "({srids}); gridmap reads one CRS per layer. Give the column a type with one SRID "
                             "(ALTER TABLE … TYPE geometry(…, SRID) USING ST_Transform(…)).").format(
            where=url.where, column=column, srids=", ".join(map(str, sorted(found)))))
    return int(found[0]) if found else 0


def _crs_of(conn, srid: int):
    """The CRS of ``srid``: its EPSG code, or the definition in ``spatial_ref_sys``; None for 0."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError
    from sqlalchemy import text

    if not srid:
        return None
    row = conn.execute(text("SELECT auth_name, auth_srid, srtext, proj4text FROM spatial_ref_sys WHERE srid = :s"),
                       {"s": srid}).first()
    candidates = []
    if row is not None:
        auth, code, wkt, proj4 = row
        if auth and code:
            candidates.append(f"{auth}:{code}")
        candidates += [wkt, proj4]
    candidates.append(f"EPSG:{srid}")
    for candidate in candidates:
        if not candidate:
            continue
        try:
            return CRS.from_user_input(candidate)
        except CRSError:
            continue
    return None


def _numeric_decimals(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``numeric`` columns arrive as Decimal objects: make them numbers (integers when whole)."""
    from decimal import Decimal

    for column in gdf.columns:
        if column == gdf.geometry.name or gdf[column].dtype != object:
            continue
        values = gdf[column].dropna()
        if len(values) and all(isinstance(v, Decimal) for v in values):
            numbers = pd.to_numeric(gdf[column].astype(float), errors="coerce")
            whole = numbers.dropna()
            if not numbers.isna().any() and (whole == np.floor(whole)).all():
                numbers = numbers.astype("int64")
            gdf[column] = numbers
    return gdf


def check_urls(layers: dict[str, str], database: str | None) -> None:
    """Before a run: every layer URL well formed (no password), and the results target reachable,
    with PostGIS, so a wrong target fails in seconds and not after the whole run."""
    for name, spec in layers.items():
        if is_database_url(spec):
            url = parse_url(spec)
            if name in TABLE_FILES:
                raise GridmapError(_("{name}: {url}: the {table} is read from a CSV or Excel file, "
                                     "not from a database; export the table (e.g. psql \\copy … TO 'members.csv' "
                                     "CSV HEADER) and give the file.").format(name=name, url=url,
                                                                              table=_(TABLE_FILES[name])))
    if database:
        url = parse_url(database, target=True)
        doing = _("checking the results target, schema {schema}").format(schema=url.schema)
        with _connection(url, doing) as conn:
            _require_postgis(conn, url, doing)


# ------------------------------------------------------------------ writing


@dataclass
class DatabaseWrite:
    """What ``write_results`` wrote: run id, target and rows per table."""

    url: DatabaseURL
    run_id: int
    tables: dict[str, int]

    def __str__(self) -> str:
        listed = ", ".join(f"{t} ({n})" for t, n in self.tables.items())
        return _("Wrote {count} tables into schema {schema} of database {database} "
                 "on {server} (run {run} in {schema}.{runs}): {listed}.").format(
            count=len(self.tables), schema=self.url.schema, database=self.url.database, server=self.url.server,
            run=self.run_id, runs=RUNS_TABLE, listed=listed)


def write_results(source, url: str, *, inputs: dict[str, str] | None = None) -> DatabaseWrite:
    """Write a run's tables into a PostGIS schema, in one transaction.

    Parameters
    ----------
    source : RunResult or path
        ``run_job``'s result (its frames are written, the same rows as its CSV files), or a run's
        output folder (its CSV files, with geometries from its GeoPackages).
    url : str
        ``postgresql://USER@HOST[:PORT]/DBNAME:SCHEMA``; the schema is created if missing.
    inputs : dict, optional
        The run's layers (name → spec), recorded in ``gridmap_runs`` with passwords masked.

    Returns
    -------
    DatabaseWrite
        The run id in ``SCHEMA.gridmap_runs`` and the row count of each table written.

    Raises
    ------
    GridmapError
        No connection or PostGIS, a table of the same name that gridmap did not write, or a failed
        write; the database is then left as it was.
    """
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from importlib.metadata import version

    target = parse_url(url, target=True)
    folder, frames = _frames(source)
    if not frames:
        raise GridmapError(_("{folder}: no run outputs found to write to {where}.").format(
            folder=folder, where=target.where))
    doing = _("writing the run's tables into schema {schema}").format(schema=target.schema)
    left = (_(" The run's files are in {folder}; the database was left as it was.").format(folder=folder) if folder
            else _(" The database was left as it was."))
    schema = _ident(target.schema)
    runs = f"{schema}.{_ident(RUNS_TABLE)}"
    try:
        with _connection(target, doing, transaction=True) as conn:
            _require_postgis(conn, target, doing)
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
            _ensure_registry(conn, target, runs)
            conn.execute(text(f"LOCK TABLE {runs} IN SHARE ROW EXCLUSIVE MODE"))  # one writer at a time
            existing = _existing_tables(conn, target.schema)
            owned = _owned_tables(conn, runs)
            foreign = sorted(name for name in frames if name in existing and owned.get(name) != existing[name])
            if foreign:
                raise GridmapError(ngettext(
                    "Schema {schema} of database {database} on {server} already holds a table that gridmap did "
                    "not write: {tables}. gridmap replaces only the tables its earlier runs wrote (listed in "
                    "{schema}.{runs}); rename or drop it yourself, or write into another schema.{left}",
                    "Schema {schema} of database {database} on {server} already holds tables that gridmap did "
                    "not write: {tables}. gridmap replaces only the tables its earlier runs wrote (listed in "
                    "{schema}.{runs}); rename or drop them yourself, or write into another schema.{left}",
                    len(foreign)).format(schema=target.schema, database=target.database, server=target.server,
                                         tables=", ".join(foreign), runs=RUNS_TABLE, left=left))
            for name, oid in owned.items():
                if existing.get(name) == oid:
                    conn.execute(text(f"DROP TABLE {schema}.{_ident(name)}"))
                    log.info("dropped %s.%s of the previous run", target.schema, name)
            counts, oids = {}, {}
            for name, frame in frames.items():
                counts[name] = _write_table(conn, frame, target.schema, name)
                oids[name] = int(conn.execute(text("SELECT to_regclass(:n)::oid"),
                                              {"n": f"{schema}.{_ident(name)}"}).scalar())
            masked_inputs = {k: mask(str(v)) for k, v in (inputs or {}).items()}
            run_id = conn.execute(text(
                f"INSERT INTO {runs} (gridmap_version, out_folder, inputs, tables, row_counts, table_oids) "
                "VALUES (:v, :o, CAST(:i AS jsonb), :t, CAST(:r AS jsonb), CAST(:x AS jsonb)) RETURNING run_id"),
                {"v": version("gridmap"), "o": str(folder) if folder else None,
                 "i": json.dumps(masked_inputs, ensure_ascii=False), "t": list(frames),
                 "r": json.dumps(counts), "x": json.dumps(oids)}).scalar()
    except (DBAPIError, ValueError) as exc:  # ValueError: pandas or geopandas refusing a frame
        raise GridmapError(_("Writing the run's tables into {where} failed: {reason}.{left}").format(
            where=target.where, reason=_reason(exc), left=left)) from None
    written = DatabaseWrite(target, int(run_id), counts)
    log.info("%s", written)
    return written


def _ensure_registry(conn, target: DatabaseURL, runs: str) -> None:
    from sqlalchemy import text

    conn.execute(text(
        f"CREATE TABLE IF NOT EXISTS {runs} ("
        "run_id bigserial PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT now(), "
        "written_by text NOT NULL DEFAULT current_user, gridmap_version text NOT NULL, out_folder text, "
        "inputs jsonb NOT NULL, tables text[] NOT NULL, row_counts jsonb NOT NULL, table_oids jsonb NOT NULL)"))
    have = {r[0] for r in conn.execute(text(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:n) AND attnum > 0 AND NOT attisdropped"),
        {"n": runs}).all()}
    if not set(RUNS_COLUMNS) <= have:
        raise GridmapError(_(
            "Schema {schema} of database {database} on {server} holds a table {runs} "
            "that gridmap did not create (it lacks {columns}): gridmap keeps its "
            "registry of written tables there. Write into another schema. The database was left as it was.").format(
            schema=target.schema, database=target.database, server=target.server, runs=RUNS_TABLE,
            columns=", ".join(sorted(set(RUNS_COLUMNS) - have))))


def _existing_tables(conn, schema: str) -> dict[str, int]:
    from sqlalchemy import text

    return {str(name): int(oid) for name, oid in conn.execute(text(
        "SELECT c.relname, c.oid::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = :s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"), {"s": schema}).all()}


def _owned_tables(conn, runs: str) -> dict[str, int]:
    """Tables the latest run wrote, with their OIDs (a table dropped and made again by someone else
    has another OID, so it is not taken for gridmap's)."""
    from sqlalchemy import text

    row = conn.execute(text(f"SELECT table_oids FROM {runs} ORDER BY run_id DESC LIMIT 1")).first()
    if row is None:
        return {}
    oids = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    return {str(k): int(v) for k, v in oids.items()}


def _write_table(conn, frame: pd.DataFrame, schema: str, name: str) -> int:
    from sqlalchemy import text

    too_long = [str(c) for c in frame.columns if len(str(c).encode("utf-8")) > 63]
    if too_long:
        raise GridmapError(_("Table {name}: PostgreSQL names are at most 63 bytes and these columns are longer: "
                             "{columns} (Chinese characters take 3 bytes each). Rename them in the input.").format(
            name=name, columns=", ".join(too_long)))
    if isinstance(frame, gpd.GeoDataFrame):
        gdf = frame
        if GEOMETRY_COLUMN not in gdf.columns:
            gdf = gdf.rename_geometry(GEOMETRY_COLUMN)
        if gdf.crs is not None and gdf.crs.to_epsg() is None:
            warnings.warn(_("Table {name} is written with SRID 0: its CRS ({crs}) has no EPSG code "
                            "that PostGIS knows.").format(name=name, crs=gdf.crs.name), CRSWarning, stacklevel=3)
        if len(gdf) and gdf.geometry.isna().all():  # to_postgis cannot type a column of nulls
            from geoalchemy2 import Geometry

            plain = pd.DataFrame(gdf.drop(columns=GEOMETRY_COLUMN))
            plain[GEOMETRY_COLUMN] = None
            srid = (gdf.crs.to_epsg() if gdf.crs is not None else None) or 0
            plain.to_sql(name, conn, schema=schema, if_exists="fail", index=False, method=_copy_rows,
                         dtype={GEOMETRY_COLUMN: Geometry("GEOMETRY", srid=srid)})
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                gdf.to_postgis(name, conn, schema=schema, if_exists="fail", index=False)
    else:
        pd.DataFrame(frame).to_sql(name, conn, schema=schema, if_exists="fail", index=False, method=_copy_rows)
    key = TABLES.get(name)
    if key and key in frame.columns and frame[key].notna().all() and frame[key].is_unique:
        conn.execute(text(f"ALTER TABLE {_ident(schema)}.{_ident(name)} ADD PRIMARY KEY ({_ident(key)})"))
    return len(frame)


def _copy_rows(table, conn, keys, rows) -> None:
    """pandas ``to_sql`` method: rows sent with COPY … CSV, as ``to_postgis`` sends them (None → NULL)."""
    import csv
    import io as _io

    buffer = _io.StringIO()
    csv.writer(buffer).writerows(rows)
    name = _ident(table.table.name)
    if table.table.schema:
        name = f"{_ident(table.table.schema)}.{name}"
    with conn.connection.cursor() as cursor, cursor.copy(
            f"COPY {name} ({', '.join(_ident(k) for k in keys)}) FROM STDIN WITH CSV") as copy:
        copy.write(buffer.getvalue())


# ------------------------------------------------------------------ what a run wrote


def _frames(source) -> tuple[Path | None, dict[str, pd.DataFrame]]:
    """The tables to write, in ``TABLES`` order, from a RunResult or from a run's folder."""
    if isinstance(source, (str, os.PathLike)):
        folder = Path(source)
        return folder, _frames_from_folder(folder)
    folder = Path(source.out)
    frames: dict[str, pd.DataFrame | None] = {}
    cls = source.classification
    if cls is not None:
        frames.update(compounds=cls.compounds, grids=cls.grids, overlaps=cls.overlaps)
    if source.alignment is not None:
        frames.update(proposal_grids=source.alignment.grids, proposal_changes=source.alignment.changes)
    if source.organisation is not None:
        frames["organization"] = source.organisation.units
    if source.microgrids is not None:
        frames["microgrids"] = source.microgrids.microgrids
    frames["reach"] = source.reach
    if (folder / "funding.csv").exists():
        frames["funding"] = _read_csv(folder / "funding.csv")
    # The same columns as the CSV files: the codes' label columns at the end (gridmap.vocab).
    return folder, {k: _text_lists(with_label_columns(v)) for k in TABLES if (v := frames.get(k)) is not None}


def _frames_from_folder(folder: Path) -> dict[str, pd.DataFrame]:
    if not folder.is_dir():
        raise GridmapError(_("{folder}: no such folder (give a gridmap run's output folder).").format(folder=folder))

    def csv_with(name: str, gpkg: str, layer: str):
        table = _read_csv(folder / name)
        if table is None:
            return None
        geoms = _read_gpkg(folder / gpkg, layer)
        if geoms is None or len(geoms) != len(table):
            return table
        return gpd.GeoDataFrame(table, geometry=geoms.geometry.to_numpy(), crs=geoms.crs)

    frames = {
        "compounds": csv_with("compounds.csv", "classification.gpkg", "compounds"),
        "grids": csv_with("grids.csv", "classification.gpkg", "grids"),
        "overlaps": _read_csv(folder / "overlaps.csv"),
        "proposal_grids": _read_gpkg(folder / "proposal.gpkg", "grids"),
        "proposal_changes": _read_gpkg(folder / "proposal.gpkg", "changes"),
        "organization": _read_csv(folder / "organization.csv"),
        "microgrids": _read_gpkg(folder / "microgrids.gpkg", "microgrids"),
        "reach": _read_csv(folder / "reach.csv"),
        "funding": _read_csv(folder / "funding.csv"),
    }
    return {k: _text_lists(v) for k, v in frames.items() if v is not None}


def _read_gpkg(path: Path, layer: str) -> gpd.GeoDataFrame | None:
    if not path.exists() or layer not in pyogrio.list_layers(path)[:, 0]:
        return None
    gdf = gpd.read_file(path, layer=layer)
    return gdf.rename_geometry("geometry") if gdf.geometry.name != "geometry" else gdf


def _read_csv(path: Path) -> pd.DataFrame | None:
    """A run's CSV with its types back: ids and codes stay text, True/False are booleans, columns
    whose every value is a number (and no code with a leading zero) are numbers."""

    if not path.exists():
        return None
    table = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig")
    for column in table.columns:
        values = table[column]
        if _is_id(column):
            continue
        present = values.dropna()
        if len(present) and present.isin(["True", "False"]).all():
            table[column] = values.map({"True": True, "False": False})
        else:
            table[column] = numeric_if_clean(values)
    return table


def _is_id(column) -> bool:

    name = str(column)
    ids = {n.lower() for key, names in settings.FIELDS.items() if key.endswith("_id") for n in names}
    return name.lower().endswith(("_id", "_ids", "id")) or name.lower() in ids or "编码" in name or "编号" in name


def _text_lists(frame: pd.DataFrame) -> pd.DataFrame:
    """Lists or tuples in a cell are joined with ``;`` as in the CSV files (docs/design.md §5)."""
    out = frame
    for column in frame.columns:
        if frame[column].dtype == object and column != getattr(frame, "_geometry_column_name", None):
            values = frame[column]
            if values.map(lambda v: isinstance(v, (list, tuple))).any():
                if out is frame:
                    out = frame.copy()
                out[column] = values.map(lambda v: ";".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
    return out


__all__ = ["DatabaseURL", "DatabaseWrite", "check_urls", "is_database_url", "mask", "parse_url", "read_table",
           "write_results"]
