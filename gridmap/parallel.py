"""Work community by community, in parallel: in this process, a local process pool, or on Dask.

A stage that works per community (organisation, micro-grids, pages, office folders) prepares each
community's slice once on the driver and hands a :class:`Runner` a function and the slices;
:meth:`Runner.map` returns the results in the order given, whichever process ran them. Three ways,
the same tasks and the same results:

- one process (``processes=1``): the tasks run here, one after the other;
- a local pool (the default): a ``concurrent.futures.ProcessPoolExecutor`` of
  ``settings.PROCESSES`` processes (the machine's cores when None), started from a fork server
  that imported gridmap once;
- a Dask client (``gridmap run --workers N`` or ``--scheduler``): the tasks go to its workers.

Slices are made lazily and at most a few per process are in flight, so the driver never holds
every community's slice at once. Each task's seconds (wall and CPU, measured where it ran) are kept
in :attr:`Runner.timings` for the benchmarks' simulated cluster (``benchmarks/bench_run.py``).
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import importlib
import logging
import multiprocessing
import os
import time
import uuid
from collections.abc import Callable, Iterable, Sequence

from gridmap import settings
from gridmap.errors import GridmapError
from gridmap.i18n import _

log = logging.getLogger(__name__)

#: Modules the pool's fork server imports once, so that each process starts with them loaded.
PRELOAD: tuple[str, ...] = ("gridmap.pipeline",)
#: Tasks in flight per process: enough to keep every process busy, few enough to bound memory.
IN_FLIGHT: int = 3


def cores() -> int:
    """The processor cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def timed(fn: Callable, arg) -> tuple[object, float, float]:
    """``fn(arg)`` with the wall and CPU seconds it took here."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn(arg)
    return value, time.perf_counter() - wall, time.process_time() - cpu


def configured() -> int:
    """The processes of the local pool: ``GRIDMAP_PROCESSES`` from the environment, else the cores.

    Raises
    ------
    GridmapError
        ``GRIDMAP_PROCESSES`` is not a whole number of 1 or more.
    """
    value = os.environ.get("GRIDMAP_PROCESSES", "").strip()
    if not value:
        return cores()
    if not value.isdigit() or int(value) < 1:
        raise GridmapError(_("GRIDMAP_PROCESSES={value}: give a whole number of processes, 1 or more (1 runs "
                             "everything in one process).").format(value=value))
    return int(value)


class Runner:
    """Runs a stage's per-community tasks here, in a local process pool, or on a Dask client.

    Parameters
    ----------
    processes : int, optional
        Size of the local pool; ``settings.PROCESSES`` when None (the cores when that is None too).
        1 runs every task in this process. Ignored with a ``client``.
    client : distributed.Client, optional
        Run the tasks on its workers instead.
    """

    def __init__(self, processes: int | None = None, client=None):
        self.client = client
        if processes is None:
            processes = settings.PROCESSES
        if processes is None and client is None:
            processes = configured()
        self.processes = max(1, int(processes or 1))
        self.timings: dict[str, list[tuple[str, float, float]]] = {}
        self._pool: cf.ProcessPoolExecutor | None = None
        self._background: list[tuple[str, object]] = []  # (stage, future) of submit()
        self._warming: list = []  # the Dask workers' preload tasks (start)

    @property
    def workers(self) -> int:
        """How many tasks run at once."""
        if self.client is not None:
            return max(1, len(self.client.scheduler_info().get("workers", {})))
        return self.processes

    @property
    def parallel(self) -> bool:
        return self.client is not None or self.processes > 1

    def map(self, fn: Callable, items: Iterable, *, stage: str, keys: Sequence[str] | None = None,
            total: int | None = None, progress: Callable[[int, int], None] | None = None) -> list:
        """``[fn(item) for item in items]``, in parallel where the runner can.

        Parameters
        ----------
        fn : callable
            A module-level function (it is pickled by name for other processes).
        items : iterable
            One argument per task, made as they are needed (a generator bounds the driver's memory).
        stage : str
            The stage's name, for :attr:`timings` and for messages.
        keys : sequence of str, optional
            A name per task (its community), for :attr:`timings` and for the error of a failed task.
        total : int, optional
            The number of items, for ``progress`` (``len(items)`` when it has one).
        progress : callable, optional
            Called with (tasks done, total) as each task ends.
        """
        if total is None:
            total = len(items) if hasattr(items, "__len__") else 0
        keys = list(keys) if keys is not None else None
        results: dict[int, object] = {}

        def done(i: int, outcome) -> None:
            results[i] = self._record(stage, keys[i] if keys else str(i), outcome)
            if progress:
                progress(len(results), total)

        if self.client is not None:
            self._dask(fn, items, done, stage, keys)
        elif self.processes > 1:
            self._local(fn, items, done, keys)
        else:
            for i, item in enumerate(items):
                done(i, timed(fn, item))
        return [results[i] for i in range(len(results))]

    def start(self) -> None:
        """Start the processes now, so that they import gridmap while the driver reads the layers
        (else the first per-community stage waits for them)."""
        if self.client is not None:
            # A task per worker, not waited for (Client.run(wait=False) refuses this set-up).
            run = uuid.uuid4().hex[:8]
            self._warming = [self.client.submit(_preload, key=f"preload-{k}-{run}", workers=[address], pure=False)
                             for k, address in enumerate(self.client.scheduler_info().get("workers", {}))]
        elif self.processes > 1:
            pool = self._local_pool()
            for _n in range(self.processes):
                pool.submit(_preload)

    def submit(self, fn: Callable, *args, stage: str, **kwargs) -> None:
        """Run ``fn(*args, **kwargs)`` beside the driver's next stages: a writer whose result the
        run does not need, only its files. In one process it runs at once; :meth:`wait` waits for
        the others (and raises their errors)."""
        call = functools.partial(fn, *args, **kwargs)
        if self.client is not None:
            future = self.client.submit(timed, _call, call, key=f"{stage}-write-{uuid.uuid4().hex[:8]}", pure=False)
        elif self.processes > 1:
            future = self._local_pool().submit(timed, _call, call)
        else:
            self._record(stage, "write", timed(_call, call))
            return
        self._background.append((stage, future))

    def wait(self) -> None:
        """Wait for what :meth:`submit` started.

        Raises
        ------
        GridmapError
            A writer failed; its ``stage`` attribute names the stage that submitted it.
        """
        pending, self._background = self._background, []
        for stage, future in pending:
            try:
                outcome = future.result()
            except Exception as exc:
                for _stage, other in pending:
                    other.cancel()
                error = _failed(exc, None)
                error.stage = stage
                raise error from exc
            self._record(stage, "write", outcome)

    def _record(self, stage: str, key: str, outcome: tuple[object, float, float]):
        """Keep a task's seconds (from :func:`timed`) in :attr:`timings`; its value."""
        value, wall, cpu = outcome
        self.timings.setdefault(stage, []).append((key, round(wall, 4), round(cpu, 4)))
        return value

    def _local_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(list(PRELOAD))
            self._pool = cf.ProcessPoolExecutor(self.processes, mp_context=context)
        return self._pool

    def _local(self, fn, items, done, keys) -> None:
        pool = self._local_pool()
        pending: dict[cf.Future, int] = {}
        try:
            for i, item in enumerate(items):
                pending[pool.submit(timed, fn, item)] = i
                while len(pending) >= self.processes * IN_FLIGHT:
                    self._collect(pending, done, keys)
            while pending:
                self._collect(pending, done, keys)
        except BaseException:
            for future in pending:
                future.cancel()
            raise

    @staticmethod
    def _collect(pending: dict, done, keys) -> None:
        finished, _pending = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
        for future in finished:
            i = pending.pop(future)
            try:
                outcome = future.result()
            except Exception as exc:
                raise _failed(exc, keys[i] if keys else None) from exc
            done(i, outcome)

    def _dask(self, fn, items, done, stage, keys) -> None:
        from distributed import as_completed

        run = uuid.uuid4().hex[:8]
        window = self.workers * IN_FLIGHT
        index: dict[str, int] = {}  # the tasks in flight
        queue = as_completed(loop=self.client.loop)
        try:
            for i, item in enumerate(items):
                future = self.client.submit(timed, fn, item, key=f"{stage}-{i}-{run}", pure=False, retries=1)
                index[future.key] = i
                queue.add(future)
                while len(index) >= window:
                    self._dask_one(queue, index, done, keys)
            while index:
                self._dask_one(queue, index, done, keys)
        except BaseException:
            for future in list(queue.futures):
                future.cancel()
            raise

    @staticmethod
    def _dask_one(queue, index, done, keys) -> None:
        future = next(queue)
        i = index.pop(future.key)
        try:
            outcome = future.result()
        except Exception as exc:  # the task's own error, or KilledWorker when its worker died twice
            raise _failed(exc, keys[i] if keys else None) from exc
        future.release()
        done(i, outcome)

    def close(self) -> None:
        """Stop the local pool (a Dask client is closed by whoever opened it); writers still
        running are waited for, those not started are cancelled."""
        for _stage, future in self._background:
            future.cancel()
        self._background = []
        self._warming = []
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _preload() -> None:
    """Import what the tasks need (run once in each process by :meth:`Runner.start`)."""
    for name in PRELOAD:
        importlib.import_module(name)


def _call(call: Callable):
    return call()


def _failed(exc: Exception, key: str | None) -> Exception:
    """A failed task's error (from another process), naming its community (``key``); gridmap's
    own errors pass as they are."""
    if isinstance(exc, GridmapError):
        return exc
    # The run names the stage ("Stage 'maps' failed: …"); the task names its community.
    if key is not None:
        return GridmapError(_("The task of {key} failed ({error}: {reason}).").format(
            key=key, error=type(exc).__name__, reason=exc))
    return GridmapError(_("A task failed ({error}: {reason}).").format(error=type(exc).__name__, reason=exc))


__all__ = ["IN_FLIGHT", "PRELOAD", "Runner", "configured", "cores", "timed"]
