"""What the results say, and how they are shown: summaries, rich tables, Markdown.

* The headline: per algorithm and form, the worst and best ratio against
  jax.grad, the least fraction of the matmul ceiling on large networks and
  how often the compiled temporary memory exceeds jax.grad's.
* Scaling exponents (Exercise 4 of the notes): Algorithm 1 runs in
  O(L n^2) for one sample and Algorithm 2 in O(N L n^2) for a batch, so
  time should grow like width^2, like N and like L once the products
  dominate; small networks sit below those slopes, where a fixed cost per
  call (dispatch, small kernels) does. The exponents are fitted by least
  squares on log-log axes.
* Rich tables on stdout, and benchmarks/results/RESULTS.md: the generated
  part sits between two marker lines; :func:`write_markdown` replaces only
  that part of an existing file, so prose written around it survives a
  fresh run.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.workload import GRAD, PER_EXAMPLE

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
    """The data-parallel section, from ``benchmarks.data_parallel.benchmark_sharded``."""
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


# Scaling exponents.

#: axis -> the exponent Exercise 4 predicts.
PREDICTED: dict[str, float] = {"width": 2.0, "N": 1.0, "depth": 1.0}
AXES: tuple[str, ...] = tuple(PREDICTED)
CONFIG_FIELDS: tuple[str, ...] = ("N", "width", "depth", "hidden")


def fit_exponent(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The slope p of log y = p log x + c, by least squares."""
    slope, _ = np.polyfit(np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float)), 1)
    return float(slope)


def series_of(row: dict) -> tuple[str, str | None, str] | None:
    """Which curve a row belongs to, or None if it is not fitted.

    A single-sample algorithm runs on one sample at N = 1 and under vmap
    above, so those two forms make one curve, "per-sample". jax.grad has a
    batch curve and, at N = 1, a single-sample one.
    """
    if row["status"] != "ok":
        return None
    family = "batch" if row["form"] == "batch" else "per-sample"
    if row["algorithm"] is not None and row["mode"] == "structured":
        return (row["name"], row["mode"], family)
    if row["name"] in (GRAD, PER_EXAMPLE):
        return (row["name"], None, family)
    return None


def lines(rows: Iterable[dict], axis: str, *, min_points: int = 2) -> dict[tuple, list[dict]]:
    """Rows grouped into lines along ``axis``: same series, other fields fixed.

    Returns:
      (series, fixed fields as a tuple of pairs) -> rows sorted along the axis,
      for lines with at least ``min_points`` distinct values of the axis.
    """
    grouped: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        series = series_of(row)
        if series is None:
            continue
        fixed = tuple((field, row[field]) for field in CONFIG_FIELDS if field != axis)
        grouped[(series, fixed)].append(row)
    return {
        key: sorted(members, key=lambda row: row[axis])
        for key, members in grouped.items()
        if len({row[axis] for row in members}) >= min_points
    }


def scaling_fits(rows: Sequence[dict], *, min_points: int = 3) -> list[dict]:
    """An exponent for every series along every axis with enough points.

    Args:
      rows: the benchmark's result rows.
      min_points: fewest distinct values of the axis for a fit.

    Returns:
      One dict per line: series name, mode, form family, axis, the fixed
      fields, the (x, median seconds) points, the fitted exponent, the
      exponent between the two largest points alone (where the products
      dominate most), and the predicted exponent.
    """
    fits = []
    for axis in AXES:
        by_line = lines(rows, axis, min_points=min_points)
        for ((name, mode, family), fixed), members in by_line.items():
            xs = [row[axis] for row in members]
            ys = [row["median_s"] for row in members]
            fits.append(
                {
                    "series": name,
                    "mode": mode,
                    "family": family,
                    "axis": axis,
                    "fixed": dict(fixed),
                    "points": [[x, y] for x, y in zip(xs, ys, strict=True)],
                    "exponent": fit_exponent(xs, ys),
                    "last_step_exponent": fit_exponent(xs[-2:], ys[-2:]),
                    "predicted": PREDICTED[axis],
                }
            )
    return fits


# Markdown.

BEGIN = "<!-- BEGIN GENERATED: python -m benchmarks --markdown benchmarks/results/RESULTS.md -->"
_BEGIN_PREFIX = "<!-- BEGIN GENERATED"
END = "<!-- END GENERATED -->"


def _table(headers: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(cell.replace("|", "/") for cell in line) + " |" for line in body]
    return out


