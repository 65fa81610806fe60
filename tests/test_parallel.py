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
    assert Runner().processes == cores() and Runner().parallel == (cores() > 1)
    monkeypatch.setattr(settings, "PROCESSES", 1)
    assert Runner().processes == 1 and not Runner().parallel
