"""``manualgrad bench`` / ``python -m benchmarks``: every algorithm against jax.grad and its peers.

For each configuration of the sweep, in one process: every algorithm of the
notes in structured and dense Jacobian mode; jax.grad, jax.vjp and
jax.vmap(jax.grad) of the same loss written in plain JAX; a hand-written
NumPy backprop, HIPS autograd and, where torch is installed, torch.autograd
and a hand-written torch backprop; and the network's matrix products alone.
Each is checked against ``reference.grad``, then timed in calibrated,
interleaved rounds until its ratio to jax.grad has a 95% interval within
+-3% or the budget is spent (``benchmarks.measure``). Then the headline
networks again in fresh processes, the summaries, a rich table on stdout,
JSON with every number and the machine, Markdown and PNG plots.
docs/benchmarks.md explains every column and field.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

import reference
from benchmarks import measure, peers, plots, report, stats, workload
from benchmarks.data_parallel import benchmark_sharded
from benchmarks.oracles import benchmark_oracles
from manualgrad import DEFAULT_MAX_DENSE_BYTES
from reference.machine import load_average


@dataclasses.dataclass(frozen=True)
class SweepDefaults:
    """What a sweep measures with, unless the command line says otherwise.

    Attributes:
      budget_s: seconds of timed rounds per configuration.
      min_reps: fewest rounds.
      copies: executables per JAX entry.
      min_sample_s: the shortest sample.
      processes: fresh processes that repeat the headline networks.
      plain_calls: whether to time the public functions without an outer jit.
    """

    budget_s: float
    min_reps: int
    copies: int
    min_sample_s: float
    processes: int
    plain_calls: bool = True


DEFAULTS: dict[str, SweepDefaults] = {
    "tiny": SweepDefaults(0.2, 3, 1, 1e-3, 1, plain_calls=False),
    "quick": SweepDefaults(2.0, 20, 1, 2e-3, 2, plain_calls=False),
    "default": SweepDefaults(15.0, 20, 3, 5e-3, 3),
    "full": SweepDefaults(4.0, 20, 3, 5e-3, 3),
    "custom": SweepDefaults(15.0, 20, 3, 5e-3, 0),
}
#: sweep -> (seconds, fewest rounds): the budgets, as the JSON's settings name them.
BUDGETS: dict[str, tuple[float, int]] = {
    name: (item.budget_s, item.min_reps) for name, item in DEFAULTS.items()
}
DTYPE = "float32"
#: Where the measured sweeps write by default: the results kept in the repository.
RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: Where smoke runs (tiny, quick, --config) write by default, so they never overwrite them.
SCRATCH_DIR = Path("bench-out")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line, with the sweep and the output directory resolved."""
    parser = argparse.ArgumentParser(
        prog="manualgrad bench",
        description="Time Algorithms 1-5 (structured and dense Jacobians) against jax.grad, "
        "jax.vjp, jax.vmap(jax.grad), NumPy, autograd and torch on the same loss.",
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
        "sweeps, bench-out/ for the others and for --render)",
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
        "its --markdown (and, unless --no-plots, its plots into OUT/plots)",
    )
    parser.add_argument(
        "--no-sharded",
        action="store_true",
        help="skip the data-parallel section (benchmarks.data_parallel.benchmark_sharded)",
    )
    parser.add_argument(
        "--no-oracles",
        action="store_true",
        help="skip the oracles' section (benchmarks.oracles: directional vs full differences)",
    )
    parser.add_argument(
        "--no-peers",
        action="store_true",
        help="skip the peers outside JAX (NumPy, autograd, torch)",
    )
    parser.add_argument("--no-dense", action="store_true", help="skip the dense Jacobian mode")
    parser.add_argument(
        "--no-plain-calls",
        action="store_true",
        help="skip timing the public functions without an outer jit (always skipped in "
        "quick and tiny)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=None,
        help="fresh processes that repeat the headline networks (default: 2 for quick, "
        "3 for the default sweep; 0 skips them)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds of timed rounds per configuration, after which an entry whose "
        "interval is still wider than +-3%% is marked noisy (default depends on the sweep)",
    )
    parser.add_argument(
        "--min-rounds",
        type=int,
        default=None,
        help="fewest rounds per network, whatever the budget (default 20; 3 in tiny); an "
        f"interval from fewer than {stats.MIN_ROUNDS} rounds never settles",
    )
    parser.add_argument(
        "--copies",
        type=int,
        default=None,
        help="executables compiled per JAX entry and timed side by side, merged by their "
        "median in every round (default 3; 1 in quick and tiny)",
    )
    parser.add_argument(
        "--min-sample",
        type=float,
        default=None,
        metavar="SECONDS",
        help="calls are repeated within a sample until it lasts this long (default 5 ms; "
        "2 ms in quick)",
    )
    parser.add_argument(
        "--max-dense-bytes",
        type=int,
        default=DEFAULT_MAX_DENSE_BYTES,
        help="the dense mode's budget; larger configurations are recorded as refused",
    )
    args = parser.parse_args(argv)
    for name, least in (("copies", 1), ("processes", 0), ("min_rounds", 1)):
        value = getattr(args, name)
        if value is not None and value < least:
            flag = "--" + name.replace("_", "-")
            parser.error(f"{flag} must be at least {least}, got {value}")
    if args.config:
        args.sweep = "custom"
    else:
        args.sweep = "quick" if args.quick else "full" if args.full else args.sweep or "default"
    if args.out is None:
        measured = args.sweep in ("default", "full") and args.render is None
        args.out = RESULTS_DIR if measured else SCRATCH_DIR
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


