"""What the results say, and how they are shown: summaries, tables, Markdown.

Every table is built once, as a :class:`TableData` (title, headers, cells),
and rendered either as a rich table on stdout or as Markdown for
benchmarks/results/RESULTS.md:

* one table per configuration: every entry's time, its ratio to jax.grad
  with the 95% interval and the verdict, its multiple of the network's
  matrix products alone, throughput, compile time, memory, error;
* the headline: per algorithm and form, the worst and best ratio, the
  verdicts, the worst multiple of the products on large networks;
* the noise floor: jax.grad against a second copy of itself;
* the peers: every peer's ratio to jax.grad, and its multiple of the
  products, network by network;
* beyond the products: where the rest of the time goes, from the HLO;
* where the mathematics beats jax.grad;
* the headline networks repeated in fresh processes, and their spread;
* scaling exponents (Exercise 4 of the notes: Algorithm 1 runs in
  O(L n^2) for one sample and Algorithm 2 in O(N L n^2) for a batch, so
  time should grow like width^2, like N and like L once the products
  dominate; small networks sit below those slopes, where a fixed cost per
  call does), fitted by least squares on log-log axes.

The generated part of the Markdown sits between two marker lines;
:func:`write_markdown` replaces only that part of an existing file, so prose
written around it survives a fresh run.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks import stats
from benchmarks.measure import HLO_KINDS
from benchmarks.workload import GRAD, GRAD_COPY, PEERS, PER_EXAMPLE, algorithm_name

_MIB = 1 << 20
#: "Large" configurations, where the targets on the products and the ceiling apply.
LARGE_N, LARGE_WIDTH = 512, 256
#: The structured batch algorithms' target: at most this multiple of their products alone.
LIMIT_TARGET = 1.10
CONFIG_FIELDS: tuple[str, ...] = ("N", "width", "depth", "hidden")


@dataclasses.dataclass(frozen=True)
class TableData:
    """A table, before it is drawn.

    Attributes:
      title: shown above it.
      headers: the column names.
      cells: one list of strings per line.
      styles: a rich style per line (None: plain); Markdown ignores them.
      caption: a line shown below it, or "".
    """

    title: str
    headers: tuple[str, ...]
    cells: list[list[str]]
    styles: list[str | None] = dataclasses.field(default_factory=list)
    caption: str = ""

    def rich(self) -> Table:
        """The table for the terminal."""
        table = Table(title=self.title, title_justify="left", header_style="bold")
        for header in self.headers:
            table.add_column(header, justify="left" if header in _LEFT else "right")
        styles = self.styles or [None] * len(self.cells)
        for line, style in zip(self.cells, styles, strict=True):
            table.add_row(*line, style=style)
        if self.caption:
            table.caption = self.caption
        return table

    def markdown(self, level: str = "###") -> list[str]:
        """The table as Markdown lines, under a heading of ``level``."""
        out = [f"{level} {self.title}", ""] if self.title else []
        out += ["| " + " | ".join(self.headers) + " |", "|" + "---|" * len(self.headers)]
        out += [
            "| " + " | ".join(cell.replace("|", "/") for cell in line) + " |" for line in self.cells
        ]
        return [*out, "", self.caption, ""] if self.caption else [*out, ""]


_LEFT = {"entry", "mode", "algorithm", "form", "network", "what", "against", "verdict", "note"}


# Formatting.


def seconds(value: float | None) -> str:
    """e.g. "1.23 ms"; "-" for None."""
    if value is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value * 1e9:.3g} ns"


def number(value: object) -> str:
    """A float to 4 significant digits, anything else as str."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def with_ci(ratio: float, ci: Sequence[float]) -> str:
    """e.g. "0.982 [0.975, 0.990]"."""
    return f"{ratio:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / _MIB:.3g}"


