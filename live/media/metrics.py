"""Media relay metrics (on the process registry, `GET /metrics`); updated from the relay thread
(prometheus_client is thread-safe). In a media worker they count in the worker's process."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from live.metrics import REGISTRY

PUBLICATIONS = Gauge("live_media_publications", "Publishers being relayed by this process", registry=REGISTRY)
SUBSCRIPTIONS = Gauge("live_media_subscriptions", "Subscriber connections of this process's relay",
                      registry=REGISTRY)
FRAMES_IN = Counter("live_media_frames_in_total", "Encoded frames received from publishers", ["kind"],
                    registry=REGISTRY)
FRAMES_OUT = Counter("live_media_frames_out_total", "Encoded frames handed to subscribers' senders", ["kind"],
                     registry=REGISTRY)
DROPPED = Counter("live_media_frames_dropped_total",
                  "Frames dropped from full subscriber queues (video: flushed to the next keyframe)", ["kind"],
                  registry=REGISTRY)
KEYFRAME_REQUESTS = Counter("live_media_keyframe_requests_total",
                            "PLIs sent to publishers (after throttling to one a second per source)",
                            registry=REGISTRY)

IN = {k: FRAMES_IN.labels(k) for k in ("audio", "video")}
OUT = {k: FRAMES_OUT.labels(k) for k in ("audio", "video")}
DROP = {k: DROPPED.labels(k) for k in ("audio", "video")}
