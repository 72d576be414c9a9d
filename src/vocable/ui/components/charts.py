"""Dashboard plots as inline SVG: a per-turn waterfall, a histogram, a trend line, stat cards.

Inline SVG needs no plotting library and no script, renders the same in every browser, and
carries ``data-*`` attributes that the end-to-end tests read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

STAGES: tuple[tuple[str, str, str], ...] = (
    ("stt_ms", "transcript", "#6366f1"),
    ("first_token_ms", "first token", "#0ea5e9"),
    ("first_sentence_ms", "first sentence", "#10b981"),
    ("first_audio_ms", "first audio", "#f59e0b"),
)
"""Waterfall milestones in order: key in a turn, label, colour."""
WIDTH = 1100
"""Waterfall width in SVG units (about its width on screen, so text keeps its size)."""
HALF = 560
"""Width of the half-width plots."""
ROW = 26
LEFT = 90


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _empty(message: str) -> str:
    return f'<div class="vc-empty">{escape(message)}</div>'


def waterfall(turns: Sequence[Mapping[str, Any]], last: int = 8) -> str:
    """Horizontal bars per turn: end of speech → transcript → token → sentence → audio."""
    rows = list(turns)[-last:]
    if not rows:
        return _empty("No turns yet: talk or chat, and each turn's timeline shows up here.")
    span = max(
        (_num(t.get(k)) or 0.0 for t in rows for k in ("v2v_ms", *(s[0] for s in STAGES))),
        default=0.0,
    )
    scale = (WIDTH - LEFT - 70) / max(span, 1.0)
    height = ROW * len(rows) + 34
    parts = [
        f'<svg class="vc-waterfall" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'role="img" aria-label="latency waterfall" data-turns="{len(rows)}">'
    ]
    for i, turn in enumerate(rows):
        y = 8 + i * ROW
        label = escape(str(turn.get("turn_id", i + 1)))[:12]
        parts.append(f'<text x="4" y="{y + 15}" class="vc-label">turn {label}</text>')
        start = 0.0
        segments = 0
        for key, name, colour in STAGES:
            end = _num(turn.get(key))
            if end is None:
                continue
            w = max((end - start) * scale, 1.5)
            parts.append(
                f'<rect class="vc-seg" data-stage="{name}" data-ms="{end:.0f}" '
                f'x="{LEFT + start * scale:.1f}" y="{y}" width="{w:.1f}" height="{ROW - 8}" '
                f'fill="{colour}" rx="3"><title>{name}: {end:.0f} ms</title></rect>'
            )
            start, segments = max(start, end), segments + 1
        total = _num(turn.get("v2v_ms")) or (start if segments else None)
        note = f"{total:.0f} ms" if total is not None else "no audio"
        if turn.get("interrupted"):
            note += " ✂"
        parts.append(
            f'<text x="{LEFT + start * scale + 6:.1f}" y="{y + 15}" class="vc-label">{note}</text>'
        )
    legend_y = height - 8
    for j, (_, name, colour) in enumerate(STAGES):
        x = LEFT + j * 130
        parts.append(f'<rect x="{x}" y="{legend_y - 9}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="{legend_y}" class="vc-label">{name}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(edges: Sequence[float], counts: Sequence[int], title: str) -> str:
    """Bars of `counts`: bucket ``i`` ends at ``edges[i]`` (ms), the last holds the rest."""
    if not counts or not any(counts):
        return _empty(f"{title}: no data yet.")
    height, bottom = 150, 130
    top = max(counts)
    bar_w = (HALF - 40) / len(counts)
    parts = [
        f'<svg class="vc-hist" viewBox="0 0 {HALF} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}" data-total="{sum(counts)}">'
    ]
    for i, count in enumerate(counts):
        h = (bottom - 10) * count / top
        x = 20 + i * bar_w
        hi = edges[i] if i < len(edges) else None
        label = f"≤{hi:.0f}" if hi is not None else f">{edges[-1]:.0f}" if edges else ""
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{bottom - h:.1f}" width="{bar_w - 2:.1f}" '
            f'height="{h:.1f}" fill="#6366f1"><title>{label} ms: {count}</title></rect>'
        )
        if len(counts) <= 16 or i % 2 == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - 5}" text-anchor="middle" '
                f'class="vc-tick">{label}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def trend(values: Sequence[float | None], title: str, unit: str = "ms") -> str:
    """A line over the last turns (None values are skipped)."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(points) < 1:
        return _empty(f"{title}: no data yet.")
    height = 110
    top = max(v for _, v in points) or 1.0
    n = max(len(values) - 1, 1)
    xy = " ".join(
        f"{20 + i * (HALF - 40) / n:.1f},{height - 15 - (height - 30) * v / top:.1f}"
        for i, v in points
    )
    dots = "".join(
        f'<circle cx="{x}" cy="{y}" r="3" fill="#0ea5e9"/>'
        for x, y in (pair.split(",") for pair in xy.split())
    )
    return (
        f'<svg class="vc-trend" viewBox="0 0 {HALF} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}" data-points="{len(points)}"><polyline points="{xy}" '
        f'fill="none" stroke="#0ea5e9" stroke-width="2"/>{dots}<text x="20" y="12" '
        f'class="vc-label">{escape(title)} (max {top:.0f} {unit})</text></svg>'
    )