def size(value: int) -> str:
    """Bytes in the largest unit that keeps the number at least 1, e.g. "1.5 KiB"."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", _MIB), ("KiB", 1 << 10)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value} B"


def label(row: dict) -> str:
    """e.g. "Algorithm 1 (vmap)", "jax.grad (batch)"."""
    return f"{row['name']} ({row['form']})"


def network(row: dict) -> str:
    """e.g. "N=512 n=256 L=4 relu"."""
    return f"N={row['N']} n={row['width']} L={row['depth']} {row['hidden']}"


def short_refusal(message: str) -> str:
    """The short form, e.g. "refused: 4.00 GiB", of the library's dense-budget message."""
    found = re.search(r"would materialize ([\d.]+ \w+)", message)
    return f"refused: {found.group(1)}" if found else "refused"


def is_large(row: dict) -> bool:
    """N >= 512 and n >= 256, not a single sample: where the targets apply."""
    return row["N"] >= LARGE_N and row["width"] >= LARGE_WIDTH and row["form"] != "sample"


def _ok(rows: Iterable[dict]) -> list[dict]:
    return [row for row in rows if row["status"] == "ok"]


def networks_of(rows: Iterable[dict]) -> list[tuple]:
    """The configurations of ``rows`` as (N, width, depth, hidden), in order of appearance."""
    return list(dict.fromkeys(tuple(row[field] for field in CONFIG_FIELDS) for row in rows))


def rows_of(rows: Iterable[dict], key: tuple) -> list[dict]:
    """The rows of one configuration, (N, width, depth, hidden)."""
    return [row for row in rows if tuple(row[field] for field in CONFIG_FIELDS) == key]


# One configuration.

HEADERS: tuple[str, ...] = (
    "entry",
    "mode",
    "median",
    "x grad [95% CI]",
    "verdict",
    "x limit",
    "x vmap(grad)",
    "GFLOP/s",
    "of ceiling",
    "compile",
    "temp MiB (grad)",
    "rel err",
)


def row_cells(row: dict) -> list[str]:
    """One line of a configuration's table: the columns of docs/benchmarks.md."""
    mode = row["mode"] or ""
    blank = [""] * (len(HEADERS) - 3)
    if row["status"] == "refused":
        return [label(row), mode, short_refusal(row["refusal"]), *blank]
    if row["status"] == "wrong":
        return [label(row), mode, f"wrong: rel err {row['max_rel_error']:.1e}", *blank]
    per_example = row.get("ratio_per_example")
    return [
        label(row),
        mode,
        seconds(row["median_s"]),
        with_ci(row["ratio_paired"], row["ratio_ci"]),
        verdict_text(row),
        f"{row['limit_multiple']:.2f}",
        "-" if per_example is None else f"{per_example:.3f}",
        f"{row['gflops']:.3g}",
        f"{100 * row['ceiling_fraction']:.1f}%",
        seconds(row["compile_s"]),
        f"{_mib(row['temp_bytes'])} / {_mib(row['grad_temp_bytes'])}",
        f"{row['max_rel_error']:.1e}",
    ]


def verdict_text(item: dict) -> str:
    """The verdict, marked where only the noise floor makes it "no measurable difference"."""
    low, high = item["ratio_ci"]
    if item["verdict"] == stats.NO_DIFFERENCE and not low <= 1 <= high:
        return f"{stats.NO_DIFFERENCE} (noise floor)"
    return item["verdict"]


def _row_style(row: dict) -> str | None:
    if row["status"] == "wrong":
        return "red"
    if row["status"] == "ok" and row["algorithm"] is not None and row["verdict"] == stats.SLOWER:
        return "yellow"
    return None if row["algorithm"] is not None else "dim"


def config_table(title: str, rows: Sequence[dict], limits: Sequence[dict] = ()) -> TableData:
    """One configuration's rows; the caption gives the products-alone time of each form."""
    caption = "; ".join(
        f"products alone ({limit['form']}): {seconds(limit['median_s'])}" for limit in limits
    )
    return TableData(
        title, HEADERS, [row_cells(r) for r in rows], [_row_style(r) for r in rows], caption
    )


# The summaries.