def _config_arg(config: workload.Config) -> str:
    return f"{config.N},{config.width},{config.depth},{config.hidden}"


def _small(sweep: str) -> bool:
    return sweep in ("tiny", "quick")


def analyse(results: dict) -> None:
    """Derives the summaries from the rows, in place: headline, comparisons, scaling, repeats.

    Used by a fresh run and by ``--render``, so an earlier run's JSON is
    summarized by this code's analysis.
    """
    rows, tolerance = results["rows"], results["settings"]["tolerance"]
    results["headline"] = report.headline(rows)
    results["comparisons"] = []
    for key in report.networks_of(rows):
        here = report.rows_of(rows, key)
        config = workload.Config(*key)
        results["comparisons"] += measure.comparison_rows(
            config, here, workload.COMPARISONS, tolerance=tolerance
        )
    results["scaling"] = report.scaling_fits(rows, min_points=2 if _small(results["sweep"]) else 3)
    repeats = results.get("repeats")
    if repeats:
        networks = {
            tuple(network[f] for f in report.CONFIG_FIELDS) for network in repeats["networks"]
        }
        mine = [r for r in rows if tuple(r[f] for f in report.CONFIG_FIELDS) in networks]
        repeats["summary"] = report.repeats_summary([mine, *repeats["runs"]])


def render(args: argparse.Namespace, console: Console) -> int:
    """Summary, Markdown and plots of an earlier run, from its JSON."""
    results = json.loads(args.render.read_text(encoding="utf-8"))
    analyse(results)
    report.print_report(console, results)
    if not args.no_plots:
        write_plots(results, args.out / "plots")
    if args.markdown is not None:
        report.write_markdown(args.markdown, results)
    return 0


def write_plots(results: dict, plot_dir: Path) -> list[str]:
    """The scaling plots and the peers plot; sets ``results["peers_plot"]``; returns all paths."""
    small = _small(results["sweep"])
    paths = plots.plot_scaling(results["rows"], plot_dir, min_points=2 if small else 3)
    peers_plot = plots.plot_peers(results["rows"], results.get("limits", []), plot_dir)
    results["peers_plot"] = str(peers_plot)
    return [str(path) for path in [*paths, peers_plot]]


def busy_warning(load: list[float] | None, cores: int) -> str:
    """A warning when other work already keeps the machine busy, else "".

    Args:
      load: the 1, 5 and 15 minute load averages before the benchmark starts.
      cores: the cores this process may use.

    Returns:
      The warning, or "" where the load is unknown or below half the cores.
    """
    if not load or load[0] <= cores / 2:
        return ""
    return (
        f"the machine is busy before the benchmark starts (load {load[0]} on {cores} cores): "
        "expect noisy rows, and ratios between programs that use different numbers of "
        "threads (XLA's multi-threaded products, single-threaded fusions, other libraries) "
        "shift with the load"
    )


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _versions(names: list[str]) -> dict[str, str]:
    found = {}
    for name in dict.fromkeys(peers.PACKAGES[peer] for peer in names):
        try:
            found[name] = importlib.import_module(name).__version__
        except (ImportError, AttributeError):
            continue
    return found


