"""Presenting the results: rich tables on stdout, and the Markdown of RESULTS.md."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from benchmarks._entries import GRAD

_MIB = 1 << 20
#: "Large" configurations, where the matmul ceiling target applies.
LARGE_N, LARGE_WIDTH = 512, 256


def is_large(row: dict) -> bool:
    return row["N"] >= LARGE_N and row["width"] >= LARGE_WIDTH and row["form"] != "sample"


def label(row: dict) -> str:
    """e.g. "Algorithm 1 (vmap)", "jax.grad (batch)"."""
    return f"{row['name']} ({row['form']})"


def short_refusal(message: str) -> str:
    """The short form, e.g. "refused: 4.00 GiB", of the library's dense-budget message."""
    found = re.search(r"would materialize ([\d.]+ \w+)", message)
    return f"refused: {found.group(1)}" if found else "refused"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value * 1e9:.3g} ns"


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / _MIB:.3g}"


def row_cells(row: dict) -> list[str]:
    """One table line: the columns of docs/benchmarks.md."""
    mode = row["mode"] or ""
    if row["status"] != "ok":
        return [label(row), mode, short_refusal(row["refusal"])] + [""] * (len(HEADERS) - 3)
    per_example = row.get("ratio_per_example")
    return [
        label(row),
        mode,
        _seconds(row["median_s"]),
        f"{row['ratio']:.3f}",
        f"{row['ratio_paired']:.3f}",
        f"{row['ratio_vjp']:.3f}",
        "-" if per_example is None else f"{per_example:.3f}",
        f"{row['gflops']:.3g}",
        f"{100 * row['ceiling_fraction']:.1f}%",
        _seconds(row["compile_s"]),
        f"{_mib(row['temp_bytes'])} / {_mib(row['grad_temp_bytes'])}",
        f"{row['max_rel_error']:.1e}",
    ]


HEADERS: tuple[str, ...] = (
    "entry",
    "mode",
    "median",
    "x grad",
    "paired",
    "x vjp",
    "x vmap(grad)",
    "GFLOP/s",
    "of ceiling",
    "compile",
    "temp MiB (grad)",
    "rel err",
)


def config_table(title: str, rows: Sequence[dict]) -> Table:
    """A rich table of one configuration's rows."""
    table = Table(title=title, title_justify="left", header_style="bold")
    for header in HEADERS:
        table.add_column(header, justify="left" if header in ("entry", "mode") else "right")
    for row in rows:
        style = "dim" if row["algorithm"] is None else None
        if row["status"] == "ok" and row["mode"] == "structured" and row["ratio"] > 1.05:
            style = "yellow"
        table.add_row(*row_cells(row), style=style)
    return table


def headline(rows: Sequence[dict]) -> list[dict]:
    """Per algorithm (structured mode): worst and best ratio, ceiling fractions, memory.

    The worst ratio is over the forms the algorithm runs in natively (one
    sample or a batch); the vmap form is reported apart.
    """
    summary = []
    for number in sorted({row["algorithm"] for row in rows if row["algorithm"] is not None}):
        for vmapped in (False, True):
            mine = [
                row
                for row in rows
                if row["algorithm"] == number
                and row["mode"] == "structured"
                and row["status"] == "ok"
                and (row["form"] == "vmap") == vmapped
            ]
            if not mine:
                continue
            worst = max(mine, key=lambda row: row["ratio"])
            large = [row for row in mine if is_large(row)]
            excess = [
                row["temp_bytes"] - row["grad_temp_bytes"]
                for row in mine
                if row["temp_bytes"] is not None
                and row["grad_temp_bytes"] is not None
                and row["temp_bytes"] > row["grad_temp_bytes"]
            ]
            summary.append(
                {
                    "algorithm": number,
                    "form": "vmap" if vmapped else mine[0]["form"],
                    "worst_ratio": worst["ratio"],
                    "worst_at": {k: worst[k] for k in ("N", "width", "depth", "hidden")},
                    "best_ratio": min(row["ratio"] for row in mine),
                    "min_large_ceiling_fraction": min(
                        (row["ceiling_fraction"] for row in large), default=None
                    ),
                    "worst_ratio_paired": max(row["ratio_paired"] for row in mine),
                    "temp_over_grad": len(excess),
                    "max_temp_excess_bytes": max(excess, default=0),
                    "configs": len(mine),
                }
            )
    return summary