def headline(rows: Sequence[dict]) -> list[dict]:
    """Per algorithm (structured mode) and form: ratios, verdicts, limits, memory.

    The forms an algorithm runs in natively (one sample or a batch) and its
    vmap form are summarized apart.
    """
    summary = []
    for number in sorted({row["algorithm"] for row in rows if row["algorithm"] is not None}):
        for vmapped in (False, True):
            mine = [
                row
                for row in _ok(rows)
                if row["algorithm"] == number
                and row["mode"] == "structured"
                and (row["form"] == "vmap") == vmapped
            ]
            if not mine:
                continue
            worst = max(mine, key=lambda row: row["ratio_paired"])
            best = min(mine, key=lambda row: row["ratio_paired"])
            large = [row for row in mine if is_large(row)]
            excess = [
                row["temp_bytes"] - row["grad_temp_bytes"]
                for row in mine
                if row["temp_bytes"] is not None
                and row["grad_temp_bytes"] is not None
                and row["temp_bytes"] > row["grad_temp_bytes"]
            ]
            verdicts = [row["verdict"] for row in mine]
            summary.append(
                {
                    "algorithm": number,
                    "form": "vmap" if vmapped else mine[0]["form"],
                    "worst_ratio": worst["ratio"],
                    "worst_ratio_paired": worst["ratio_paired"],
                    "worst_ratio_ci": worst["ratio_ci"],
                    "worst_at": {k: worst[k] for k in CONFIG_FIELDS},
                    "best_ratio": best["ratio"],
                    "best_ratio_paired": best["ratio_paired"],
                    "best_ratio_ci": best["ratio_ci"],
                    "verdicts": {v: verdicts.count(v) for v in stats.VERDICTS},
                    "max_large_limit_multiple": max(
                        (row["limit_multiple"] for row in large), default=None
                    ),
                    "min_large_ceiling_fraction": min(
                        (row["ceiling_fraction"] for row in large), default=None
                    ),
                    "temp_over_grad": len(excess),
                    "max_temp_excess_bytes": max(excess, default=0),
                    "configs": len(mine),
                }
            )
    return summary


def _verdict_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts[v]} {v}" for v in stats.VERDICTS if counts.get(v))


def headline_table(summary: Sequence[dict], rows: Sequence[dict]) -> TableData:
    """The headline: every algorithm's structured mode against jax.grad."""
    grad_fractions = [
        row["ceiling_fraction"] for row in _ok(rows) if row["name"] == GRAD and is_large(row)
    ]
    cells = []
    for item in summary:
        at = item["worst_at"]
        limit, fraction = item["max_large_limit_multiple"], item["min_large_ceiling_fraction"]
        text = f"{item['temp_over_grad']} of {item['configs']}"
        if item["temp_over_grad"]:
            text += f" (at most {item['max_temp_excess_bytes'] / 1024:.3g} KiB)"
        cells.append(
            [
                algorithm_name(item["algorithm"]),
                item["form"],
                with_ci(item["worst_ratio_paired"], item["worst_ratio_ci"]),
                f"N={at['N']} n={at['width']} L={at['depth']} {at['hidden']}",
                with_ci(item["best_ratio_paired"], item["best_ratio_ci"]),
                _verdict_counts(item["verdicts"]),
                "-" if limit is None else f"{limit:.2f}",
                "-" if fraction is None else f"{100 * fraction:.1f}%",
                text,
            ]
        )
    caption = ""
    if grad_fractions:
        caption = (
            f"jax.grad on the same large configurations: {100 * min(grad_fractions):.1f}% "
            f"to {100 * max(grad_fractions):.1f}% of the ceiling"
        )
    headers = (
        "algorithm",
        "form",
        "worst x grad [95% CI]",
        "worst at",
        "best x grad [95% CI]",
        "verdicts",
        f"worst x limit (N>={LARGE_N}, n>={LARGE_WIDTH}; target {LIMIT_TARGET})",
        "least of ceiling (large)",
        "temp memory > jax.grad",
    )
    return TableData("Structured mode against jax.grad", headers, cells, caption=caption)


