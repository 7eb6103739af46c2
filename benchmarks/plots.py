"""PNG plots of time against width, batch and depth, on log-log axes.

One figure per line of the sweep (one axis varied, the rest fixed), with a
panel per algorithm: its structured and dense modes, and jax.grad of the
same loss on the same inputs (the baseline of the ratio column).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

from benchmarks.report import AXES, lines

_AXIS_LABELS = {"width": "width n", "N": "batch N", "depth": "depth L"}
_FILE_AXES = {"width": "width", "N": "batch", "depth": "depth"}


def plot_scaling(rows: Sequence[dict], out_dir: Path, *, min_points: int = 2) -> list[Path]:
    """Writes one PNG per line of the sweep into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for axis in AXES:
        fixed_values = sorted(
            {fixed for (_, fixed) in lines(rows, axis, min_points=min_points)}, key=str
        )
        for fixed in fixed_values:
            paths.append(_plot_line(rows, axis, dict(fixed), out_dir))
    return paths


def _plot_line(rows: Sequence[dict], axis: str, fixed: dict, out_dir: Path) -> Path:
    on_line = [
        row
        for row in rows
        if row["status"] == "ok" and all(row[field] == value for field, value in fixed.items())
    ]
    numbers = sorted({row["algorithm"] for row in on_line if row["algorithm"] is not None})
    fig, panels = plt.subplots(
        1, len(numbers), figsize=(3.2 * len(numbers), 3.2), sharey=True, squeeze=False
    )
    for panel, number in zip(panels[0], numbers, strict=True):
        for mode, style in (("structured", "o-"), ("dense", "s--")):
            mine = sorted(
                (r for r in on_line if r["algorithm"] == number and r["mode"] == mode),
                key=lambda r: r[axis],
            )
            if not mine:
                continue
            xs = [r[axis] for r in mine]
            panel.plot(xs, [r["median_s"] for r in mine], style, label=mode)
            if mode == "structured":
                panel.plot(xs, [r["grad_median_s"] for r in mine], "k^:", label="jax.grad")
        panel.set_xscale("log")
        panel.set_yscale("log")
        ticks = sorted({row[axis] for row in on_line})
        panel.xaxis.set_major_locator(FixedLocator(ticks))
        panel.xaxis.set_major_formatter(FixedFormatter([str(tick) for tick in ticks]))
        panel.xaxis.set_minor_locator(NullLocator())
        panel.set_title(f"Algorithm {number}")
        panel.set_xlabel(_AXIS_LABELS[axis])
        panel.grid(True, which="both", alpha=0.3)
    panels[0][0].set_ylabel("median seconds per gradient")
    panels[0][0].legend(fontsize="small")
    subtitle = ", ".join(f"{k}={v}" for k, v in fixed.items())
    fig.suptitle(f"time against {_AXIS_LABELS[axis]} ({subtitle})")
    fig.tight_layout()
    name = f"time_vs_{_FILE_AXES[axis]}_" + "_".join(f"{k}{v}" for k, v in fixed.items())
    path = out_dir / f"{name}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
