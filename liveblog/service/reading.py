"""The read side: the log exported, the projections caught up or rebuilt, status,
summaries and publishing (what `status`, `summary`, `export`, `publish`, the API's
summary route and the scheduler call)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..domain import context as ctx
from ..domain.clock import parse_at, zone
from .base import ServicePart

if TYPE_CHECKING:
    from ..feeds import PublishOptions, PublishResult
    from ..projections import ProjectionRunner


class Reading(ServicePart):
    """Reads the log and what is derived from it; writes only the projections (and, to
    publish, the feeds directory)."""

    def export(self, since: int = 0) -> Iterator[dict[str, Any]]:
        for event in self.log.read(after=since):
            yield event.to_export()

    # -- projections and summaries ---------------------------------------------------

    @property
    def projections(self) -> ProjectionRunner:
        if self._projections is None:
            from ..projections import runner_for

            self._projections = runner_for(self.stores)
        return self._projections

    def catch_up(self, progress: Callable[[int], None] | None = None) -> dict[str, int]:
        if self.log.readonly:
            return {}  # nothing can be written: readers replay privately instead (summary)
        return self.projections.catch_up(progress)

    def rebuild(self, progress: Callable[[int], None] | None = None) -> dict[str, int]:
        self.log.require_writable()
        self.stores.recheck_configuration()  # tables dropped by hand come back (empty)
        hooks = self._hooks
        with hooks.writing():
            # Derived from the deliveries like a projection from the log: again.
            hooks.refill_queue_state()
        return self.projections.rebuild(progress)

    def status(self) -> dict[str, Any]:
        from ..webhooks.queue import backlog
        from ..webhooks.subscriptions import totals

        head = self.log.head()
        return {
            "head": head,
            "projections": [
                {"name": s.name, "version": s.version, "position": s.position, "lag": s.lag}
                for s in self.projections.status()
            ],
            # Counts kept as deliveries change, and one pass over the subscriptions in SQL:
            # never a count of the delivery history.
            "webhooks": {**totals(self._hooks, head), **backlog(self._hooks)},
        }

    def publish(
        self,
        options: PublishOptions,
        *,
        everything: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> PublishResult:
        """Catch the projections up, then render the conferences that changed since the
        feeds directory was last published (every one with `everything`) and write the
        files whose bytes change. The publisher reads one snapshot of its own."""
        from ..feeds import Publisher

        self.log.require_writable()
        self.catch_up()
        reading = self.stores.timeline, self.stores.published
        # On PostgreSQL the documents go into the database too: every node serves them.
        publisher = Publisher(*reading, options, documents=self.stores.documents)
        return publisher.publish(everything=everything, progress=progress)

    def summary_conference(self, conference: str | None) -> ctx.Conference:
        """--conference, else the reporter's context, else the log's only conference."""
        return ctx.reading_conference(self.log, self.author, conference)

    def summary(
        self,
        day: int,
        *,
        conference: str | None = None,
        fmt: str = "markdown",
        as_of: str | None = None,
        template: Path | None = None,
    ) -> str:
        """Day `day`'s summary, now or `as_of` a past moment, in `fmt` or a template."""
        from ..summary import build_day_summary, render
        from ..summary.history import summary_as_of, summary_replayed

        found = self.summary_conference(conference)
        if as_of is not None:
            moment = parse_at(as_of, zone(found.opened.timezone))
            data = summary_as_of(self.log, found.slug, day, moment)
        elif self.log.readonly and not self.projections.current():
            # The projection cannot be brought up to date here: replay the log privately.
            data = summary_replayed(self.log, found.slug, day)
        else:
            self.catch_up()
            data = build_day_summary(self.stores.timeline, found.slug, day)
        return render(data, fmt, template)