def noise_floor_table(rows: Sequence[dict]) -> TableData:
    """jax.grad against a second, separately compiled copy of itself, per network."""
    floor = [row for row in _ok(rows) if row["name"] == GRAD_COPY]
    cells = [
        [
            network(row),
            row["form"],
            with_ci(row["ratio_paired"], row["ratio_ci"]),
            verdict_text(row),
        ]
        for row in floor
    ]
    caption = ""
    if floor:
        lows = [row["ratio_ci"][0] for row in floor]
        highs = [row["ratio_ci"][1] for row in floor]
        caption = (
            f"the benchmark's own noise: identical programs measured {min(lows):.3f} "
            f"to {max(highs):.3f} (the extremes of their intervals)"
        )
    return TableData(
        "Noise floor: jax.grad against a second copy of itself",
        ("network", "form", "x grad [95% CI]", "verdict"),
        cells,
        caption=caption,
    )


def peers_entries(rows: Sequence[dict]) -> tuple[dict[tuple, dict], list[str], list[tuple]]:
    """The batch entries of every peer, for the peers tables and plot.

    Returns:
      ((network, entry name) -> row; the entry names: every peer's own
      entry, then the structured Algorithms 2 and 5; the networks).
    """
    batch = [r for r in _ok(rows) if r["form"] == "batch" and r["mode"] in (None, "structured")]
    present = {row["name"] for row in batch}
    names = [name for name in PEERS[1:] if name in present and name != PER_EXAMPLE]
    names += [name for name in (algorithm_name(2), algorithm_name(5)) if name in present]
    by_cell = {(tuple(r[f] for f in CONFIG_FIELDS), r["name"]): r for r in batch}
    return by_cell, names, networks_of(batch)


def peers_tables(rows: Sequence[dict], skipped: Sequence[dict] = ()) -> list[TableData]:
    """Every peer on the batch form of every network: x jax.grad, and x the products alone."""
    by_cell, columns, networks = peers_entries(rows)
    ratio_cells, limit_cells = [], []
    for key in networks:
        here = [by_cell.get((key, name)) for name in columns]
        text = "N={} n={} L={} {}".format(*key)
        ratio_cells.append(
            [text] + ["-" if r is None else with_ci(r["ratio_paired"], r["ratio_ci"]) for r in here]
        )
        limit_cells.append(
            [text]
            + [
                "-" if r is None else f"{r['limit_multiple']:.2f} ({seconds(r['median_s'])})"
                for r in here
            ]
        )
    caption = "; ".join(f"{s['peer']} skipped: {s['reason']} ({s['install']})" for s in skipped)
    return [
        TableData(
            "Peers: time / jax.grad [95% CI], batch form",
            ("network", *columns),
            ratio_cells,
            caption=caption,
        ),
        TableData(
            "Peers: time / the network's matrix products alone (median time)",
            ("network", *columns),
            limit_cells,
        ),
    ]


def beyond_products_table(rows: Sequence[dict]) -> TableData:
    """Where the time beyond the products goes: the compiled programs' other instructions.

    For jax.grad and the structured batch algorithms on the large networks
    (all networks when the run has no large one).
    """
    chosen = [
        r
        for r in _ok(rows)
        if r["form"] == "batch"
        and r["hlo"] is not None
        and (r["name"] == GRAD or (r["algorithm"] is not None and r["mode"] == "structured"))
    ]
    if any(is_large(r) for r in chosen):
        chosen = [r for r in chosen if is_large(r)]
    cells = []
    for r in chosen:
        hlo = r["hlo"]
        cells.append(
            [
                network(r),
                r["name"],
                f"{r['limit_multiple']:.2f}",
                seconds(max(r["median_s"] - r["limit_s"], 0.0)),
                *(f"{hlo[kind]['count']} ({size(hlo[kind]['bytes'])})" for kind in HLO_KINDS),
            ]
        )
    return TableData(
        "Beyond the products: the compiled programs' instructions",
        ("network", "entry", "x limit", "time beyond products", *HLO_KINDS),
        cells,
        caption="count of top-level HLO instructions (and the bytes they write) by kind",
    )


