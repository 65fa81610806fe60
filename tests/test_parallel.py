"""The Runner gives the same results in order, in this process and in a local process pool, counts
progress, keeps each task's seconds, and names the community of a failed task."""

from __future__ import annotations

import math
import operator

import pytest

from gridmap import settings
from gridmap.errors import GridmapError
from gridmap.parallel import Runner, cores


@pytest.mark.parametrize("processes", [1, 2])
def test_results_in_order_with_progress_and_timings(processes):
    seen = []
    with Runner(processes=processes) as runner:
        out = runner.map(operator.neg, (i for i in range(20)), stage="s", keys=[f"c{i}" for i in range(20)],
                         total=20, progress=lambda done, total: seen.append((done, total)))
    assert out == [-i for i in range(20)]
    assert seen == [(i, 20) for i in range(1, 21)]
    assert sorted(k for k, _, _ in runner.timings["s"]) == sorted(f"c{i}" for i in range(20))
    assert all(wall >= 0 and cpu >= 0 for _, wall, cpu in runner.timings["s"])


def test_a_failed_task_names_its_community():
    with Runner(processes=2) as runner, pytest.raises(GridmapError, match="The task of c3 failed"):
        runner.map(math.sqrt, [4, 1, 9, -1, 16], stage="maps", keys=["c0", "c1", "c2", "c3", "c4"])
    with Runner(processes=1) as runner, pytest.raises(ValueError):  # here: the error as it is
        runner.map(math.sqrt, [4, -1], stage="maps")


def test_processes_from_settings(monkeypatch):
    monkeypatch.setattr(settings, "PROCESSES", None)
    monkeypatch.delenv("GRIDMAP_PROCESSES", raising=False)
    assert Runner().processes == cores() and Runner().parallel == (cores() > 1)
    monkeypatch.setattr(settings, "PROCESSES", 1)
    assert Runner().processes == 1 and not Runner().parallel


def test_processes_from_the_environment(monkeypatch):
    monkeypatch.setattr(settings, "PROCESSES", None)
    monkeypatch.setenv("GRIDMAP_PROCESSES", "1")
    assert Runner().processes == 1
    monkeypatch.setenv("GRIDMAP_PROCESSES", "3")
    assert Runner().processes == 3
    monkeypatch.setattr(settings, "PROCESSES", 2)  # the setting first
    assert Runner().processes == 2
    monkeypatch.setattr(settings, "PROCESSES", None)
    monkeypatch.setenv("GRIDMAP_PROCESSES", "two")
    with pytest.raises(GridmapError, match="GRIDMAP_PROCESSES=two"):
        Runner()


def _write(path, text):
    from pathlib import Path

    Path(path).write_text(text, encoding="utf-8")
    return path


def _fail(path):
    raise ValueError(f"cannot write {path}")


@pytest.mark.parametrize("processes", [1, 2])
def test_writers_beside_the_stages(tmp_path, processes):
    with Runner(processes=processes) as runner:
        runner.start()
        runner.submit(_write, tmp_path / "a.txt", "一", stage="organise")
        runner.submit(_write, tmp_path / "b.txt", "二", stage="shapefiles")
        runner.wait()
        assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "一"
        assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "二"
        assert [k for k, _, _ in runner.timings["organise"]] == ["write"]


def test_a_failed_writer_names_its_stage(tmp_path):
    with Runner(processes=2) as runner:
        runner.submit(_write, tmp_path / "a.txt", "一", stage="organise")
        runner.submit(_fail, tmp_path / "b.txt", stage="shapefiles")
        with pytest.raises(GridmapError, match="cannot write") as caught:
            runner.wait()
        assert caught.value.stage == "shapefiles"
