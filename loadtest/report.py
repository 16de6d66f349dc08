"""Results into words and pictures: the terminal table, shard merging, and the HTML report.

The HTML report is one self-contained file: the plots are inline SVG drawn here (no JavaScript,
nothing fetched), so it opens anywhere, offline, and can be attached to an issue as it is.
"""

from __future__ import annotations

import html as html_mod
import math
from collections.abc import Sequence
from typing import Any

from loadtest.hdr import Histogram
from loadtest.runner import summarize

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


# -- numbers -----------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _mb(value: float | int | None) -> float | None:
    return None if value is None else round(value / 1e6, 1)


def rows(result: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """(figure, value, better) for one result; better is "high", "low" or "" (no ratio)."""
    s = result["summary"]
    if result["scenario"] == "media":
        ff = s["first_frame_ms"]
        tree: list[tuple[str, Any, str]] = []
        for worker, w in (s.get("by_worker") or {}).items() if len(s.get("by_worker") or {}) > 1 else ():
            role = "origin" if w["origin"] else "edge"
            tree += [(f"{role} {worker}: subscribers", w["subscribers"], ""),
                     (f"{role} {worker}: CPU %", w["cpu_avg"], ""),
                     (f"{role} {worker}: loss % (avg)", w["loss_pct_avg"], "low"),
                     (f"{role} {worker}: first frame p99 ms", w["first_frame_ms"].get("p99"), "low")]
        if s.get("tree"):
            tree += [("CPU % per viewer at the edges", s["tree"]["cpu_per_viewer_pct"], "low"),
                     ("origin CPU % per edge", s["tree"]["origin_cpu_per_edge_pct"], "low"),
                     ("an edge costs its origin (viewers)", s["tree"]["edge_cost_in_viewers"], "low")]
        return [
            ("subscribers", s["subscribers"], ""), ("subscribed", s["connected"], ""),
            ("failures", s["failed"], "low"), ("video fps per subscriber (avg)", s["fps_avg"], "high"),
            ("video fps (worst subscriber)", s["fps_min"], "high"),
            ("kbit/s per subscriber (audio + video)", s["kbps_avg"], ""),
            ("packet loss % (avg)", s["loss_pct_avg"], "low"), ("packet loss % (worst)", s["loss_pct_max"], "low"),
            ("join to first frame p50 ms", ff["p50"], "low"), ("join to first frame p99 ms", ff["p99"], "low"),
            ("join to first frame max ms", ff["max"], "low"),
            ("server CPU % (avg, all processes)", s["server_cpu_avg"], ""),
            ("server CPU % per subscriber", s.get("server_cpu_per_subscriber"), "low"),
            ("generator CPU % (max)", s["generator_cpu_max"], ""),
            *tree,
        ]
    lat = s["latency_ms"]
    server_rss = sum(p["rss_max"] for p in s.get("server", [])) or None
    out: list[tuple[str, Any, str]] = [
        ("members connected", s["connected"], ""),
        ("connect/join failures", s["failed"], "low"),
        ("closed by server", s["closed_by_server"], "low"),
    ]
    if result["scenario"] != "connections":
        out += [
            ("messages sent", s["sent"], ""),
            ("acknowledged", s["acked"], ""),
            ("rejected", s["rejected"], "low"),
            ("unanswered at the end", s["unanswered"], "low"),
            ("deliveries", s["delivered"], ""),
            ("deliveries/s", s["delivered_per_s"], "high"),
            ("missing", s["missing"], "low"),
            ("duplicated", s["duplicated"], "low"),
            ("latency p50 ms", lat["p50"], "low"),
            ("latency p95 ms", lat["p95"], "low"),
            ("latency p99 ms", lat["p99"], "low"),
            ("latency p99.9 ms", lat["p99.9"], "low"),
            ("latency max ms", lat["max"], "low"),
            ("ack p99 ms", s["ack_ms"]["p99"], "low"),
        ]
    if "churn" in s:
        out += [("churn joins/s", s["churn"]["joins_per_s"], "high"),
                ("churn join p99 ms", s["churn"]["join_ms"]["p99"], "low"),
                ("churn failures", s["churn"]["failed"], "low")]
    out += [("join p99 ms", s["join_ms"]["p99"], "low")]
    if "rss_per_connection" in s:
        out += [("server RSS per connection KB", round(s["rss_per_connection"] / 1024, 1), "low"),
                ("server idle CPU %", s["idle_cpu"], "low")]
    if result["scenario"] != "connections" and s["delivered_per_s"]:
        out.append(
            ("server CPU us per delivery", round(s["server_cpu_avg"] / 100 / s["delivered_per_s"] * 1e6, 1), "low")
        )
    out += [
        ("server CPU % (avg, all processes)", s["server_cpu_avg"], ""),
        ("server RSS MB (max)", _mb(server_rss), "low"),
        ("generator CPU % (max process)", s["generator_cpu_max"], ""),
    ]
    if "other_cpu_avg" in s:
        out += [("other processes' CPU % (avg)", s["other_cpu_avg"], ""),
                ("CPU stolen by the host % (avg)", s["steal_avg"], "")]
    return out


def table(results: Sequence[dict[str, Any]]) -> str:
    """A plain-text table; with several results, columns side by side and ratios to the first."""
    names = [r.get("label") or r["target"] for r in results]
    all_rows = [rows(r) for r in results]
    figures: list[str] = []
    for rs in all_rows:
        for name, _, _ in rs:
            if name not in figures:
                figures.append(name)
    lookup = [{n: (v, b) for n, v, b in rs} for rs in all_rows]
    header = ["figure", *names]
    ratio = len(results) > 1
    if ratio:
        header += [f"{names[0]} vs {n}" for n in names[1:]]
    body: list[list[str]] = []
    for fig in figures:
        line = [fig] + [_fmt(lk.get(fig, (None, ""))[0]) for lk in lookup]
        if ratio:
            first, better = lookup[0].get(fig, (None, ""))
            for lk in lookup[1:]:
                other = lk.get(fig, (None, ""))[0]
                line.append(_ratio(first, other, better))
        body.append(line)
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    text = [
        " | ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True)))
    ]
    text.append("-+-".join("-" * w for w in widths))
    for row in body:
        text.append(
            " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        )
    return "\n".join(text)


def _ratio(first: Any, other: Any, better: str) -> str:
    if not better or not isinstance(first, (int, float)) or not isinstance(other, (int, float)):
        return ""
    if better == "high":
        return f"{first / other:.2f}x" if other else ("inf" if first else "")
    if first == 0 and other == 0:
        return "="
    return f"{other / first:.2f}x better" if first and other > first else (
        f"{first / other:.2f}x worse" if other else "")


def markdown_table(results: Sequence[dict[str, Any]], figures: Sequence[str] | None = None) -> str:
    """The same figures as a Markdown table (for docs/benchmarks.md)."""
    names = [r.get("label") or r["target"] for r in results]
    lookup = [{n: (v, b) for n, v, b in rows(r)} for r in results]
    wanted = list(figures) if figures else [n for n, _, _ in rows(results[0])]
    ratio = len(results) > 1
    header = ["figure", *names] + ([f"{names[0]} vs {n}" for n in names[1:]] if ratio else [])
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for fig in wanted:
        cells = [fig] + [_fmt(lk.get(fig, (None, ""))[0]) for lk in lookup]
        if ratio:
            first, better = lookup[0].get(fig, (None, ""))
            cells += [_ratio(first, lk.get(fig, (None, ""))[0], better) for lk in lookup[1:]]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


# -- merging shards ----------------------------------------------------------------------------


def _add(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        if isinstance(v, dict):
            out[k] = _add(out.get(k) or {}, v)
        elif isinstance(v, (int, float)):
            out[k] = out.get(k, 0) + v
    return out


def merge(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One result from the shards of one run: counters add, histograms merge, timelines align
    on the second. Per-second p99 in the merged timeline is the worst shard's (an upper bound)."""
    if not results:
        raise ValueError("nothing to merge")
    kinds = {(r["scenario"], r["target"]) for r in results}
    if len(kinds) > 1:
        raise ValueError(f"results of different runs cannot merge: {sorted(kinds)}")
    base = dict(results[0])
    counters: dict[str, Any] = {}
    hists = {k: Histogram() for k in ("latency", "ack", "join", "churn_join")}
    room_last: dict[str, int] = {}
    seconds: dict[int, dict[str, Any]] = {}
    procs: dict[tuple[str, int], dict[str, Any]] = {}
    gen: dict[str, Any] = {}
    for n, r in enumerate(results):
        counters = _add(counters, r["counters"])
        for k, h in hists.items():
            h.merge(Histogram.from_json(r[k]))
        for room, seq in r.get("room_last_seq", {}).items():
            room_last[room] = max(room_last.get(room, 0), seq)
        last_by_second: dict[int, dict[str, Any]] = {}
        for point in r["timeline"]:
            last_by_second[round(point["t"])] = point
        for sec, point in last_by_second.items():
            slot = seconds.setdefault(sec, {"t": float(sec), "generator_cpu": []})
            for key in ("connected", "sent", "acked", "delivered", "failed", "closed", "delivered_per_s"):
                slot[key] = slot.get(key, 0) + point.get(key, 0)
            for key in ("p50_ms", "p99_ms"):
                if key in point:
                    slot[key] = max(slot.get(key, 0), point[key])
            slot["server_cpu"] = max(slot.get("server_cpu", 0), point.get("server_cpu", 0))
            slot["server_rss"] = max(slot.get("server_rss", 0), point.get("server_rss", 0))
            slot["generator_cpu"] = slot["generator_cpu"] + list(point.get("generator_cpu", []))
        host = r.get("machine", {}).get("host", str(n))
        for proc in r["server"]["processes"]:
            procs.setdefault((host, proc["pid"]), proc)
        for w, samples in r["generator"]["cpu"].items():
            gen[f"{n}.{w}"] = samples
    w0 = [r["windows"] for r in results]
    base.update({
        "counters": counters,
        "latency": hists["latency"].to_json(), "ack": hists["ack"].to_json(),
        "join": hists["join"].to_json(), "churn_join": hists["churn_join"].to_json(),
        "room_last_seq": room_last,
        "timeline": [seconds[k] for k in sorted(seconds)],
        "windows": {"t0": min(w["t0"] for w in w0), "send_start": min(w["send_start"] for w in w0),
                    "send_end": max(w["send_end"] for w in w0), "end": max(w["end"] for w in w0)},
        "shards": [s for r in results for s in r.get("shards", [])],
        "members_planned": sum(r.get("members_planned", 0) for r in results),
        "server": {"rss_before": max(r["server"].get("rss_before", 0) for r in results),
                   "processes": list(procs.values())},
        "generator": {"processes": sum(r["generator"]["processes"] for r in results), "cpu": gen},
        "warnings": [w for r in results for w in r.get("warnings", [])],
        "machines": [r.get("machine") for r in results],
    })
    return summarize(base)


# -- SVG plots ---------------------------------------------------------------------------------


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    start = math.floor(lo / step) * step
    ticks = []
    v = start
    while v <= hi + step * 1e-9:
        if v >= lo - step * 1e-9:
            ticks.append(round(v, 10))
        v += step
    return ticks


def _tick_label(v: float) -> str:
    if abs(v) >= 1e6:
        return f"{v / 1e6:g}M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


Series = tuple[str, list[tuple[float, float]]]


def line_chart(series: Sequence[Series], *, title: str, x_label: str, y_label: str,
               x_ticks: Sequence[tuple[float, str]] | None = None, width: int = 720, height: int = 300,
               y_min: float | None = 0.0) -> str:
    """An SVG line chart of several named series of (x, y) points."""
    pts = [p for _, s in series for p in s]
    left, right, top, bottom = 64, 16, 34, 46
    pw, ph = width - left - right, height - top - bottom
    esc = html_mod.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{esc(title)}</text>']
    if not pts:
        out.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no data</text></svg>')
        return "".join(out)
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1 = min(xs), max(xs)
    if x_ticks:
        x0, x1 = min(x0, x_ticks[0][0]), max(x1, x_ticks[-1][0])
    if x1 <= x0:
        x1 = x0 + 1
    y0 = min(ys) if y_min is None else min(y_min, min(ys))
    y1 = max(ys) * 1.05 if max(ys) > 0 else 1.0
    if y1 <= y0:
        y1 = y0 + 1
    yt = _nice_ticks(y0, y1)
    y1 = max(y1, yt[-1])

    def X(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * pw

    def Y(v: float) -> float:
        return top + ph - (v - y0) / (y1 - y0) * ph

    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fff" stroke="#999"/>')
    for v in yt:
        y = Y(v)
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_tick_label(v)}</text>')
    for v, label in (x_ticks or [(t, _tick_label(t)) for t in _nice_ticks(x0, x1, 8)]):
        x = X(v)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + ph}" stroke="#eee"/>'
                   f'<text x="{x:.1f}" y="{top + ph + 16}" text-anchor="middle">{esc(label)}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 8}" text-anchor="middle">{esc(x_label)}</text>'
               f'<text x="14" y="{top + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 14 {top + ph / 2})">{esc(y_label)}</text>')
    for i, (name, s) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        if s:
            path = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in s)
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.8" points="{path}"/>')
        lx = left + 10 + i * 150
        out.append(f'<rect x="{lx}" y="{top + 6}" width="12" height="3" fill="{color}"/>'
                   f'<text x="{lx + 16}" y="{top + 11}">{esc(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def latency_series(result: dict[str, Any]) -> list[tuple[float, float]]:
    """The percentile curve of a latency histogram, x = -log10(1 - q) (0 = p0, 3 = p99.9)."""
    h = Histogram.from_json(result["latency"])
    if not h.total:
        return []
    points = []
    seen = 0
    for value, count in h.buckets():
        seen += count
        q = seen / h.total
        x = min(5.0, -math.log10(max(1e-5, 1 - q))) if q < 1 else 5.0
        points.append((x, value / 1000.0))
    # include p0
    return [(0.0, h.min / 1000.0), *points]


LATENCY_TICKS = [(0.0, "p0"), (1.0, "p90"), (2.0, "p99"), (3.0, "p99.9"), (4.0, "p99.99"), (5.0, "max")]


def _timeline(result: dict[str, Any], key: str, scale: float = 1.0) -> list[tuple[float, float]]:
    t0 = result["windows"]["t0"]
    return [(round(p["t"] - t0, 2), p[key] * scale) for p in result["timeline"] if key in p]


STYLE = ("<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;"
         "text-align:right}td:first-child,th:first-child{text-align:left}pre{background:#f6f6f6;"
         "padding:8px;overflow-x:auto;font-size:12px;white-space:pre-wrap}.warn{color:#b00;font-weight:bold}"
         "svg{display:block;margin:1em 0}</style>")


def html(results: Sequence[dict[str, Any]], *, title: str, notes: str = "") -> str:
    """The HTML report of one or more results (one file, inline SVG, no scripts)."""
    return page(title, [("", list(results), notes)])


def page(title: str, sections: Sequence[tuple[str, list[dict[str, Any]], str]]) -> str:
    """A report page of sections, each (heading, results side by side, HTML notes)."""
    esc = html_mod.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'>", f"<title>{esc(title)}</title>",
             STYLE, "</head><body>", f"<h1>{esc(title)}</h1>"]
    for heading, results, notes in sections:
        if heading:
            parts.append(f"<h2>{esc(heading)}</h2>")
        parts.append(section(results, notes, level=3 if heading else 2))
    parts.append("</body></html>")
    return "\n".join(parts)


def section(results: Sequence[dict[str, Any]], notes: str = "", level: int = 2) -> str:
    """Figures, plots and run details of results measured side by side."""
    esc = html_mod.escape
    h = f"h{level}"
    names = [r.get("label") or r["target"] for r in results]
    pairs = list(zip(names, results, strict=True))
    charts = []
    if all(r["scenario"] == "media" for r in results):
        charts.append(line_chart([(n, latency_series(r)) for n, r in pairs],
                                 title="media.subscribe to first decoded video frame, by percentile",
                                 x_label="percentile", y_label="ms", x_ticks=LATENCY_TICKS))
        charts.append(line_chart([(n, _timeline(r, "delivered_per_s")) for n, r in pairs],
                                 title="Video frames decoded per second (all subscribers)",
                                 x_label="seconds since start", y_label="frames/s"))
    elif any(r["scenario"] != "connections" for r in results):
        charts.append(line_chart([(n, latency_series(r)) for n, r in pairs],
                                 title="Send-to-delivery latency by percentile", x_label="percentile",
                                 y_label="ms", x_ticks=LATENCY_TICKS))
        charts.append(line_chart([(n, _timeline(r, "delivered_per_s")) for n, r in pairs],
                                 title="Delivered messages per second", x_label="seconds since start",
                                 y_label="deliveries/s"))
        charts.append(line_chart([(n, _timeline(r, "p99_ms")) for n, r in pairs],
                                 title="Latency p99 per second", x_label="seconds since start", y_label="ms"))
    else:
        charts.append(line_chart([(n, _timeline(r, "connected")) for n, r in pairs],
                                 title="Connected members", x_label="seconds since start", y_label="members"))
    charts.append(line_chart([(n, _timeline(r, "server_cpu")) for n, r in pairs],
                             title="Server CPU (all its processes, % of one core)",
                             x_label="seconds since start", y_label="%"))
    charts.append(line_chart([(n, _timeline(r, "server_rss", 1e-6)) for n, r in pairs],
                             title="Server memory (RSS, all its processes)", x_label="seconds since start",
                             y_label="MB"))
    gen_series = []
    for n, r in pairs:
        t0 = r["windows"]["t0"]
        for w, samples in r["generator"]["cpu"].items():
            gen_series.append((f"{n} gen {w}", [(s[0] - t0, s[1]) for s in samples]))
    charts.append(line_chart(gen_series, title="Generator CPU per process (% of one core)",
                             x_label="seconds since start", y_label="%"))
    parts = []
    if notes:
        parts.append(notes)
    parts.append(f"<{h}>Figures</{h}>" + _html_table(results))
    for n, r in pairs:
        for w in r.get("warnings", []):
            parts.append(f"<p class='warn'>{esc(n)}: {esc(w)}</p>")
    parts.append(f"<{h}>Plots</{h}>")
    parts.extend(charts)
    parts.append(f"<{h}>Runs</{h}>")
    for n, r in pairs:
        m = r.get("machine", {})
        parts.append(f"<p><b>{esc(n)}</b></p><pre>{esc(r.get('command') or '')}\n"
                     f"started {esc(r.get('started_at', ''))}, shards {esc(', '.join(r.get('shards', [])))}\n"
                     f"machine: {esc(str(m.get('cpu')))}, {m.get('cores')} cores, "
                     f"{round((m.get('memory_bytes') or 0) / 2**30, 1)} GiB, {esc(str(m.get('os')))}\n"
                     f"versions: {esc(', '.join(f'{k} {v}' for k, v in (m.get('versions') or {}).items()))}\n"
                     f"failures: {esc(str(r['counters'].get('failed')))}  closed: "
                     f"{esc(str(r['counters'].get('closed')))}  rejected: {esc(str(r['counters'].get('rejected')))}"
                     "</pre>")
        servers = r["summary"].get("server", [])
        if servers:
            parts.append("<table><tr><th>server process</th><th>pid</th><th>CPU avg %</th><th>CPU max %</th>"
                         "<th>RSS max MB</th></tr>" + "".join(
                             f"<tr><td>{esc(p['name'])}</td><td>{p['pid']}</td><td>{p['cpu_avg']}</td>"
                             f"<td>{p['cpu_max']}</td><td>{_mb(p['rss_max'])}</td></tr>" for p in servers)
                         + "</table>")
    return "\n".join(parts)


def _html_table(results: Sequence[dict[str, Any]]) -> str:
    esc = html_mod.escape
    md = markdown_table(results).splitlines()
    header = [c.strip() for c in md[0].strip("|").split("|")]
    out = ["<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>"]
    for line in md[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        out.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    out.append("</table>")
    return "".join(out)