def comparisons_table(comparisons: Sequence[dict]) -> TableData:
    """Where the mathematics beats jax.grad: each comparison on every network it applies to."""
    cells = [
        [
            item["what"],
            network(item),
            item["entry"],
            item["against"],
            with_ci(item["ratio_paired"], item["ratio_ci"]),
            verdict_text(item),
        ]
        for item in comparisons
    ]
    return TableData(
        "Where the mathematics beats jax.grad",
        ("what", "network", "entry", "against", "time ratio [95% CI]", "verdict"),
        cells,
    )


def repeats_summary(runs: Sequence[Sequence[dict]]) -> list[dict]:
    """The headline networks' rows in every process, side by side, with their spread.

    Args:
      runs: one list of rows per process, this one first; each list has the
        headline networks' rows.

    Returns:
      One dict per (network, entry) timed in every process: its paired
      ratios and verdicts per process, the spread (largest ratio over the
      smallest) and whether the verdicts that are not noisy agree.
    """
    keyed = [
        {
            (*(r[f] for f in CONFIG_FIELDS), r["name"], r["mode"], r["form"]): r
            for r in _ok(run)
            if r["mode"] in (None, "structured") and r["name"] != GRAD
        }
        for run in runs
    ]
    found = []
    for key in keyed[0] if keyed else ():
        here = [run.get(key) for run in keyed]
        if any(r is None for r in here):
            continue
        ratios = [r["ratio_paired"] for r in here]
        verdicts = [r["verdict"] for r in here]
        firm = {v for v in verdicts if v not in stats.NOT_VERDICTS}
        found.append(
            {
                **dict(zip(CONFIG_FIELDS, key[:4], strict=True)),
                "name": key[4],
                "mode": key[5],
                "form": key[6],
                "ratios": ratios,
                "cis": [r["ratio_ci"] for r in here],
                "verdicts": verdicts,
                "spread": stats.spread(ratios),
                "agree": len(firm) <= 1,
            }
        )
    return found


def repeats_table(summary: Sequence[dict]) -> TableData:
    """The headline networks in every process."""
    processes = len(summary[0]["ratios"]) if summary else 0
    cells = [
        [
            network(item),
            f"{item['name']} ({item['form']})",
            *(with_ci(r, ci) for r, ci in zip(item["ratios"], item["cis"], strict=True)),
            f"{item['spread']:.3f}",
            "yes" if item["agree"] else "NO",
        ]
        for item in summary
    ]
    headers = ("network", "entry", "this process", *(f"fresh {i}" for i in range(1, processes)))
    spreads = [item["spread"] for item in summary]
    caption = ""
    if spreads:
        caption = (
            f"spread (largest ratio / smallest over the {processes} processes): median "
            f"{float(np.median(spreads)):.3f}, largest {max(spreads):.3f}; "
            f"{sum(not item['agree'] for item in summary)} of {len(summary)} rows disagree "
            "on a verdict that is not noisy"
        )
    return TableData(
        "The headline networks, repeated in fresh processes",
        (*headers, "spread", "verdicts agree"),
        cells,
        caption=caption,
    )


# Scaling exponents.

#: axis -> the exponent Exercise 4 predicts.
PREDICTED: dict[str, float] = {"width": 2.0, "N": 1.0, "depth": 1.0}
AXES: tuple[str, ...] = tuple(PREDICTED)


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
        for ((name, mode, family), fixed), members in lines(
            rows, axis, min_points=min_points
        ).items():
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


def scaling_table(fits: Sequence[dict]) -> TableData:
    """The fitted exponents against Exercise 4's."""
    cells = [
        [
            f"{fit['series']} ({fit['family']})",
            fit["axis"],
            " ".join(f"{k}={v}" for k, v in fit["fixed"].items()),
            ", ".join(str(x) for x, _ in fit["points"]),
            f"{fit['exponent']:.2f}",
            f"{fit['last_step_exponent']:.2f}",
            f"{fit['predicted']:.0f}",
        ]
        for fit in fits
    ]
    return TableData(
        "Scaling exponents (least squares on log-log)",
        ("series", "axis", "fixed", "points", "fitted exponent", "last step", "Exercise 4"),
        cells,
    )


# The data-parallel section.

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


