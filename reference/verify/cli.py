"""``manualgrad verify``: every algorithm against jax.grad, as one table.

Runs the verification matrix, algorithms x activations x costs x dtypes x
Jacobian modes, on small random networks (see
:mod:`reference.verify.matrix`), compares each gradient with
:func:`reference.grad` and, in float64, with central differences
(:func:`reference.numerical_grad`), and prints the worst relative error of
each cell with PASS or FAIL against :func:`reference.tolerance`.

Exit status: 0 when every cell passes, 1 when one fails, 2 for bad arguments.

Examples::

    manualgrad verify
    manualgrad verify --quick
    manualgrad verify --quick --eager
    manualgrad verify --algorithms 2,5 --activations softmax,relu --costs mse \\
        --dtype float64 --modes dense --json verify.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import rich.console
import rich.progress

import manualgrad
import reference
from manualgrad import Activation
from reference._command_line import Parser, UsageError, attribute, load_module, split_target
from reference.verify import engine, large, matrix, report
from reference.verify.matrix import Selection

__all__ = ["main", "parse_selection"]

DTYPES = ("float32", "float64")


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="manualgrad verify",
        description=(
            "Check Algorithms 1-5 against jax.grad (and float64 central differences) "
            "for every activation, cost, dtype and Jacobian mode."
        ),
    )
    parser.add_argument("--algorithms", help="comma-separated algorithm numbers, e.g. 2,5")
    parser.add_argument(
        "--activations",
        help=(
            "comma-separated activation names; your own activation (a manualgrad.Custom) "
            "as FILE.py:NAME or module:NAME"
        ),
    )
    parser.add_argument("--costs", help="comma-separated cost names")
    parser.add_argument("--dtype", "--dtypes", dest="dtypes", help="float32, float64 or both")
    parser.add_argument("--modes", help="Jacobian modes: structured, dense or both")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=(
            "float64, structured Jacobians, one seed, no central differences (other "
            "filters still apply and override these)"
        ),
    )
    parser.add_argument(
        "--eager",
        action="store_true",
        help=(
            "run op by op under jax.disable_jit() instead of compiling: faster for these "
            "tiny networks, but not the compiled path users get"
        ),
    )
    parser.add_argument("--seeds", type=int, help="random networks per cell (default 3)")
    parser.add_argument(
        "--no-finite-differences",
        action="store_true",
        help="skip the comparison with central differences",
    )
    parser.add_argument(
        "--large",
        action="store_true",
        help=(
            f"also check Algorithms 2 and 5 on dims {large.DIMS}, too big for full differences, "
            "with directional checks"
        ),
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every number here")
    return parser


def _names(value: str | None, valid: Sequence[str], what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    if not names:
        raise UsageError(f"--{what}s needs at least one {what}")
    for name in names:
        if name not in valid:
            raise UsageError(f"unknown {what} {name!r}; valid {what}s: {', '.join(valid)}")
    return tuple(dict.fromkeys(names))


def _activations(value: str | None) -> tuple[tuple[str, ...] | None, tuple[Activation, ...]]:
    """The activation names asked for, and the user's own activations among them.

    A registered name stands for itself; FILE.py:NAME or module:NAME loads a
    manualgrad activation object (e.g. a ``manualgrad.Custom``), which is then
    called by its own name.
    """
    if value is None:
        return None, ()
    names, custom = [], []
    for entry in (v.strip() for v in value.split(",") if v.strip()):
        if ":" not in entry:
            names.append(entry)
            continue
        where, attr = split_target(entry, example="my_activations.py:swish")
        activation = attribute(load_module(where), attr, where)
        if not isinstance(activation, Activation):
            raise UsageError(
                f"{entry}: a {type(activation).__name__}, not a manualgrad activation "
                "(e.g. manualgrad.Custom(name, fn, jacobian=...))"
            )
        names.append(activation.name)
        custom.append(activation)
    valid = [*manualgrad.ACTIVATIONS, *(a.name for a in custom)]
    return _names(",".join(names), valid, "activation"), tuple(custom)


def _algorithms(value: str | None) -> tuple[int, ...] | None:
    valid = [str(k) for k in sorted(manualgrad.ALGORITHMS)]
    names = _names(value, valid, "algorithm")
    return None if names is None else tuple(int(k) for k in names)


def parse_selection(argv: Sequence[str]) -> tuple[Selection, argparse.Namespace]:
    """The cells a command line asks for.

    Raises:
      UsageError: an unknown name or a malformed option.
    """
    args = _parser().parse_args(list(argv))
    quick = args.quick
    seeds = args.seeds if args.seeds is not None else (1 if quick else matrix.SEEDS)
    if seeds < 1:
        raise UsageError("--seeds must be at least 1")
    if args.json is not None and not args.json.parent.is_dir():
        raise UsageError(f"--json {args.json}: no directory {args.json.parent}")
    activations, custom = _activations(args.activations)
    selection = Selection(
        algorithms=_algorithms(args.algorithms) or tuple(sorted(manualgrad.ALGORITHMS)),
        activations=activations or tuple(manualgrad.ACTIVATIONS),
        costs=_names(args.costs, list(manualgrad.COSTS), "cost") or tuple(manualgrad.COSTS),
        dtypes=_names(args.dtypes, DTYPES, "dtype") or (("float64",) if quick else DTYPES),
        modes=(
            _names(args.modes, list(manualgrad.JACOBIAN_MODES), "mode")
            or (("structured",) if quick else tuple(manualgrad.JACOBIAN_MODES))
        ),
        seeds=seeds,
        finite_differences=not (quick or args.no_finite_differences),
        custom=custom,
    )
    if args.large and not set(large.ALGORITHMS) & set(selection.algorithms):
        raise UsageError("--large checks Algorithms 2 and 5; --algorithms selects neither")
    return selection, args


def _custom_jacobian_findings(selection: Selection, failed: Sequence[engine.Outcome]) -> list[str]:
    """Where a failing custom activation's Jacobian differs from jax.jacfwd.

    Each custom activation with a failing cell is checked with
    ``reference.check_activation`` at a few standard normal points of its
    layer's width, which names the point and the entry.
    """
    findings = []
    failing = {o.cell.activation for o in failed}
    for activation in selection.custom:
        if activation.name not in failing:
            continue
        n = matrix.DIMS[1]
        points = jax.random.normal(jax.random.PRNGKey(0), (4, n), "float64")
        try:
            reference.check_activation(activation, points)
        except AssertionError as error:
            findings.append(f"{activation.name}: {error}")
        else:
            findings.append(f"{activation.name}: its Jacobian agrees with jax.jacfwd at 4 points")
    return findings


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _describe(selection: Selection) -> str:
    s = selection
    axes = [
        _count(len(s.algorithms), "algorithm"),
        _count(len(s.activations), "activation"),
        _count(len(s.costs), "cost"),
        _count(len(s.dtypes), "dtype"),
        _count(len(s.modes), "Jacobian mode"),
    ]
    return (
        f"{_count(s.num_cells, 'cell')}: {' x '.join(axes)}; {_count(s.seeds, 'seed')}, "
        f"networks of dims {matrix.DIMS}, batches of {matrix.BATCH_SIZE} rows"
    )


def main(argv: list[str] | None = None) -> int:
    """Runs ``manualgrad verify``; returns the exit status (0 pass, 1 fail, 2 usage)."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        selection, args = parse_selection(argv)
    except UsageError as error:
        print(f"manualgrad verify: error: {error}", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    engine.enable_float64()
    console = rich.console.Console(highlight=False)
    if not console.is_terminal:
        console.width = 120  # a log or a pipe: room for every column
    console.print(f"manualgrad verify: {_describe(selection)}")
    start = time.perf_counter()
    outcomes = []
    columns = (
        rich.progress.TextColumn("{task.description}"),
        rich.progress.BarColumn(),
        rich.progress.MofNCompleteColumn(),
        rich.progress.TimeElapsedColumn(),
    )
    # Refreshed on each update only: a refresh thread would take the GIL from tracing.
    with rich.progress.Progress(
        *columns, console=console, transient=True, auto_refresh=False
    ) as progress:
        task = progress.add_task("compiling", total=selection.num_cells)
        for batch in engine.run(selection, batch_size=matrix.BATCH_SIZE, eager=args.eager):
            outcomes += batch
            progress.update(
                task, advance=len(batch), description=f"verified {batch[0].cell.activation}"
            )
            progress.refresh()
    seconds = time.perf_counter() - start
    for heading, table in report.tables(outcomes, selection):
        console.print()
        console.print(heading, style="bold")
        console.print(table)
    console.print()
    console.print(report.legend(selection, eager=args.eager), style="dim")
    large_passed, large_json = (
        large.print_row(console, selection.algorithms) if args.large else (True, None)
    )
    failed = [o for o in outcomes if not o.passed]
    if args.json is not None:
        summary = report.to_json(
            outcomes,
            selection,
            batch_size=matrix.BATCH_SIZE,
            seconds=seconds,
            eager=args.eager,
        )
        if large_json is not None:
            summary["large"] = large_json
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {args.json}")
    if not large_passed:
        console.print("FAIL: the --large row (above) is outside the tolerance.", style="bold red")
    if failed:
        console.print(
            f"FAIL: {len(failed)} of {len(outcomes)} cells outside the tolerance "
            f"({seconds:.1f} s):",
            style="bold red",
        )
        for line in report.failures(outcomes):
            console.print(f"  {line}")
        for line in _custom_jacobian_findings(selection, failed):
            console.print(f"  {line}", markup=False)
        return 1
    if not large_passed:
        return 1
    console.print(
        f"PASS: all {len(outcomes)} cells within the tolerance"
        f"{' and the --large row' if args.large else ''} ({seconds:.1f} s).",
        style="bold green",
    )
    return 0
