"""``manualgrad bench`` / ``python -m benchmarks``: every algorithm against jax.grad.

For each configuration of the sweep, in one process: every algorithm of the
notes in structured and dense Jacobian mode, jax.grad and jax.vjp of the
same loss written in plain JAX, all jit-compiled from outside, warmed up,
timed interleaved, medians reported. Then the scaling exponents, a rich
table on stdout, JSON with every number and the machine, and PNG plots.
docs/benchmarks.md explains every column.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console

import reference
from benchmarks import measure, plots, report, workload
from benchmarks.data_parallel import benchmark_sharded
from manualgrad import DEFAULT_MAX_DENSE_BYTES
from reference.machine import load_average

#: sweep -> (seconds of timed repetitions per configuration, fewest repetitions).
BUDGETS: dict[str, tuple[float, int]] = {
    "tiny": (0.2, 3),
    "quick": (1.0, 5),
    "default": (12.0, 9),
    "full": (4.0, 5),
}
DTYPE = "float32"
#: Where the measured sweeps write by default: the results kept in the repository.
RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: Where smoke runs (tiny, quick, --config) write by default, so they never overwrite them.
SCRATCH_DIR = Path("bench-out")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="manualgrad bench",
        description="Time Algorithms 1-5 (structured and dense Jacobians) against "
        "jax.grad and jax.vjp of the same loss.",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--quick", action="store_true", help="a small sweep (under two minutes on 2 cores)"
    )
    which.add_argument("--full", action="store_true", help="the whole grid (hours on a CPU)")
    which.add_argument(
        "--sweep", choices=workload.SWEEPS, default=None, help="a sweep by name (default: default)"
    )
    which.add_argument(
        "--config",
        action="append",
        type=_config,
        metavar="N,WIDTH,DEPTH,HIDDEN",
        help="time this network instead of a sweep (repeatable), e.g. 512,256,4,relu",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output directory (default: benchmarks/results/ for the default and full "
        "sweeps, bench-out/ for the others)",
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="JSON path (default: OUT/results.json)"
    )
    parser.add_argument(
        "--markdown", type=Path, default=None, help="also write the tables into this Markdown file"
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="JSON",
        help="measure nothing: print the summary of an earlier run's JSON and write "
        "its --markdown (and, unless --no-plots, its plots into --out)",
    )
    parser.add_argument(
        "--no-sharded",
        action="store_true",
        help="skip the data-parallel section (benchmarks.data_parallel.benchmark_sharded)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds of timed repetitions per configuration (default depends on the sweep)",
    )
    parser.add_argument(
        "--copies",
        type=int,
        default=None,
        help="executables compiled per entry and timed side by side, merged by their "
        "median in every round (default 3; 1 in the tiny sweep)",
    )
    parser.add_argument(
        "--max-dense-bytes",
        type=int,
        default=DEFAULT_MAX_DENSE_BYTES,
        help="the dense mode's budget; larger configurations are recorded as refused",
    )
    args = parser.parse_args(argv)
    if args.copies is not None and args.copies < 1:
        parser.error(f"--copies must be at least 1, got {args.copies}")
    if args.config:
        args.sweep = "custom"
    else:
        args.sweep = "quick" if args.quick else "full" if args.full else args.sweep or "default"
    if args.out is None:
        args.out = RESULTS_DIR if args.sweep in ("default", "full") else SCRATCH_DIR
    return args


def _config(text: str) -> workload.Config:
    """Parses N,WIDTH,DEPTH,HIDDEN, e.g. "512,256,4,relu", into a Config."""
    try:
        N, width, depth, hidden = text.split(",")
        config = workload.Config(int(N), int(width), int(depth), hidden.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected N,WIDTH,DEPTH,HIDDEN such as 512,256,4,relu; got {text!r}"
        ) from None
    if config.hidden not in workload.HIDDEN or min(config.N, config.width, config.depth) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: N, width and depth must be positive and HIDDEN one of "
            f"{', '.join(workload.HIDDEN)}"
        )
    return config


def render(args: argparse.Namespace, console: Console) -> int:
    """Summary, Markdown and plots of an earlier run, from its JSON."""
    results = json.loads(args.render.read_text(encoding="utf-8"))
    # The summaries are derived from the rows, so they follow this code's analysis.
    small = results["sweep"] in ("tiny", "quick")
    results["headline"] = report.headline(results["rows"])
    results["scaling"] = report.scaling_fits(results["rows"], min_points=2 if small else 3)
    report.print_report(console, results)
    if results.get("sharded"):
        console.print(report.sharded_table(results["sharded"]))
    if not args.no_plots:
        plots.plot_scaling(results["rows"], args.out / "plots", min_points=2 if small else 3)
    if args.markdown is not None:
        report.write_markdown(args.markdown, results)
    return 0


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark; returns the exit code (0)."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    console = Console()
    if not console.is_terminal:
        console.width = 180
    if args.render is not None:
        return render(args, console)
    started = time.perf_counter()
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.json or out_dir / "results.json"
    budget_s, min_reps = BUDGETS["default" if args.sweep == "custom" else args.sweep]
    budget_s = args.budget if args.budget is not None else budget_s
    copies = args.copies if args.copies is not None else (1 if args.sweep == "tiny" else 3)

    machine = reference.describe_machine()
    machine["load_start"] = load_average()
    console.print(
        f"[bold]manualgrad bench[/] ({args.sweep}): {machine['cpu_model']}, "
        f"{machine['cpu_cores']} cores, {machine['device_kind']}, jax {machine['jax_version']}"
    )
    small = args.sweep in ("tiny", "quick")
    ceiling = measure.measure_ceiling(
        sizes=measure.QUICK_CEILING_SIZES if small else measure.CEILING_SIZES, dtype=DTYPE
    )
    console.print(
        f"matmul ceiling: {ceiling['gflops']:.1f} GFLOP/s ({DTYPE}, {ceiling['size']}^2 matmul)"
    )

    configs = tuple(args.config) if args.config else workload.sweep(args.sweep)
    rows: list[dict] = []
    for index, config in enumerate(configs, start=1):
        config_rows = measure.benchmark_config(
            config,
            ceiling_size=ceiling["size"],
            dtype=DTYPE,
            budget_s=budget_s,
            min_reps=min_reps,
            copies=copies,
            max_dense_bytes=args.max_dense_bytes,
        )
        rows += config_rows
        ceiling_here = next(r["ceiling_gflops"] for r in config_rows if r["status"] == "ok")
        title = f"[{index}/{len(configs)}] {config}; ceiling beside it {ceiling_here:.1f} GFLOP/s"
        console.print(report.config_table(title, config_rows))

    sharded = None
    if not args.no_sharded:
        console.print("sharded (data-parallel): timing ...")
        sharded = benchmark_sharded(quick=small)

    machine["load_end"] = load_average()
    results = {
        "command": "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv),
        "sweep": args.sweep,
        "dtype": DTYPE,
        "date_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
        "machine": machine,
        "ceiling": ceiling,
        "settings": {
            "budget_s": budget_s,
            "min_reps": min_reps,
            "copies": copies,
            "max_dense_bytes": args.max_dense_bytes,
            "plain_call_limit_s": measure.PLAIN_CALL_LIMIT_S,
        },
        "configs": [config.as_dict() for config in configs],
        "rows": rows,
        "headline": report.headline(rows),
        "scaling": report.scaling_fits(rows, min_points=2 if small else 3),
        "sharded": sharded,
        "plots": [],
    }
    if not args.no_plots:
        results["plots"] = [
            str(path)
            for path in plots.plot_scaling(rows, out_dir / "plots", min_points=2 if small else 3)
        ]
    results["wall_s"] = time.perf_counter() - started
    report.print_report(console, results)
    if sharded is not None:
        console.print(report.sharded_table(sharded))
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1, default=_json_default), encoding="utf-8")
    if args.markdown is not None:
        report.write_markdown(args.markdown, results)
    console.print(
        f"{len(rows)} rows in {results['wall_s']:.1f} s; JSON: {json_path}; "
        f"plots: {len(results['plots'])} in {out_dir / 'plots'}"
    )
    return 0