def repeat_in_fresh_processes(
    args: argparse.Namespace,
    networks: list[workload.Config],
    settings: measure.Settings,
    console: Console,
) -> list[list[dict]]:
    """Measures ``networks`` again in ``args.processes`` fresh processes, one after another.

    Each is ``python -m benchmarks --config ...`` with this run's settings,
    no dense mode, no plots, no data-parallel section and no repeats of its
    own; a fresh process compiles every program anew, so what the same
    program gains or loses from where one process placed it shows up as a
    spread between processes.

    Returns:
      One list of rows per fresh process.

    Raises:
      RuntimeError: a fresh process failed (its output is in the message).
    """
    runs = []
    for index in range(1, args.processes + 1):
        console.print(f"headline networks, fresh process {index}/{args.processes} ...")
        with tempfile.TemporaryDirectory() as scratch:
            json_path = Path(scratch) / "results.json"
            command = [sys.executable, "-m", "benchmarks"]
            for config in networks:
                command += ["--config", _config_arg(config)]
            command += [
                "--processes",
                "0",
                "--no-sharded",
                "--no-oracles",
                "--no-plots",
                "--no-dense",
            ]
            command += ["--no-plain-calls", "--min-rounds", str(settings.min_reps)]
            command += ["--out", scratch, "--json", str(json_path)]
            command += ["--budget", str(settings.budget_s), "--copies", str(settings.copies)]
            command += ["--min-sample", str(settings.min_sample_s)]
            command += ["--max-dense-bytes", str(args.max_dense_bytes)]
            command += [] if settings.peers else ["--no-peers"]
            completed = subprocess.run(
                command,
                capture_output=True,
                text=True,
                cwd=Path(__file__).resolve().parent.parent,
                check=False,
            )
            if completed.returncode != 0:
                raise RuntimeError(
                    f"{' '.join(command)} failed ({completed.returncode}):\n"
                    f"{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}"
                )
            runs.append(json.loads(json_path.read_text(encoding="utf-8"))["rows"])
    return runs


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark.

    Args:
      argv: the arguments after the program name; None reads ``sys.argv``.

    Returns:
      The exit code, 0.
    """
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    console = report.make_console()
    if args.render is not None:
        return render(args, console)
    started = time.perf_counter()
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.json or out_dir / "results.json"
    defaults = DEFAULTS[args.sweep]
    small = _small(args.sweep)
    processes = defaults.processes if args.processes is None else args.processes
    args.processes = processes

    machine = reference.describe_machine()
    machine["load_start"] = load_average()
    console.print(
        f"[bold]manualgrad bench[/] ({args.sweep}): {machine['cpu_model']}, "
        f"{machine['cpu_cores']} cores, {machine['device_kind']}, jax {machine['jax_version']}"
    )
    busy = busy_warning(machine["load_start"], machine["usable_cores"])
    if busy:
        console.print(f"[yellow]{busy}[/]")
    peer_names = [] if args.no_peers else list(peers.NAMES)
    skipped = peers.skipped_peers(peer_names)
    for item in skipped:
        console.print(f"peer {item.peer} skipped: {item.reason}; install: {item.install}")
    ceiling = measure.measure_ceiling(
        sizes=measure.QUICK_CEILING_SIZES if small else measure.CEILING_SIZES, dtype=DTYPE
    )
    console.print(
        f"matmul ceiling: {ceiling['gflops']:.1f} GFLOP/s ({DTYPE}, {ceiling['size']}^2 matmul)"
    )
    settings = measure.Settings(
        ceiling_size=ceiling["size"],
        dtype=DTYPE,
        budget_s=args.budget if args.budget is not None else defaults.budget_s,
        min_reps=args.min_rounds if args.min_rounds is not None else defaults.min_reps,
        copies=args.copies if args.copies is not None else defaults.copies,
        max_dense_bytes=args.max_dense_bytes,
        min_sample_s=args.min_sample if args.min_sample is not None else defaults.min_sample_s,
        peers=tuple(peer_names),
        dense=not args.no_dense,
        plain_calls=defaults.plain_calls and not args.no_plain_calls,
    )

    configs = tuple(args.config) if args.config else workload.sweep(args.sweep)
    rows: list[dict] = []
    limits: list[dict] = []
    phases: dict[str, object] = {"configs": {}}
    for index, config in enumerate(configs, start=1):
        config_started = time.perf_counter()
        measured = measure.benchmark_config(config, settings)
        phases["configs"][str(config)] = time.perf_counter() - config_started
        rows += measured.rows
        limits += measured.limits
        ceiling_here = next(r["ceiling_gflops"] for r in measured.rows if r["status"] == "ok")
        title = f"[{index}/{len(configs)}] {config}; ceiling beside it {ceiling_here:.1f} GFLOP/s"
        console.print(report.config_table(title, measured.rows, measured.limits).rich())

    repeats = None
    if processes:
        repeats_started = time.perf_counter()
        networks = list(workload.headline_networks(args.sweep, configs))
        runs = repeat_in_fresh_processes(args, networks, settings, console)
        repeats = {"networks": [c.as_dict() for c in networks], "runs": runs}
        phases["repeats"] = time.perf_counter() - repeats_started

    sections = {
        "sharded": ("sharded (data-parallel)", benchmark_sharded, args.no_sharded),
        "oracles": (
            "oracles (directional check vs central differences)",
            benchmark_oracles,
            args.no_oracles,
        ),
    }
    extra: dict[str, Any] = {}
    for key, (title, benchmark, turned_off) in sections.items():
        extra[key] = None
        if not turned_off:
            console.print(f"{title}: timing ...")
            started = time.perf_counter()
            extra[key] = benchmark(quick=small)
            phases[key] = time.perf_counter() - started

    machine["load_end"] = load_average()
    torch_threads = None
    if any(name.startswith("torch") for name in peer_names) and not any(
        item.peer.startswith("torch") for item in skipped
    ):
        torch_threads = peers.import_torch().get_num_threads()
    results = {
        "command": "python -m benchmarks " + " ".join(argv),
        "sweep": args.sweep,
        "dtype": DTYPE,
        "date_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
        "machine": machine,
        "ceiling": ceiling,
        "settings": {
            "budget_s": settings.budget_s,
            "min_reps": settings.min_reps,
            "copies": settings.copies,
            "max_dense_bytes": args.max_dense_bytes,
            "plain_call_limit_s": measure.PLAIN_CALL_LIMIT_S,
            "min_sample_s": settings.min_sample_s,
            "tolerance": settings.tolerance,
            "confidence": stats.CONFIDENCE,
            "resamples": stats.RESAMPLES,
            "processes": processes,
            "dense": settings.dense,
            "plain_calls": settings.plain_calls,
        },
        "threads": {"xla": peers.xla_threads(), "torch": torch_threads},
        "peer_versions": _versions(peer_names),
        "peers": {
            "timed": sorted({row["peer"] for row in rows}, key=workload.PEERS.index),
            "skipped": [item.as_dict() for item in skipped],
        },
        "configs": [config.as_dict() for config in configs],
        "rows": rows,
        "limits": limits,
        "repeats": repeats,
        "sharded": extra["sharded"],
        "oracles": extra["oracles"],
        "plots": [],
        "phases_s": phases,
    }
    analyse(results)
    if not args.no_plots:
        results["plots"] = write_plots(results, out_dir / "plots")
    results["wall_s"] = time.perf_counter() - started
    report.print_report(console, results)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1, default=_json_default), encoding="utf-8")
    if args.markdown is not None:
        report.write_markdown(args.markdown, results)
    console.print(
        f"{len(rows)} rows in {results['wall_s']:.1f} s; JSON: {json_path}; "
        f"plots: {len(results['plots'])} in {out_dir / 'plots'}"
    )
    return 0
