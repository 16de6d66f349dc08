"""Media metrics on `GET /metrics`, read from what the media processes report.

The relay runs in media processes, which count in plain integers (no metrics call per frame and
viewer) and report their totals with their state every second. The app node's collector turns the
latest reports of the processes it knows into the `live_media_*` families; with media workers
through Redis that is every worker of the deployment.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from live.media.placement import WorkerState
from live.metrics import REGISTRY


@runtime_checkable
class States(Protocol):
    """Whatever knows the latest reports of some media processes."""

    def states(self) -> list[WorkerState]: ...


_watched: list[States] = []


def watch(directory: object) -> None:
    """Report `directory`'s media processes on /metrics."""
    if isinstance(directory, States):
        _watched.append(directory)


def unwatch(directory: object) -> None:
    if directory in _watched:
        _watched.remove(directory)


class MediaCollector(Collector):
    def collect(self) -> Iterator[Any]:
        states = [s for d in list(_watched) for s in d.states()]
        processes = GaugeMetricFamily("live_media_processes", "Media processes reporting to this node")
        processes.add_metric([], len(states))
        publications = GaugeMetricFamily("live_media_publications", "Publishers being relayed (origins)")
        publications.add_metric([], sum(1 for s in states for origin, _ in s.feeds.values() if origin))
        relayed = GaugeMetricFamily("live_media_relayed_feeds", "Feeds received from their origin over a pipe (edges)")
        relayed.add_metric([], sum(1 for s in states for origin, _ in s.feeds.values() if not origin))
        subscriptions = GaugeMetricFamily("live_media_subscriptions", "Viewer connections of the media processes")
        subscriptions.add_metric([], sum(s.viewers for s in states))
        yield from (processes, publications, relayed, subscriptions)
        for name, key, doc in (
            ("live_media_frames_in", "frames_in", "Encoded frames received (from publishers and origins)"),
            ("live_media_frames_out", "frames_out", "Encoded frames handed to viewers' senders"),
            ("live_media_frames_dropped", "dropped",
             "Frames dropped from full viewer or pipe queues (video: flushed to the next keyframe)"),
        ):
            family = CounterMetricFamily(name, doc, labels=["kind"])
            for kind in ("audio", "video"):
                family.add_metric([kind], sum(float((s.counters.get(key) or {}).get(kind, 0)) for s in states))
            yield family
        requests = CounterMetricFamily("live_media_keyframe_requests",
                                       "Keyframe requests sent upstream (after throttling to one a second per source)")
        requests.add_metric([], sum(float(s.counters.get("keyframe_requests") or 0) for s in states))
        yield requests


REGISTRY.register(MediaCollector())
