"""Chat metrics (registered on the process registry, `GET /metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from live.metrics import REGISTRY

STORED = Counter("live_chat_messages_stored_total", "Chat messages stored (seq allocated)", registry=REGISTRY)
DUPLICATES = Counter("live_chat_nonce_repeats_total", "Chat sends answered with an already stored message",
                     registry=REGISTRY)
REFUSED = Counter("live_chat_refused_total", "Chat sends refused by a rule, by error code", ["code"],
                  registry=REGISTRY)
PUBLISH_FAILURES = Counter("live_chat_publish_failures_total",
                           "Stored chat events whose publish failed (recovery fills the gap)", registry=REGISTRY)
APPEND_SECONDS = Histogram(
    "live_chat_append_seconds", "Store + publish of one batch of a room's chat messages, room lock included",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
APPEND_BATCH = Histogram(
    "live_chat_append_batch_messages", "Chat messages stored together in one transaction (group commit)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 100), registry=REGISTRY,
)
HISTORY_READS = Counter("live_chat_history_reads_total", "Join/recovery history reads, by source",
                        ["source"], registry=REGISTRY)
JOINS = Counter("live_chat_joins_total", "join_state answers, by recovery outcome", ["outcome"],
                registry=REGISTRY)
