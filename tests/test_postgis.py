"""PostGIS: layers read from, and a run's tables written to, a real throwaway PostgreSQL cluster.

The ``pg_server`` fixture starts a cluster in a temporary folder on a free loopback port (initdb and pg_ctl
of /usr/lib/postgresql/*/bin, as the ``postgres`` user when the tests run as root), with password
(SCRAM) authentication, and stops it at the end of the session. Where PostgreSQL or PostGIS is
missing or cannot start, the tests that need it are skipped with the reason (failed under CI, whose
``.ci/run`` installs both).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from conftest import ROOT
from gridmap.errors import GridmapError
from gridmap.io import parse_layer_spec, read_layer
from gridmap.io.postgis import is_database_url, mask, parse_url, write_results
from gridmap.project import load_project

PASSWORD = "Pw-9f3kQ7-gridmap-secret"  # distinctive, to search every output for it
USER = "gridmap_tester"


# ------------------------------------------------------------------ the throwaway cluster


@dataclass
class Cluster:
    port: int
    folder: Path

    def url(self, database: str, name: str = "", *, user: str = USER, query: str = "") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}" + (f":{name}" if name else "") + query

    def engine(self, database: str):
        from sqlalchemy import create_engine

        return create_engine(f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}")

    def sql(self, database: str, *statements: str, autocommit: bool = False):
        """Run statements; the rows of the last one."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=USER, dbname=database,
                             autocommit=autocommit) as conn:
            rows = None
            for statement in statements:
                cur = conn.execute(statement)
                rows = cur.fetchall() if cur.description else None
            return rows


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL/PostGIS needed by the PostGIS tests: {reason} (.ci/run installs "
                    "postgresql and postgresql-15-postgis-3)")
    pytest.skip(f"PostgreSQL/PostGIS not available: {reason}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_server():
    """A running cluster (or a skip naming why none could start); stopped at the end."""
    if os.environ.get("GRIDMAP_PG_BINDIR"):  # PostgreSQL installed elsewhere
        bins = glob.glob(os.path.join(os.environ["GRIDMAP_PG_BINDIR"], "initdb"))
    else:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not bins:
        _unavailable("no initdb in /usr/lib/postgresql/*/bin or $GRIDMAP_PG_BINDIR "
                     "(apt-get install postgresql postgresql-15-postgis-3)")
    bindir = Path(bins[-1]).parent
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="gridmap-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        import pwd

        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(folder)
            _unavailable("running as root and there is no 'postgres' user to run the cluster as")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    pwfile = folder / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if as_user:
        os.chown(pwfile, owner.pw_uid, owner.pw_gid)
    data = folder / "data"
    init = subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", USER, "-E", "UTF8",
                           "--locale=C.UTF-8", "--auth=scram-sha-256", f"--pwfile={pwfile}"],
                          capture_output=True, text=True)
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        _unavailable(f"initdb failed: {(init.stderr or init.stdout).strip()[-400:]}")
    port = None
    for _ in range(3):  # a port found free may be taken before the server binds it
        port = _free_port()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c full_page_writes=off"
        start = subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"),
                                "-o", options, "-w", "-t", "60", "start"], capture_output=True, text=True)
        if start.returncode == 0:
            break
    else:
        log = (folder / "log").read_text(errors="replace")[-600:] if (folder / "log").exists() else start.stderr
        shutil.rmtree(folder, ignore_errors=True)
        _unavailable(f"pg_ctl start failed: {log.strip()}")
    cluster = Cluster(port, folder)
    try:
        yield cluster
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg(pg_server):
    """The cluster with PGPASSWORD set for this process (and the gridmap subprocesses it starts),
    a database ``city`` with PostGIS and the sample in schema ``src``, and ``plain`` without PostGIS."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PGPASSWORD", PASSWORD)
        for variable in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGSERVICE"):
            mp.delenv(variable, raising=False)
        if not hasattr(pg_server, "loaded"):
            pg_server.sql("postgres", "CREATE DATABASE city", "CREATE DATABASE plain", autocommit=True)
            try:
                pg_server.sql("city", "CREATE EXTENSION postgis")
            except Exception as exc:
                _unavailable(f"CREATE EXTENSION postgis failed ({exc}); install postgresql-15-postgis-3")
            _load_sample(pg_server)
            pg_server.loaded = True
        yield pg_server


def _load_sample(cluster: Cluster) -> None:
    """compounds and grids of boundaries/ as src.小区 and src.网格, with Chinese columns, EPSG:4490."""
    if not (ROOT / "boundaries" / "compounds.geojson").exists():
        pytest.skip("the bundled sample is not built")
    cluster.sql("city", "CREATE SCHEMA src")
    engine = cluster.engine("city")
    compounds = gpd.read_file(ROOT / "boundaries" / "compounds.geojson").to_crs(4490)
    compounds = compounds.rename(columns={"compound_id": "小区编码", "name": "小区名称", "type": "小区类型",
                                          "households": "户数"}).rename_geometry("geom")
    grids = gpd.read_file(ROOT / "boundaries" / "grids.geojson").to_crs(4490)
    grids = grids.rename(columns={"grid_id": "网格编码", "name": "网格名称", "community": "所属社区",
                                  "households": "户数"}).rename_geometry("geom")
    with engine.begin() as conn:
        compounds.to_postgis("小区", conn, schema="src", index=False)
        grids.to_postgis("网格", conn, schema="src", index=False)
    engine.dispose()


def gridmap(*args, env=None):
    return subprocess.run([sys.executable, "-m", "gridmap", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600, env=env)


# ------------------------------------------------------------------ URLs (no database needed)


def test_urls_are_parsed_with_chinese_names_and_options():
    u = parse_url("postgresql://planner@db.example:6543/city:src.小区?geometry=边界&sslmode=require")
    assert (u.user, u.host, u.port, u.database, u.schema, u.table, u.geometry) == (
        "planner", "db.example", 6543, "city", "src", "小区", "边界")
    assert u.options == {"sslmode": "require"}
    u = parse_url("postgres://db/city:%E7%BD%91%E6%A0%BC")
    assert (u.user, u.port, u.schema, u.table) == (None, None, None, "网格")
    assert parse_url('postgresql://u@h/d:"a.b".c').schema == "a.b"
    t = parse_url("postgresql://u@h/city:gridmap_out", target=True)
    assert t.schema == "gridmap_out" and t.table is None
    # parse_layer_spec leaves the ":TABLE" alone, and a project checks no file for it
    assert parse_layer_spec("postgresql://u@h:5432/city:src.小区").layer is None
    assert is_database_url("postgresql://u@h/city:t") and not is_database_url("/data/city.gpkg:t")


@pytest.mark.parametrize("url", ["postgresql://planner:hunter2secret@db/city:src.小区",
                                 "postgresql://planner@db/city:src.小区?password=hunter2secret",
                                 "postgres://planner:hunter2secret@db:5432/city:out"])
def test_a_url_with_a_password_is_refused_with_the_password_masked(url):
    with pytest.raises(GridmapError) as err:
        parse_url(url, target=url.endswith(":out"))
    message = str(err.value)
    assert "hunter2secret" not in message and "***" in message
    assert "PGPASSWORD" in message and ".pgpass" in message
    assert "hunter2secret" not in mask(url)


def test_the_cli_refuses_a_password_and_never_prints_it(tmp_path):
    url = "postgresql://planner:hunter2secret@127.0.0.1:1/city"
    r = gridmap("run", "--compounds", url + ":src.小区", "--grids", url + ":src.网格", "--out", tmp_path / "o")
    assert r.returncode == 1 and "hunter2secret" not in r.stdout + r.stderr
    assert "PGPASSWORD" in r.stderr
    r = gridmap("run", "--compounds", ROOT / "boundaries" / "compounds.geojson", "--grids",
                ROOT / "boundaries" / "grids.geojson", "--to-db", url + ":out", "--out", tmp_path / "o")
    assert r.returncode == 1 and "hunter2secret" not in r.stdout + r.stderr and "***" in r.stderr
    assert not (tmp_path / "o").exists()  # refused before any work


def test_ledger_and_roster_urls_are_refused_before_the_run(tmp_path):
    from gridmap.project import LayerConfig, Project

    sample = ROOT / "boundaries"
    project = Project(layers={"compounds": LayerConfig(str(sample / "compounds.geojson")),
                              "grids": LayerConfig(str(sample / "grids.geojson")),
                              "members": LayerConfig("postgresql://planner@db/city:src.党员")}, out=tmp_path / "o")
    with pytest.raises(GridmapError, match="member ledger is read from a CSV or Excel file"):
        project.require_files()


def test_a_project_file_takes_database_urls(tmp_path):
    project = tmp_path / "p.toml"
    project.write_text('[layers.compounds]\npath = "postgresql://planner@db:5432/city:src.小区"\n'
                       '[layers.grids]\npath = "postgresql://planner@db:5432/city"\nlayer = "src.网格"\n'
                       '[output]\nfolder = "out"\ndatabase = "postgresql://planner@db:5432/city:gridmap_out"\n',
                       encoding="utf-8")
    p = load_project(project)
    assert p.layers["compounds"].spec == "postgresql://planner@db:5432/city:src.小区"
    assert p.layers["grids"].spec == "postgresql://planner@db:5432/city:src.网格"
    assert p.database == "postgresql://planner@db:5432/city:gridmap_out" and p.missing_files() == []
    project.write_text('[layers.compounds]\npath = "a.geojson"\n[layers.grids]\npath = "b.geojson"\n'
                       '[output]\ndatabase = "postgresql://planner:hunter2secret@db/city:out"\n', encoding="utf-8")
    with pytest.raises(GridmapError, match=r"line 6: \[output\] database") as err:
        load_project(project)
    assert "hunter2secret" not in str(err.value)


# ------------------------------------------------------------------ reading


def test_a_table_with_chinese_names_reads_like_a_file(pg):
    c = read_layer(pg.url("city", "src.小区"))
    assert {"小区编码", "户数", "小区名称"} <= set(c.columns) and c.geometry.name == "geometry"
    assert c.crs.to_epsg() == 4490 and c.attrs["source"] == pg.url("city", "src.小区")
    ref = gpd.read_file(ROOT / "boundaries" / "compounds.geojson")
    assert list(c["小区编码"]) == list(ref.compound_id) and list(c["户数"]) == list(ref.households)
    assert shapely.equals_exact(c.geometry.to_numpy(), ref.geometry.to_numpy(), tolerance=1e-9).all()
    assert PASSWORD not in c.attrs["source"]


def test_several_geometry_columns_need_geometry_query_and_any_srid_works(pg):
    pg.sql("city", "CREATE TABLE src.站点 (编码 text, 人数 numeric(8,0), 位置 geometry(Point, 4490), "
                   "位置投影 geometry(Point, 4547))",
           "INSERT INTO src.站点 VALUES ('007', 12, ST_SetSRID(ST_MakePoint(112.55, 37.86), 4490), "
           "ST_Transform(ST_SetSRID(ST_MakePoint(112.55, 37.86), 4490), 4547))")
    with pytest.raises(GridmapError, match=r"2 geometry columns \(位置, 位置投影\).*\?geometry=") as err:
        read_layer(pg.url("city", "src.站点"))
    assert "city" in str(err.value) and "127.0.0.1" in str(err.value)
    lonlat = read_layer(pg.url("city", "src.站点", query="?geometry=位置"))
    metric = read_layer(pg.url("city", "src.站点", query="?geometry=%E4%BD%8D%E7%BD%AE%E6%8A%95%E5%BD%B1"))
    assert lonlat.crs.to_epsg() == 4490 and metric.crs.to_epsg() == 4547
    assert metric.geometry.iloc[0].x > 300_000 and lonlat.geometry.iloc[0].x == pytest.approx(112.55)
    assert lonlat["编码"].iloc[0] == "007" and lonlat["人数"].iloc[0] == 12  # numeric → a number, code stays text
    assert "位置投影" not in lonlat.columns
    with pytest.raises(GridmapError, match="no geometry column 'nope'.*位置, 位置投影"):
        read_layer(pg.url("city", "src.站点", query="?geometry=nope"))


def test_an_untyped_column_with_srid_zero_needs_crs(pg):
    pg.sql("city", "CREATE TABLE public.raw (id text, g geometry)",
           "INSERT INTO public.raw VALUES ('a', ST_MakePoint(520000, 4190000))")
    with pytest.raises(GridmapError, match="no coordinate reference system"):
        read_layer(pg.url("city", "raw"))
    assert read_layer(pg.url("city", "raw"), crs="EPSG:4547").crs.to_epsg() == 4547


def test_a_missing_table_names_host_database_and_table(pg):
    with pytest.raises(GridmapError) as err:
        read_layer(pg.url("city", "src.不存在"))
    message = str(err.value)
    assert "no table src.不存在 in database city on 127.0.0.1" in message and "src.小区" in message
    assert "\n" not in message and PASSWORD not in message


def test_a_failed_connection_is_one_clear_paragraph(pg):
    port = _free_port()
    with pytest.raises(GridmapError) as err:
        read_layer(f"postgresql://{USER}@127.0.0.1:{port}/city:src.小区")
    message = str(err.value)
    assert f"Cannot connect to database city on 127.0.0.1:{port} as {USER}" in message
    assert "src.小区" in message and "PGPASSWORD" in message and "\n" not in message
    with pytest.raises(GridmapError, match="database nosuchdb"):
        read_layer(pg.url("nosuchdb", "src.小区"))
    with pytest.raises(GridmapError, match="password authentication failed") as err, \
            pytest.MonkeyPatch.context() as mp:
        mp.setenv("PGPASSWORD", "wrong-" + PASSWORD)
        read_layer(pg.url("city", "src.小区"))
    assert PASSWORD not in str(err.value)


def test_a_database_without_postgis_is_named(pg, tmp_path):
    with pytest.raises(GridmapError) as err:
        read_layer(pg.url("plain", "public.小区"))
    message = str(err.value)
    assert "Database plain on 127.0.0.1" in message and "no PostGIS extension" in message
    assert "CREATE EXTENSION postgis" in message and "public.小区" in message
    (tmp_path / "overlaps.csv").write_text("compound_id,grid_id\nXQ1,WG1\n", encoding="utf-8-sig")
    with pytest.raises(GridmapError, match="no PostGIS"):
        write_results(tmp_path, pg.url("plain", "out"))


def test_pgpass_is_read_when_pgpassword_is_unset(pg, tmp_path, monkeypatch):
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{pg.port}:*:{USER}:{PASSWORD}\n")
    passfile.chmod(0o600)
    monkeypatch.delenv("PGPASSWORD")
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    assert len(read_layer(pg.url("city", "src.网格"))) == 125


# ------------------------------------------------------------------ a whole run into PostGIS


@pytest.fixture(scope="session")
def db_run(pg, tmp_path_factory):
    """``gridmap run`` from the database into it, through the command line."""
    out = tmp_path_factory.mktemp("pgrun") / "out"
    sample = ROOT / "boundaries"
    r = gridmap("run", "--compounds", pg.url("city", "src.小区"), "--grids", pg.url("city", "src.网格"),
                "--buildings", sample / "buildings.geojson", "--streets", sample / "streets.geojson",
                "--stations", sample / "stations.geojson", "--to-db", pg.url("city", "gridmap_out"),
                "--basemap", "none", "--out", out)
    assert r.returncode == 0, r.stderr[-3000:]
    return out, r


def _db_table(pg, table: str) -> pd.DataFrame:
    engine = pg.engine("city")
    with engine.connect() as conn:
        frame = pd.read_sql(f'SELECT * FROM gridmap_out."{table}"', conn)
    engine.dispose()
    return frame


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells as the CSV shows them: NULL and empty are both empty, numbers and booleans as written."""
    return frame.apply(lambda col: col.map(lambda v: "" if v is None or (isinstance(v, float) and pd.isna(v))
                                           else str(v))).reset_index(drop=True)


