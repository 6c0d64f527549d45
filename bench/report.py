"""Results of a benchmark and how they are printed.

Every figure is a `Comparison`: liveblog's value, the raw baseline's value measured in the
same run, their ratio (always liveblog / raw) and the target the ratio must meet, if one
is set (a figure without one prints "no target" and is left out of the OK/MISSED count).
A `Limit` is a figure whose target bounds liveblog's own value instead (a latency in ms).
A missed target is printed as MISSED; nothing here raises or exits on one.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Comparison:
    """One figure of liveblog against its raw baseline."""

    metric: str
    liveblog: float
    raw: float
    target: float | None
    """None: the figure is reported, with no target to meet."""
    higher_is_better: bool
    """True: the ratio must be >= target (a rate); False: <= target (a time)."""

    @property
    def ratio(self) -> float:
        return self.liveblog / self.raw if self.raw else math.nan

    @property
    def ok(self) -> bool:
        if self.target is None:
            return True
        if math.isnan(self.ratio):
            return False
        return self.ratio >= self.target if self.higher_is_better else self.ratio <= self.target

    def line(self, metric_width: int = 0) -> str:
        if self.target is None:
            verdict = "no target"
        else:
            sign = ">=" if self.higher_is_better else "<="
            verdict = f"target {sign} {self.target:g}  {'OK' if self.ok else 'MISSED'}"
        return (
            f"{self.metric:<{metric_width}}  liveblog {number(self.liveblog):>7}"
            f"  raw {number(self.raw):>7}  ratio {self.ratio:5.2f}  {verdict}"
        )


@dataclass(frozen=True)
class Limit(Comparison):
    """A figure whose target bounds liveblog's own value (a latency, say), not the ratio.

    The raw baseline and the ratio are still printed, for context; `raw` may be NaN when
    there is no meaningful baseline.
    """

    unit: str = ""

    @property
    def ok(self) -> bool:
        if self.target is None:
            return True
        if math.isnan(self.liveblog):
            return False
        if self.higher_is_better:
            return self.liveblog >= self.target
        return self.liveblog <= self.target

    def line(self, metric_width: int = 0) -> str:
        text = super().line(metric_width)
        if self.target is None:
            return text
        sign = ">=" if self.higher_is_better else "<="
        head = text[: text.rindex("target ")]
        unit = f" {self.unit}" if self.unit else ""
        verdict = "OK" if self.ok else "MISSED"
        return f"{head}target liveblog {sign} {self.target:g}{unit}  {verdict}"


@dataclass
class Outcome:
    """What one benchmark measured: its comparisons, and notes explaining them."""

    comparisons: list[Comparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Benchmark:
    """A registered benchmark: a one-line title and the function that runs it."""

    title: str
    run: Callable[[], Outcome]


def number(value: float) -> str:
    """A figure with as many digits as a reader can use."""
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def median_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000 if seconds else math.nan


def print_outcome(outcome: Outcome) -> None:
    width = max((len(c.metric) for c in outcome.comparisons), default=0)
    for comparison in outcome.comparisons:
        print(f"  {comparison.line(width)}")
    for note in outcome.notes:
        print(f"  - {note}")


def print_summary(results: dict[str, Outcome], errors: list[str]) -> None:
    comparisons = [c for outcome in results.values() for c in outcome.comparisons]
    width = max((len(c.metric) for c in comparisons), default=0)
    print()
    print("== summary")
    for comparison in comparisons:
        print(f"  {comparison.line(width)}")
    targeted = [c for c in comparisons if c.target is not None]
    missed = sum(1 for c in targeted if not c.ok)
    print(
        f"  {len(targeted)} target(s): {len(targeted) - missed} OK, {missed} MISSED"
        + (
            f"; {len(comparisons) - len(targeted)} figure(s) with no target"
            if len(targeted) < len(comparisons)
            else ""
        )
        + (f"; {len(errors)} benchmark(s) failed to run: {', '.join(errors)}" if errors else "")
    )