def generated_markdown(results: dict) -> str:
    """The tables of one run: machine, ceiling, headline, scaling, every row."""
    machine, ceiling = results["machine"], results["ceiling"]
    md = [BEGIN, "", f"Command: `{results['command']}` ({results['sweep']} sweep, "]
    md[-1] += f"{results['wall_s'] / 60:.1f} minutes, {results['date_utc']} UTC)."
    md += ["", "### Machine", ""]
    md += _table(
        ("", ""),
        [
            ("CPU", f"{machine['cpu_model']}, {machine['cpu_cores']} cores"),
            ("device", f"{machine['device_kind']} ({machine['platform']})"),
            ("jax / jaxlib", f"{machine['jax_version']} / {machine['jaxlib_version']}"),
            ("Python / NumPy", f"{machine['python_version']} / {machine['numpy_version']}"),
            ("load average at start / end", f"{machine['load_start']} / {machine['load_end']}"),
            ("dtype", results["dtype"]),
        ],
    )
    by_size = ", ".join(f"{n}: {g:.1f}" for n, g in ceiling["by_size"].items())
    md += [
        "",
        f"Matmul ceiling: **{ceiling['gflops']:.1f} GFLOP/s** ({ceiling['dtype']} square "
        f"matmul of size {ceiling['size']} under jit; GFLOP/s by size: {by_size}).",
        "",
        "### Structured mode against jax.grad",
        "",
    ]
    md += _table(
        (
            "algorithm",
            "form",
            "worst time / jax.grad",
            "worst at",
            "worst paired ratio",
            "best time / jax.grad",
            "least of ceiling (N>=512, n>=256)",
            "temp memory > jax.grad",
        ),
        [headline_cells(item) for item in results["headline"]],
    )
    grad_fractions = grad_large_fractions(results["rows"])
    if grad_fractions:
        md += [
            "",
            f"jax.grad on the same large configurations: {100 * min(grad_fractions):.1f}% "
            f"to {100 * max(grad_fractions):.1f}% of the ceiling.",
        ]
    md += ["", "### Scaling exponents", ""]
    md += _table(
        ("series", "axis", "fixed", "points", "fitted exponent", "last step", "Exercise 4"),
        [
            (
                f"{fit['series']} ({fit['family']})",
                fit["axis"],
                " ".join(f"{k}={v}" for k, v in fit["fixed"].items()),
                ", ".join(str(x) for x, _ in fit["points"]),
                f"{fit['exponent']:.2f}",
                f"{fit['last_step_exponent']:.2f}",
                f"{fit['predicted']:.0f}",
            )
            for fit in results["scaling"]
        ],
    )
    md += ["", "### Every configuration", ""]
    configs = []
    for row in results["rows"]:
        key = (row["N"], row["width"], row["depth"], row["hidden"])
        if key not in configs:
            configs.append(key)
    for N, width, depth, hidden in configs:
        rows = [
            r
            for r in results["rows"]
            if (r["N"], r["width"], r["depth"], r["hidden"]) == (N, width, depth, hidden)
        ]
        large = " (large)" if any(is_large(r) for r in rows) else ""
        ceiling = next(r["ceiling_gflops"] for r in rows if r["status"] == "ok")
        md += ["", f"#### N={N}, width={width}, depth={depth}, hidden {hidden}{large}", ""]
        md += [f"Matmul ceiling timed beside these rows: {ceiling:.1f} GFLOP/s.", ""]
        md += _table(HEADERS, [row_cells(r) for r in rows])
    if results.get("sharded") is not None:
        md += ["", "### Sharded (data-parallel)", ""]
        md += _table(
            SHARDED_KEYS,
            [[_format(row.get(k)) for k in SHARDED_KEYS] for row in results["sharded"]],
        )
    md += ["", END]
    return "\n".join(md) + "\n"


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_markdown(path: Path, results: dict) -> None:
    """Writes the generated part into ``path``, keeping any text around the markers."""
    generated = generated_markdown(results)
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if _BEGIN_PREFIX in text and END in text:
            # Any earlier BEGIN line (an older command in it) is replaced too.
            head = text[: text.index(_BEGIN_PREFIX)]
            tail = text[text.index(END) + len(END) :].lstrip("\n")
            path.write_text(head + generated + tail, encoding="utf-8")
            return
    path.write_text("# Benchmark results\n\n" + generated, encoding="utf-8")
