"""A small HDR-style latency histogram: log-linear buckets, mergeable, JSON-serialisable.

Values are recorded in microseconds. Below 128 us every value has its own bucket; above, each
power of two is split into 64 buckets, so a reported percentile is within 1/64 (1.6%) of the true
value at any magnitude, from 1 us to days, in about 2,300 counters. Two histograms add up bucket by
bucket, which is what lets shards from several machines merge (`loadtest merge`) into exact
percentiles rather than averages of percentiles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

LINEAR = 128  # values below this have exact buckets
SUB = 64  # buckets per power of two above it
MAX_SHIFT = 36  # ~ 2^43 us (100 days): more than any run lasts
SIZE = LINEAR + MAX_SHIFT * SUB


def index_of(value: int) -> int:
    """The bucket of a value in microseconds (negative values count as 0)."""
    if value < LINEAR:
        return value if value > 0 else 0
    shift = value.bit_length() - 7  # value >> shift is in 64..127
    if shift > MAX_SHIFT:
        return SIZE - 1
    return LINEAR + (shift - 1) * SUB + ((value >> shift) - SUB)


def value_of(index: int) -> float:
    """The middle of a bucket, in microseconds (what percentiles report)."""
    if index < LINEAR:
        return float(index)
    shift = (index - LINEAR) // SUB + 1
    low = ((index - LINEAR) % SUB + SUB) << shift
    return low + ((1 << shift) - 1) / 2


class Histogram:
    """Counts of latencies (us), with the exact minimum and maximum kept beside the buckets."""

    __slots__ = ("counts", "total", "max", "min")

    def __init__(self) -> None:
        self.counts = [0] * SIZE
        self.total = 0
        self.max = 0
        self.min = 0

    def record(self, value_us: int) -> None:
        if value_us < LINEAR:
            idx = value_us if value_us > 0 else 0
        else:
            idx = index_of(value_us)
        self.counts[idx] += 1
        if self.total == 0 or value_us < self.min:
            self.min = value_us
        if value_us > self.max:
            self.max = value_us
        self.total += 1

    def merge(self, other: Histogram) -> None:
        if other.total == 0:
            return
        counts = self.counts
        for i, n in enumerate(other.counts):
            if n:
                counts[i] += n
        self.min = other.min if self.total == 0 else min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.total += other.total

    def percentile(self, q: float) -> float:
        """The value (us) at or below which `q` percent of the recorded values fall."""
        if self.total == 0:
            return 0.0
        if q >= 100:
            return float(self.max)
        rank = max(1, round(self.total * q / 100.0 + 0.4999999))
        seen = 0
        for i, n in enumerate(self.counts):
            if n:
                seen += n
                if seen >= rank:
                    return min(max(value_of(i), float(self.min)), float(self.max))
        return float(self.max)

    def mean(self) -> float:
        if self.total == 0:
            return 0.0
        return sum(value_of(i) * n for i, n in enumerate(self.counts) if n) / self.total

    def summary_ms(self, quantiles: Iterable[float] = (50, 95, 99, 99.9)) -> dict[str, float]:
        """Percentiles and the maximum in milliseconds, keyed "p50", "p99.9", "max"."""
        out = {f"p{q:g}": round(self.percentile(q) / 1000.0, 3) for q in quantiles}
        out["max"] = round(self.max / 1000.0, 3)
        out["mean"] = round(self.mean() / 1000.0, 3)
        return out

    def buckets(self) -> list[tuple[float, int]]:
        """(bucket middle in us, count) for every non-empty bucket, smallest first."""
        return [(value_of(i), n) for i, n in enumerate(self.counts) if n]

    # -- serialisation: sparse, so a mostly-empty histogram is a few hundred bytes

    def to_json(self) -> dict[str, object]:
        return {
            "total": self.total,
            "min": self.min,
            "max": self.max,
            "counts": {str(i): n for i, n in enumerate(self.counts) if n},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Histogram:
        h = cls()
        counts = data.get("counts") or {}
        assert isinstance(counts, Mapping)
        for key, n in counts.items():
            h.counts[int(key)] += int(n)
        h.total = int(data.get("total") or 0)  # type: ignore[arg-type]
        h.min = int(data.get("min") or 0)  # type: ignore[arg-type]
        h.max = int(data.get("max") or 0)  # type: ignore[arg-type]
        return h

    def take(self) -> Histogram:
        """This histogram's contents as a new one, leaving this one empty (per-second deltas)."""
        out = Histogram()
        out.counts, out.total, out.max, out.min = self.counts, self.total, self.max, self.min
        self.counts = [0] * SIZE
        self.total = self.max = self.min = 0
        return out
