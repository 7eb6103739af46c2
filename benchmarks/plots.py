"""PNG plots: time against width, batch and depth; and every peer's time per network.

* :func:`plot_scaling`: one figure per line of the sweep (one axis varied,
  the rest fixed), on log-log axes, with a panel per algorithm: its
  structured and dense modes, and jax.grad of the same loss on the same
  inputs (the baseline of the ratio column).
* :func:`plot_peers`: one figure, every network of the run along the
  x-axis, the median time of every peer's batch entry (the structured
  Algorithms 2 and 5 for manualgrad) on a log axis, with the 95% interval
  of its ratio to jax.grad drawn as an error bar, and the network's matrix
  products alone beside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

from benchmarks.report import AXES, CONFIG_FIELDS, lines, peers_entries

PEERS_PLOT = "time_per_network_peers.png"

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


def plot_peers(rows: Sequence[dict], limits: Sequence[dict], out_dir: Path) -> Path:
    """Writes the peers figure into ``out_dir``; returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    batch, names, networks = peers_entries(rows)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(networks) + 3), 4.5))
    xs = range(len(networks))
    limit_by = {tuple(l[f] for f in CONFIG_FIELDS): l for l in limits if l["form"] == "batch"}
    ax.plot(
        xs,
        [limit_by[key]["median_s"] if key in limit_by else float("nan") for key in networks],
        "k_",
        markersize=18,
        label="products alone",
    )
    width = 0.6 / max(len(names), 1)
    for index, name in enumerate(names):
        offset = (index - (len(names) - 1) / 2) * width
        points = [(x, batch.get((key, name))) for x, key in zip(xs, networks, strict=True)]
        points = [(x + offset, row) for x, row in points if row is not None]
        times = [row["median_s"] for _, row in points]
        # The interval of the ratio to jax.grad, carried onto the time axis.
        low = [
            row["median_s"] * (1 - row["ratio_ci"][0] / row["ratio_paired"]) for _, row in points
        ]
        high = [
            row["median_s"] * (row["ratio_ci"][1] / row["ratio_paired"] - 1) for _, row in points
        ]
        ax.errorbar(
            [x for x, _ in points], times, yerr=[low, high], fmt="o", ms=4, capsize=2, label=name
        )
    ax.set_yscale("log")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(["N={} n={}\nL={} {}".format(*key) for key in networks], fontsize=7)
    ax.set_ylabel("median seconds per gradient (batch)")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize="x-small", ncol=2)
    ax.set_title("time per network, every peer (error bars: 95% interval of the ratio)")
    fig.tight_layout()
    path = out_dir / PEERS_PLOT
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
