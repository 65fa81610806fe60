"""Connecting to a Dask cluster for the per-community work of ``gridmap run`` (docs/design.md §8).

Grids never cross a community, so the organisation (one tree per community), the micro-grids (cut
grid by grid), the map pages and the office folders are each a task per community. The area-wide
steps (validate, classify, align, the assignment of buildings and members to grids, reach) run once
on the driver; each task gets its community's share of their results, and the driver puts the
results together into exactly the tables a single-process run makes (:class:`gridmap.parallel.Runner`
sends the tasks). Pages and office folders are written by the workers into the output folder, which
on a real cluster must be on storage every worker sees.
"""

from __future__ import annotations

import logging
import re

from gridmap.errors import GridmapError
from gridmap.i18n import _

log = logging.getLogger(__name__)

#: Seconds to wait for a scheduler before saying it cannot be reached.
CONNECT_TIMEOUT = 5

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


__all__ = ["CONNECT_TIMEOUT", "check_address", "close", "connect"]