def grad_large_fractions(rows: Sequence[dict]) -> list[float]:
    return [
        row["ceiling_fraction"]
        for row in rows
        if row["name"] == GRAD and row["status"] == "ok" and is_large(row)
    ]


def temp_excess(item: dict) -> str:
    """How many configurations use more temp memory than jax.grad, and by how much."""
    text = f"{item['temp_over_grad']} of {item['configs']}"
    if item["temp_over_grad"]:
        text += f" (at most {item['max_temp_excess_bytes'] / 1024:.3g} KiB)"
    return text


def headline_cells(item: dict) -> tuple[str, ...]:
    """One row of the headline: an algorithm and form against jax.grad."""
    at = item["worst_at"]
    fraction = item["min_large_ceiling_fraction"]
    return (
        f"Algorithm {item['algorithm']}",
        item["form"],
        f"{item['worst_ratio']:.3f}",
        f"N={at['N']} n={at['width']} L={at['depth']} {at['hidden']}",
        f"{item['worst_ratio_paired']:.3f}",
        f"{item['best_ratio']:.3f}",
        "-" if fraction is None else f"{100 * fraction:.1f}%",
        temp_excess(item),
    )


def headline_table(summary: Sequence[dict], grad_fractions: Sequence[float]) -> Table:
    table = Table(title="Structured mode against jax.grad", title_justify="left")
    for header in (
        "algorithm",
        "form",
        "worst x grad",
        "at",
        "worst paired",
        "best x grad",
        "min of ceiling (large)",
        "temp > grad",
    ):
        table.add_column(header)
    for item in summary:
        table.add_row(*headline_cells(item))
    if grad_fractions:
        table.caption = (
            f"jax.grad on large configurations: {100 * min(grad_fractions):.1f}% to "
            f"{100 * max(grad_fractions):.1f}% of the ceiling"
        )
    return table


def scaling_table(fits: Sequence[dict]) -> Table:
    table = Table(title="Scaling exponents (least squares on log-log)", title_justify="left")
    for header in ("series", "axis", "fixed", "points", "exponent", "last step", "Exercise 4"):
        table.add_column(header)
    for fit in fits:
        fixed = " ".join(f"{k}={v}" for k, v in fit["fixed"].items())
        table.add_row(
            f"{fit['series']} ({fit['family']})",
            fit["axis"],
            fixed,
            ", ".join(str(x) for x, _ in fit["points"]),
            f"{fit['exponent']:.2f}",
            f"{fit['last_step_exponent']:.2f}",
            f"{fit['predicted']:.0f}",
        )
    return table


def print_report(console: Console, results: dict) -> None:
    """The summary after every configuration's table has been printed."""
    console.print(headline_table(results["headline"], grad_large_fractions(results["rows"])))
    console.print(scaling_table(results["scaling"]))


SHARDED_KEYS: tuple[str, ...] = (
    "name",
    "devices",
    "N",
    "width",
    "depth",
    "median_s",
    "grad_median_s",
    "ratio",
    "max_rel_error",
    "note",
)


def sharded_table(rows: Sequence[dict]) -> Table:
    """The data-parallel section, from ``benchmarks.sharded.benchmark_sharded``."""
    table = Table(title="Sharded (data-parallel)", title_justify="left")
    # A row's note says what it measures (forced CPU devices: correctness only).
    for key in SHARDED_KEYS:
        table.add_column(key)
    for row in rows:
        cells = []
        for key in SHARDED_KEYS:
            value = row.get(key)
            cells.append(f"{value:.4g}" if isinstance(value, float) else str(value))
        table.add_row(*cells)
    return table
