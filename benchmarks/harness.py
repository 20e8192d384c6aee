"""The benchmark harness: rows, side-by-side timing, the table, the JSON file.

Every row holds our figure and its limit measured in the same run, the figure the target is about
(a ratio, a difference or a fitted exponent) and whether the target is met. A row that could not be
measured says why in ``note`` and has no figures, never a made-up one.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

Op = Literal[">=", "<="]


@dataclass
class Row:
    """One line of the table."""

    id: str
    what: str
    unit: str = ""
    ours: float | None = None
    limit: float | None = None
    limit_what: str = ""
    figure: float | None = None  # the quantity the target is about
    figure_what: str = ""
    op: Op = "<="
    target: float | None = None
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    measured_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def met(self) -> bool | None:
        """Whether the figure meets the target; None when not measured."""
        if self.figure is None or self.target is None:
            return None
        return self.figure >= self.target if self.op == ">=" else self.figure <= self.target

    def to_json(self) -> dict[str, Any]:
        """The row as a JSON object (with ``met``)."""
        out = asdict(self)
        out["met"] = self.met
        return out


def not_measured(row_id: str, what: str, why: str) -> Row:
    """A row that says why it has no figure."""
    return Row(id=row_id, what=what, note=f"not measured: {why}")


def median_pair(
    ours: Callable[[], object],
    bare: Callable[[], object],
    reps: int,
    *,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[float, float, list[float], list[float]]:
    """Time ``ours`` and ``bare`` alternately ``reps`` times (after ``warmup`` untimed rounds each).

    Alternating puts both under the same machine noise. Returns the two medians (seconds) and the
    raw samples. ``clock``: wall time by default; ``time.process_time`` (this process's CPU time) for
    work that runs on one thread and never waits, where wall time on a shared machine measures the
    other processes as much as this one.
    """
    for _ in range(warmup):
        ours()
        bare()
    ours_s: list[float] = []
    bare_s: list[float] = []
    for i in range(reps):
        pair = [(ours, ours_s), (bare, bare_s)]
        if i % 2:
            pair.reverse()
        for fn, samples in pair:
            start = clock()
            fn()
            samples.append(clock() - start)
    return statistics.median(ours_s), statistics.median(bare_s), ours_s, bare_s


def fit_exponent(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The least-squares slope of log(y) against log(x): y ~ x**k gives k."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError("need at least two points")
    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    mx = statistics.fmean(lx)
    my = statistics.fmean(ly)
    num = sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True))
    den = sum((a - mx) ** 2 for a in lx)
    return num / den


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        import psutil

        mem_gb = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gb": mem_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def render_table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table (also readable in a terminal)."""
    head = ["id", "what", "ours", "limit (same run)", "figure", "target", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        if row.note.startswith("not measured"):
            cells = [row.id, row.what, row.note, "", "", "", ""]
        else:
            limit = _fmt(row.limit, row.unit)
            if row.limit_what:
                limit += f" ({row.limit_what})"
            figure = _fmt(row.figure)
            if row.figure_what:
                figure += f" {row.figure_what}"
            target = f"{row.op} {row.target:g}" if row.target is not None else "-"
            met = {True: "yes", False: "NO", None: "-"}[row.met]
            cells = [row.id, row.what, _fmt(row.ours, row.unit), limit, figure, target, met]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- {r.id}: {r.note}" for r in rows if r.note and not r.note.startswith("not measured")]
    if notes:
        lines.append("")
        lines.extend(notes)
    return "\n".join(lines)


def write_results(path: Path, rows: Sequence[Row], *, mode: str, merge: bool) -> dict[str, Any]:
    """Write the rows (and the machine) to ``path`` as JSON.

    With ``merge`` the rows of an earlier file that were not run this time are kept, so running one
    benchmark does not erase the others' figures.
    """
    old_rows: list[dict[str, Any]] = []
    if merge and path.exists():
        try:
            old = json.loads(path.read_text())
            if old.get("mode") == mode:
                old_rows = list(old.get("rows", []))
        except (OSError, ValueError):
            old_rows = []
    new_ids = {r.id for r in rows}
    merged = [r for r in old_rows if r.get("id") not in new_ids] + [r.to_json() for r in rows]
    merged.sort(key=lambda r: str(r.get("id")))
    doc = {
        "mode": mode,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "rows": merged,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return doc
