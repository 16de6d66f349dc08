"""The audience part of `make bench`: what it computes from the runs, and the file its 720p host sends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av

from live.media.synthetic import write_pattern_webm
from loadtest import bench_audience


def _worker(origin: bool, subscribers: int, cpu: float) -> dict[str, Any]:
    return {"origin": origin, "subscribers": subscribers, "cpu_avg": cpu, "fps_avg": 30.0, "loss_pct_avg": 0.0,
            "loss_pct_max": 0.0, "first_frame_ms": {"p50": 40.0, "p99": 90.0}}


def _media(by_worker: dict[str, Any], tree: dict[str, Any] | None) -> dict[str, Any]:
    n = sum(w["subscribers"] for w in by_worker.values())
    return {"command": "python -m loadtest media ...", "summary": {
        "connected": n, "fps_avg": 30.0, "loss_pct_avg": 0.0, "loss_pct_max": 0.0,
        "first_frame_ms": {"p99": 90.0}, "by_worker": by_worker, **({"tree": tree} if tree else {})}}


def test_the_origins_cost_per_edge_is_the_difference_of_two_runs() -> None:
    one = _media({"a": _worker(True, 10, 12.0)}, None)
    three = _media({"b": _worker(True, 10, 13.0), "c": _worker(False, 10, 5.0), "d": _worker(False, 10, 5.0)},
                   {"edges": 2, "cpu_per_viewer_pct": 0.5, "origin_cpu_per_edge_pct": 9.9, "edge_cost_in_viewers": 9.9})
    figures = bench_audience.tree_figures({"1": one, "3": three})
    # the origin carries 10 viewers in both runs: its 1 point more is what its two edges cost it
    assert figures["three_origin_cpu_per_edge_pct"] == 0.5
    assert figures["three_edge_cost_in_viewers"] == 1.0
    assert figures["viewers_per_core"] == 200
    assert figures["one_cpu_per_viewer"] == 1.2
    text = "\n".join(bench_audience.markdown({"tree": {"1": one, "3": three}}))
    assert "| edge `c` | 10 | 5.0% | 0.50% |" in text and "About **200 viewers per relay core**" in text
    assert bench_audience.readme_rows({"tree": {"1": one, "3": three}})[0].startswith("| one live over 3 media")


def test_a_run_that_could_not_be_measured_says_so() -> None:
    text = "\n".join(bench_audience.markdown({"skipped": {"hls": "RuntimeError: no segments"}}))
    assert "**hls: NOT measured: RuntimeError: no segments.**" in text


def test_the_hosts_file_is_vp8_and_opus_with_a_keyframe_a_second(tmp_path: Path) -> None:
    path = tmp_path / "pattern.webm"
    write_pattern_webm(str(path), 320, 180, seconds=2.0)
    with av.open(str(path)) as container:
        assert [s.codec_context.name for s in container.streams] == ["vp8", "opus"]
        keyframes = [p.is_keyframe for p in container.demux(container.streams.video[0]) if p.size]
    assert len(keyframes) == 60 and sum(keyframes) == 2