@pytest.mark.parametrize("table,csv", [("compounds", "compounds.csv"), ("grids", "grids.csv"),
                                       ("overlaps", "overlaps.csv"), ("organization", "organization.csv"),
                                       ("reach", "reach.csv")])
def test_written_tables_equal_the_run_csvs(pg, db_run, table, csv):
    out, _ = db_run
    expected = pd.read_csv(out / csv, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    got = _db_table(pg, table)
    geometry = [c for c in got.columns if c == "geom"]
    assert list(got.drop(columns=geometry).columns) == list(expected.columns)
    pd.testing.assert_frame_equal(_as_text(got.drop(columns=geometry)), _as_text(expected))
    if table in ("compounds", "grids"):
        srid = pg.sql("city", f"SELECT Find_SRID('gridmap_out', '{table}', 'geom')")[0][0]
        assert srid == 4490


def test_written_geometries_and_ids_match_the_geopackages(pg, db_run):
    out, _ = db_run
    for table, gpkg, layer, key in (("proposal_grids", "proposal.gpkg", "grids", "grid_id"),
                                    ("proposal_changes", "proposal.gpkg", "changes", "compound_id"),
                                    ("microgrids", "microgrids.gpkg", "microgrids", "microgrid_id"),
                                    ("compounds", "classification.gpkg", "compounds", "compound_id")):
        engine = pg.engine("city")
        with engine.connect() as conn:
            got = gpd.read_postgis(f'SELECT * FROM gridmap_out."{table}"', conn, geom_col="geom")
        engine.dispose()
        expected = gpd.read_file(out / gpkg, layer=layer)
        assert got.crs.to_epsg() == 4490 == expected.crs.to_epsg(), table
        # Open land that changes grid has no compound (an empty id): the rest are text ids.
        assert list(got[key].fillna("")) == list(expected[key].fillna("")), table
        assert got[key].dropna().map(type).eq(str).all(), table
        # The same shapes (a GeoPackage layer of mixed polygons is written as multipolygons).
        assert shapely.equals(got.geometry.to_numpy(), expected.geometry.to_numpy()).all(), table


def test_the_registry_records_the_run_without_passwords(pg, db_run):
    out, r = db_run
    rows = pg.sql("city", "SELECT gridmap_version, inputs, tables, row_counts, out_folder FROM gridmap_out.gridmap_runs")
    version, inputs, tables, counts, folder = rows[-1]
    assert tables == ["compounds", "grids", "overlaps", "proposal_grids", "proposal_changes", "organization",
                      "microgrids", "reach"]
    assert inputs["compounds"] == pg.url("city", "src.小区") and folder == str(out)
    assert counts["compounds"] == len(pd.read_csv(out / "compounds.csv"))
    assert version and "Wrote 8 tables into schema gridmap_out" in r.stdout
    keys = pg.sql("city", "SELECT c.relname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
                          "WHERE k.contype = 'p' AND c.relnamespace = 'gridmap_out'::regnamespace")
    assert {"compounds", "grids", "microgrids"} <= {k for (k,) in keys}


def test_no_password_in_any_output_or_console(db_run):
    out, r = db_run
    assert PASSWORD not in r.stdout + r.stderr
    for path in out.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_a_second_run_replaces_only_its_own_tables(pg, db_run, tmp_path):
    out, _ = db_run
    before = dict(pg.sql("city", "SELECT relname, oid::bigint FROM pg_class "
                                 "WHERE relnamespace = 'gridmap_out'::regnamespace AND relkind = 'r'"))
    pg.sql("city", "CREATE TABLE gridmap_out.notes (note text)", "INSERT INTO gridmap_out.notes VALUES ('mine')")
    # a folder written again (with a funding.csv) replaces the run's tables; the user's table stays
    copy = tmp_path / "again"
    shutil.copytree(out, copy)
    (copy / "funding.csv").write_text("community,amount_yuan\n滨河社区,120000\n", encoding="utf-8-sig")
    written = write_results(copy, pg.url("city", "gridmap_out"))
    assert written.tables["funding"] == 1 and written.tables["compounds"] == len(pd.read_csv(out / "compounds.csv"))
    after = dict(pg.sql("city", "SELECT relname, oid::bigint FROM pg_class "
                                "WHERE relnamespace = 'gridmap_out'::regnamespace AND relkind = 'r'"))
    assert after["notes"] == before.get("notes", after["notes"]) and after["compounds"] != before["compounds"]
    assert pg.sql("city", "SELECT note FROM gridmap_out.notes") == [("mine",)]
    assert _db_table(pg, "funding").amount_yuan.tolist() == [120000]
    folder_compounds = _as_text(_db_table(pg, "compounds").drop(columns="geom"))
    expected = pd.read_csv(out / "compounds.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    pd.testing.assert_frame_equal(folder_compounds, _as_text(expected))
    runs = pg.sql("city", "SELECT tables FROM gridmap_out.gridmap_runs ORDER BY run_id")
    assert len(runs) >= 2 and "funding" in runs[-1][0]


def test_a_foreign_table_of_the_same_name_is_never_dropped(pg, db_run, tmp_path):
    out, _ = db_run
    pg.sql("city", "CREATE SCHEMA theirs", "CREATE TABLE theirs.grids (grid_id text, owner text)",
           "INSERT INTO theirs.grids VALUES ('WG1', 'street office')")
    with pytest.raises(GridmapError) as err:
        write_results(out, pg.url("city", "theirs"))
    message = str(err.value)
    assert "gridmap did not write: grids" in message and "left as it was" in message
    assert pg.sql("city", "SELECT owner FROM theirs.grids") == [("street office",)]
    assert pg.sql("city", "SELECT to_regclass('theirs.compounds') IS NULL")[0][0]  # nothing written
    # a table gridmap wrote, dropped and made again by someone else, is not gridmap's any more
    write_results(out, pg.url("city", "mine"))
    pg.sql("city", "DROP TABLE mine.overlaps", "CREATE TABLE mine.overlaps (x int)")
    kept = pg.sql("city", "SELECT to_regclass('mine.compounds')::oid::bigint, count(*) FROM mine.gridmap_runs")
    with pytest.raises(GridmapError, match="did not write: overlaps"):
        write_results(out, pg.url("city", "mine"))
    assert pg.sql("city", "SELECT to_regclass('mine.compounds')::oid::bigint, count(*) FROM mine.gridmap_runs") == kept
