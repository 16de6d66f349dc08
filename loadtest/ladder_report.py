"""Ladder results into words and pictures: every step as a table (terminal or Markdown), the
sustained rates and the ratios between targets, and an HTML page with the plots (inline SVG)."""

from __future__ import annotations

import html as html_mod
from collections.abc import Sequence
from typing import Any

from loadtest.report import STYLE, line_chart

STEP_HEADER = ("phase", "msgs/s per room", "offered deliveries/s", "delivered/s", "p50 ms", "p99 ms", "max ms",
               "missing", "dup", "unanswered", "server CPU %", "server us/delivery", "generator CPU %",
               "other work on server / generator cores %", "verdict")


def _n(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return "-"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def verdict(step: dict[str, Any], bounds: Sequence[float]) -> str:
    """What a step showed: the tightest bound it sustained, or why it failed."""
    if step["phase"] == "overload":
        return "overload"
    p99 = step["p99_ms"]
    reasons = []
    if step["missing"]:
        reasons.append("lost messages")
    if step["duplicated"]:
        reasons.append("duplicates")
    if step["unanswered"] or step["rejected"]:
        reasons.append("unanswered")
    if step["closed_by_server"]:
        reasons.append("dropped members")
    if not reasons:
        for bound in sorted(bounds):
            if p99 is not None and p99 <= bound:
                return f"sustained (p99 <= {bound:g} ms)"
        reasons.append(f"p99 over {max(bounds):g} ms")
    text = "failed: " + ", ".join(reasons)
    if step["generator_bound"]:
        text += " (the generator fell behind)"
    return text


def others(step: dict[str, Any], server_cores: str, generator_cores: str) -> str:
    o = step.get("others_pct", {})
    return f"{_n(o.get(server_cores))} / {_n(o.get(generator_cores))}"


def step_rows(result: dict[str, Any], cores: tuple[str, str] = ("0", "1")) -> list[list[str]]:
    bounds = result["config"]["bounds"]
    out = []
    for s in result["steps"]:
        lat = s["latency_ms"]
        out.append([s["phase"], f"{s['rate']:g}", _n(s["offered_per_s"]), _n(s["delivered_per_s"]),
                    _n(lat["p50"]), _n(s["p99_ms"]), _n(lat["max"]), _n(s["missing"]), _n(s["duplicated"]),
                    _n(s["unanswered"] + s["rejected"]), _n(s["server_cpu_pct"]),
                    _n(s["server_cpu_us_per_delivery"], 2), _n(s["generator_cpu_max"]),
                    others(s, *cores), verdict(s, bounds)])
    return out


def markdown_steps(result: dict[str, Any], cores: tuple[str, str] = ("0", "1")) -> str:
    lines = ["| " + " | ".join(STEP_HEADER) + " |", "|" + "---|" * len(STEP_HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in step_rows(result, cores)]
    return "\n".join(lines)


def sustained(result: dict[str, Any], bound: float) -> dict[str, Any] | None:
    """The step sustained highest under `bound` (None: none was)."""
    tag = result["limits"][f"{bound:g}"]["sustained"]
    return next((s for s in result["steps"] if s["tag"] == tag), None)


def sustained_text(result: dict[str, Any], bound: float, *, with_p99: bool = True) -> str:
    """"80 msgs/s (40,000 deliveries/s, p99 31 ms)", with what capped it when that is known."""
    lim = result["limits"][f"{bound:g}"]
    step = sustained(result, bound)
    if step is None:
        return "none of the steps"
    text = f"{step['rate']:g} msgs/s ({step['offered_per_s']:,.0f} deliveries/s"
    text += f", p99 {step['p99_ms']:,.0f} ms)" if with_p99 else ")"
    if lim["capped_by_generator"]:
        text = "at least " + text + "; the generator fell behind above it"
    elif lim["capped_by_ceiling"]:
        text = "at least " + text + ", the ladder's top"
    return text


def rate_of(result: dict[str, Any], bound: float) -> float | None:
    step = sustained(result, bound)
    return None if step is None else float(step["rate"])


def floor_only(result: dict[str, Any], bound: float) -> bool:
    """The rate sustained under `bound` is a floor (the ladder's top or the generator capped it)."""
    lim = result["limits"][f"{bound:g}"]
    return bool(lim["capped_by_generator"] or lim["capped_by_ceiling"])


def ratio(a: dict[str, Any], b: dict[str, Any], bound: float) -> str:
    """a's highest sustained rate over b's; "at least" / "at most" where one of them is a floor."""
    ra, rb = rate_of(a, bound), rate_of(b, bound)
    if ra is None or rb is None:
        return "n/a (" + ("neither sustained a step" if ra is None and rb is None else "one sustained no step") + ")"
    fa, fb = floor_only(a, bound), floor_only(b, bound)
    text = f"{ra / rb:.2f}x"
    if fa and fb:
        return text + " (both floors)"
    if fa:
        return "at least " + text
    if fb:
        return "at most " + text
    return text


def table(result: dict[str, Any]) -> str:
    """The terminal table of one ladder: every step, then the sustained rates."""
    header = list(STEP_HEADER)
    body = step_rows(result)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = [" | ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)),
             "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    lines.append("")
    for bound in result["config"]["bounds"]:
        lines.append(
            f"highest rate sustained at p99 <= {bound:g} ms with nothing lost: {sustained_text(result, bound)}"
        )
    return "\n".join(lines)


def page(title: str, results: Sequence[dict[str, Any]], notes: str = "") -> str:
    """An HTML page of several ladders side by side: p99 and deliveries against the offered rate."""
    esc = html_mod.escape
    # The legend has room for short names: the run's own label (e.g. live-pg), not a description.
    names = [str(r["config"].get("label") or r["label"]) for r in results]
    charts = [
        line_chart([(n, [(s["rate"], s["p99_ms"]) for s in _by_rate(r) if s["p99_ms"] is not None])
                    for n, r in zip(names, results, strict=True)],
                   title="p99 send-to-delivery latency by rate (steps of the search)",
                   x_label="msgs/s per room", y_label="ms"),
        line_chart([(n, [(s["rate"], s["delivered_per_s"]) for s in _by_rate(r)])
                    for n, r in zip(names, results, strict=True)],
                   title="Deliveries per second by rate", x_label="msgs/s per room", y_label="deliveries/s"),
        line_chart([(n, [(s["rate"], s["server_cpu_us_per_delivery"] or 0) for s in _by_rate(r)])
                    for n, r in zip(names, results, strict=True)],
                   title="Server CPU per delivery (its Redis included)", x_label="msgs/s per room", y_label="us"),
    ]
    parts = ["<!doctype html><html><head><meta charset='utf-8'>", f"<title>{esc(title)}</title>", STYLE,
             "</head><body>", f"<h1>{esc(title)}</h1>", notes, *charts]
    for r in results:
        parts.append(f"<h2>{esc(r['label'])}</h2>")
        rows = step_rows(r)
        parts.append("<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in STEP_HEADER) + "</tr>" + "".join(
            "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows) + "</table>")
        for w in r.get("warnings", []):
            parts.append(f"<p class='warn'>{esc(w)}</p>")
        parts.append(f"<pre>{esc(r.get('command') or '')}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _by_rate(result: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted((s for s in result["steps"] if s["phase"] != "overload"), key=lambda s: s["rate"])
