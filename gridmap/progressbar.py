"""The progress display of ``gridmap run``: one bar for the stages, and within the long stages
(organisation, micro-grids, pages, office folders) one for the communities with the time left.

The stages differ too much in cost for an estimate over them to mean anything, so only the
communities' bar shows the time left (rich's estimate from the speed so far).
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Column
from rich.text import Text

from gridmap.i18n import _
from gridmap.pipeline import stage_title


class _TimeLeft(TimeRemainingColumn):
    """The time left, on the communities' bar only."""

    def render(self, task) -> Text:
        return super().render(task) if task.fields.get("estimate") else Text("")


class RunProgress:
    """A context manager; :meth:`update` is the ``progress`` callback of ``run_job``."""

    def __init__(self, stages: int, console: Console):
        # The description's column is measured in cells: a Chinese character takes two.
        self.bar = Progress(TextColumn("{task.description}", table_column=Column(width=34, no_wrap=True)),
                            BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                            _TimeLeft(), console=console, transient=False)
        self.stages = stages
        self.stage = self.bar.add_task(escape(_("starting")), total=stages)
        self.units = self.bar.add_task("", total=1, visible=False, estimate=True)
        self.units_total: int | None = None

    def __enter__(self) -> RunProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.update(self.units, visible=False)
        if exc[0] is None:
            self.bar.update(self.stage, completed=self.stages, description=escape(_("done")))
        self.bar.__exit__(*exc)

    def update(self, stage: str, number: int, done: int | None = None, total: int | None = None) -> None:
        """Stage ``number`` (from 0) started; or, with ``done`` and ``total``, its communities so far."""
        if done is None:
            self.bar.update(self.stage, completed=number, description=escape(stage_title(stage)))
            self.bar.update(self.units, visible=False)
            self.units_total = None
            return
        if self.units_total != total:  # a new stage's communities: the estimate starts afresh
            self.bar.reset(self.units, total=total, description="  " + escape(_("communities")), visible=True)
            self.units_total = total
        self.bar.update(self.units, completed=done)


__all__ = ["RunProgress"]
