"""Errors users see as messages, and typed warnings (after maup's ``OverlapWarning``).

Each warning class has a ``title``, the words the console prints before its message, marked for
translation (:func:`warning_title` gives it in the user's language).
"""

from __future__ import annotations

from gridmap.i18n import N_, _


class GridmapError(Exception):
    """A problem with the user's input or options.

    The CLI prints the message as one paragraph and exits non-zero, without a traceback.
    The message names the file, layer, field or feature concerned and what to do.
    """


class GridmapWarning(UserWarning):
    """Base class of gridmap's warnings."""

    title = N_("Warning")


class RepairWarning(GridmapWarning):
    """Invalid geometries were repaired with ``make_valid``."""

    title = N_("Geometry repaired")


class DroppedGeometryWarning(GridmapWarning):
    """Null or empty geometries were dropped."""

    title = N_("Geometry dropped")


class OverlapWarning(GridmapWarning):
    """Features of one layer overlap each other."""

    title = N_("Overlap")


class GapWarning(GridmapWarning):
    """Grids leave gaps between them."""

    title = N_("Gap between grids")


class SliverWarning(GridmapWarning):
    """Compound–grid overlaps below the sliver threshold were ignored."""

    title = N_("Sliver overlaps")


class CRSWarning(GridmapWarning):
    """Layers were reprojected, or lie far apart."""

    title = N_("Coordinate system")


class DecodingWarning(GridmapWarning):
    """A layer's declared encoding contradicts its bytes, and another was used."""

    title = N_("Encoding")


class RenamedColumnWarning(GridmapWarning):
    """Input columns were renamed because they clash with computed ones (or with each other)."""

    title = N_("Field renamed")


class PlacementWarning(GridmapWarning):
    """Buildings or ledger members could not be placed in the organisation as given."""

    title = N_("Placement")


def warning_title(category: type) -> str:
    """The title the console prints before a warning of ``category``, in the user's language
    (``Warning`` for warnings that are not gridmap's)."""
    title = getattr(category, "title", None) if issubclass(category, GridmapWarning) else None
    return _(title or GridmapWarning.title)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (a library's multi-line text cut for one message)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
