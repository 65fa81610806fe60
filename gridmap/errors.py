"""Errors users see as messages, and typed warnings (after maup's ``OverlapWarning``)."""

from __future__ import annotations


class GridmapError(Exception):
    """A problem with the user's input or options.

    The CLI prints the message as one paragraph and exits non-zero, without a traceback.
    The message names the file, layer, field or feature concerned and what to do.
    """


class GridmapWarning(UserWarning):
    """Base class of gridmap's warnings."""


class RepairWarning(GridmapWarning):
    """Invalid geometries were repaired with ``make_valid``."""


class DroppedGeometryWarning(GridmapWarning):
    """Null or empty geometries were dropped."""


class OverlapWarning(GridmapWarning):
    """Features of one layer overlap each other."""


class GapWarning(GridmapWarning):
    """Grids leave gaps between them."""


class SliverWarning(GridmapWarning):
    """Compound–grid overlaps below the sliver threshold were ignored."""


class CRSWarning(GridmapWarning):
    """Layers were reprojected, or lie far apart."""


class DecodingWarning(GridmapWarning):
    """A layer's declared encoding contradicts its bytes, and another was used."""


class RenamedColumnWarning(GridmapWarning):
    """Input columns were renamed because they clash with computed ones (or with each other)."""


class PlacementWarning(GridmapWarning):
    """Buildings or ledger members could not be placed in the organisation as given."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (a library's multi-line text cut for one message)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
