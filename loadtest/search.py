"""The ladder's search: which rate to try next, and the highest rate a target sustains.

A target *sustains* a rate under a latency bound when a step at that rate loses nothing (no
missing, duplicated or unanswered message, no failed or dropped connection) and its p99 is at or
under the bound. The search finds, for every bound at once, the highest rate sustained:

1. Coarse: from `start`, multiply the rate by `factor` while the loosest bound is sustained, and
   stop at the first step that is not (the target has failed: nothing higher is tried). Then, if
   no step has sustained the tightest bound yet (the very first step failed, or every step was
   over it), divide the lowest rate tried by `factor`, down to `floor`, until one does.
2. Fine: for each bound, bisect (geometrically) between the highest rate sustained and the lowest
   rate above it that was not, `fine_steps` times or until the two are within `resolution` of
   each other. Rates are rounded to two significant figures, so the table reads 230, not 226.27.

Pure: `next_rate()` says what to run, `record()` takes what happened; no clock, no I/O. The
assumption is that a target that fails a rate fails every higher one; where a noisy machine breaks
it (a fine step sustained above one that failed), the highest sustained rate still wins.
"""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one step at `rate` showed, as far as the search is concerned."""

    rate: float
    lossless: bool  # nothing missing, duplicated or unanswered; no connection failed or dropped
    p99_ms: float
    generator_bound: bool = False  # the load generator fell behind (or ran out of CPU) during the step

    def sustains(self, bound_ms: float) -> bool:
        return self.lossless and self.p99_ms <= bound_ms


@dataclasses.dataclass(frozen=True)
class Limit:
    """Under one bound: the highest step sustained and the lowest step above it that was not."""

    bound_ms: float
    sustained: Outcome | None
    failed: Outcome | None

    @property
    def capped_by_generator(self) -> bool:
        """The step that failed had the generator at its limit: the rate sustained is a floor of
        the target's, not its measure."""
        return self.failed is not None and self.failed.generator_bound

    @property
    def capped_by_ceiling(self) -> bool:
        """Every rate tried up to the ceiling was sustained: the target's limit is higher."""
        return self.sustained is not None and self.failed is None


def nice(rate: float, digits: int = 2) -> float:
    """`rate` rounded to `digits` significant figures (at least 0.1)."""
    if rate <= 0:
        return 0.0
    scale = 10 ** (math.floor(math.log10(rate)) - digits + 1)
    return max(0.1, round(round(rate / scale) * scale, 1))


class Search:
    """Coarse-then-fine search of the highest rate sustained under each of `bounds` (ms)."""

    def __init__(self, *, start: float, factor: float = 2.0, bounds: tuple[float, ...] = (100.0, 250.0),
                 fine_steps: int = 2, floor: float = 1.0, ceiling: float = 100_000.0,
                 resolution: float = 1.1) -> None:
        if start <= 0 or factor <= 1 or not bounds or floor <= 0 or ceiling < start or resolution <= 1:
            raise ValueError("need start > 0, factor > 1, some bounds, 0 < floor, ceiling >= start, resolution > 1")
        self.start, self.factor, self.fine_steps = start, factor, fine_steps
        self.bounds = tuple(sorted(bounds))
        self.floor, self.ceiling, self.resolution = floor, ceiling, resolution
        self.outcomes: list[Outcome] = []
        self.phases: list[str] = []  # the phase each outcome was run for ("coarse", "fine <= 100 ms")
        self.coarse_done = False

    # -- what to run next

    def next_rate(self) -> tuple[float, str] | None:
        """(rate, phase) of the next step, or None when the search is over."""
        if not self.coarse_done:
            rate = self._next_coarse()
            if rate is not None:
                return rate, "coarse"
            self.coarse_done = True
        for bound in self.bounds:
            rate = self._next_fine(bound)
            if rate is not None:
                return rate, f"fine <= {bound:g} ms"
        return None

    def _next_coarse(self) -> float | None:
        coarse = [o for o, p in zip(self.outcomes, self.phases, strict=True) if p == "coarse"]
        if not coarse:
            return self.start
        loosest, tightest = self.bounds[-1], self.bounds[0]
        if all(o.sustains(loosest) for o in coarse):
            rate = nice(coarse[-1].rate * self.factor, 3)
            return rate if rate <= self.ceiling else None
        # A step failed: the target stops climbing. Below, walk down until the tightest bound is
        # sustained too, so that every bound has a bracket for the fine search.
        if any(o.sustains(tightest) for o in self.outcomes):
            return None
        rate = nice(min(o.rate for o in coarse) / self.factor, 3)
        return rate if rate >= self.floor else None

    def _next_fine(self, bound: float) -> float | None:
        done = sum(1 for p in self.phases if p == f"fine <= {bound:g} ms")
        if done >= self.fine_steps:
            return None
        limit = self.limit(bound)
        if limit.sustained is None or limit.failed is None:
            return None
        lo, hi = limit.sustained.rate, limit.failed.rate
        if hi / lo <= self.resolution:
            return None
        tried = {o.rate for o in self.outcomes}
        middle = math.sqrt(lo * hi)
        for digits in (2, 3):
            rate = nice(middle, digits)
            if lo < rate < hi and rate not in tried:
                return rate
        return None

    # -- what happened

    def record(self, outcome: Outcome, phase: str) -> None:
        self.outcomes.append(outcome)
        self.phases.append(phase)

    def limit(self, bound: float) -> Limit:
        """The highest rate sustained under `bound` and the lowest failed rate above it."""
        ok = [o for o in self.outcomes if o.sustains(bound)]
        best = max(ok, key=lambda o: o.rate) if ok else None
        above = [o for o in self.outcomes if not o.sustains(bound) and (best is None or o.rate > best.rate)]
        failed = min(above, key=lambda o: o.rate) if above else None
        return Limit(bound, best, failed)