def _fmt(value: Any, unit: str = "", digits: int = 0) -> str:
    number = _num(value)
    if number is None:
        return "–"
    return f"{number:.{digits}f}{unit}"


def cards(items: Sequence[tuple[str, str]]) -> str:
    """A row of labelled figures."""
    body = "".join(
        f'<div class="vc-card" data-key="{escape(label)}"><div class="vc-value">{escape(value)}'
        f'</div><div class="vc-caption">{escape(label)}</div></div>'
        for label, value in items
    )
    return f'<div class="vc-cards">{body}</div>'


def summary_cards(snap: Mapping[str, Any]) -> str:
    """Latency, throughput and reliability figures of a metrics snapshot."""
    cache = snap.get("cache") or {}
    return cards(
        [
            ("v2v p50", _fmt(snap.get("v2v_p50_ms"), " ms")),
            ("v2v p95", _fmt(snap.get("v2v_p95_ms"), " ms")),
            ("tokens/s", _fmt(snap.get("tokens_per_s"), "", 1)),
            ("TTS RTF", _fmt(snap.get("tts_rtf"), "", 3)),
            ("fallback switches", _fmt(snap.get("fallback_switches"))),
            ("interruptions", _fmt(snap.get("interruptions"))),
            ("dropped frames", _fmt(snap.get("dropped_frames"))),
            ("cache hit rate", _fmt(_pct(cache.get("hit_rate")), " %")),
            ("sessions", _fmt(snap.get("sessions"))),
        ]
    )


def _pct(ratio: Any) -> float | None:
    number = _num(ratio)
    return None if number is None else number * 100


def quality_cards(snap: Mapping[str, Any]) -> str:
    """Audio quality and machine resources of a metrics snapshot."""
    audio = snap.get("audio") or {}
    res = snap.get("resources") or {}
    items = [
        ("output gaps", _fmt(audio.get("gaps"))),
        ("clipping", _fmt(_pct(audio.get("clipping_ratio")), " %", 2)),
        ("loudness", _fmt(audio.get("loudness_dbfs"), " dBFS", 1)),
        ("CPU", _fmt(res.get("cpu_percent"), " %")),
        ("RAM", _ram(res.get("ram_used_bytes"), res.get("ram_total_bytes"))),
    ]
    for i, gpu in enumerate(res.get("gpus") or []):
        if isinstance(gpu, Mapping):
            name = str(gpu.get("name") or f"GPU {i}")
            used = _ram(gpu.get("memory_used_bytes"), gpu.get("memory_total_bytes"))
            items.append((f"{name} VRAM", used))
            items.append((f"{name} load", _fmt(gpu.get("utilization_percent"), " %")))
    if res and not res.get("gpus"):
        items.append(("GPU", "none found"))
    return cards(items)


def _ram(used: Any, total: Any) -> str:
    u, t = _num(used), _num(total)
    if u is None:
        return "–"
    text = f"{u / 2**30:.1f} GiB"
    return f"{text} / {t / 2**30:.1f}" if t else text


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str) -> str:
    """A plain HTML table, or the `empty` message when there are no rows."""
    if not rows:
        return _empty(empty)
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape('' if v is None else str(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f'<table class="vc-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