def sharded_table(rows: Sequence[dict]) -> TableData:
    """The data-parallel section, from ``benchmarks.data_parallel.benchmark_sharded``."""
    # A row's note says what it measures (forced CPU devices: correctness only).
    cells = [[number(row.get(key)) for key in SHARDED_KEYS] for row in rows]
    return TableData("Sharded (data-parallel)", SHARDED_KEYS, cells)


# The whole report.


def summary_tables(results: dict) -> list[TableData]:
    """The tables after the configurations', in the order printed and written."""
    rows = results["rows"]
    tables = [headline_table(results["headline"], rows), noise_floor_table(rows)]
    tables += peers_tables(rows, results.get("peers", {}).get("skipped", ()))
    tables += [beyond_products_table(rows), comparisons_table(results.get("comparisons", []))]
    if results.get("repeats"):
        tables.append(repeats_table(results["repeats"]["summary"]))
    tables.append(scaling_table(results["scaling"]))
    if results.get("sharded"):
        tables.append(sharded_table(results["sharded"]))
    return tables


def make_console() -> Console:
    """The console the commands print to: 180 columns wide where it is not a terminal."""
    console = Console()
    if not console.is_terminal:
        console.width = 180
    return console


def print_report(console: Console, results: dict) -> None:
    """The summary after every configuration's table has been printed."""
    for table in summary_tables(results):
        console.print(table.rich())


BEGIN = "<!-- BEGIN GENERATED: python -m benchmarks --markdown benchmarks/results/RESULTS.md -->"
_BEGIN_PREFIX = "<!-- BEGIN GENERATED"
END = "<!-- END GENERATED -->"


def generated_markdown(results: dict) -> str:
    """The tables of one run: machine, ceiling, summaries, every configuration."""
    machine, ceiling = results["machine"], results["ceiling"]
    md = [BEGIN, "", f"Command: `{results['command']}` ({results['sweep']} sweep, "]
    md[-1] += f"{results['wall_s'] / 60:.1f} minutes, {results['date_utc']} UTC)."
    threads = results.get("threads", {})
    machine_lines = [
        ["CPU", f"{machine['cpu_model']}, {machine['cpu_cores']} cores"],
        ["device", f"{machine['device_kind']} ({machine['platform']})"],
        ["jax / jaxlib", f"{machine['jax_version']} / {machine['jaxlib_version']}"],
        ["Python / NumPy", f"{machine['python_version']} / {machine['numpy_version']}"],
        ["peers", ", ".join(f"{k} {v}" for k, v in results.get("peer_versions", {}).items())],
        ["threads", ", ".join(f"{k} {v}" for k, v in threads.items())],
        ["load average at start / end", f"{machine['load_start']} / {machine['load_end']}"],
        ["dtype", results["dtype"]],
    ]
    md += ["", *TableData("Machine", ("", ""), machine_lines).markdown()]
    by_size = ", ".join(f"{n}: {g:.1f}" for n, g in ceiling["by_size"].items())
    md += [
        f"Matmul ceiling: **{ceiling['gflops']:.1f} GFLOP/s** ({ceiling['dtype']} square "
        f"matmul of size {ceiling['size']} under jit; GFLOP/s by size: {by_size}).",
        "",
    ]
    plot = results.get("peers_plot")
    if plot:
        md += [
            f"Time per network for every peer: [{Path(plot).name}](plots/{Path(plot).name}).",
            "",
        ]
    for table in summary_tables(results):
        md += table.markdown()
    md += ["### Every configuration", ""]
    rows, limits = results["rows"], results.get("limits", [])
    for key in networks_of(rows):
        here = rows_of(rows, key)
        large = " (large)" if any(is_large(r) for r in here) else ""
        ceiling_here = next((r["ceiling_gflops"] for r in here if r["status"] == "ok"), None)
        title = "N={}, width={}, depth={}, hidden {}".format(*key) + large
        table = config_table(title, here, rows_of(limits, key))
        md += table.markdown("####")
        if ceiling_here is not None:
            md += [f"Matmul ceiling timed beside these rows: {ceiling_here:.1f} GFLOP/s.", ""]
    md += [END]
    return "\n".join(md) + "\n"


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
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Benchmark results\n\n" + generated, encoding="utf-8")
