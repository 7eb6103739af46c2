"""``manualgrad check``: check a gradient function in a Python file from the command line.

Loads FUNCTION from FILE.py, runs :func:`reference.compare_backprop` on it and
prints the report. Exit status: 0 when the gradient is right, 1 when it is
wrong or the function raises (its traceback is shown), 2 for bad arguments.

Examples::

    manualgrad check my_net.py:grads --activations relu,softmax \\
        --cost cross_entropy --dims 4,5,3
    manualgrad check my_net.py:grads --activations relu,softmax \\
        --cost cross_entropy --dims 4,5,3 --targets labels --reduction mean \\
        --weight-decay 0.1 --weight-layout in_out --seeds 0,1 --json report.json
    manualgrad check big_net.py:grads --activations tanh,tanh,softmax \\
        --cost cross_entropy --dims 64,128,128,10 --mode auto
    python -m reference.checker my_net.py:grads ...
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import rich.console
import rich.table
import rich.text

from reference._command_line import Parser, UsageError, attribute, load_module
from reference.checker._arguments import (
    BATCH_LAYOUTS,
    CHECK_MODES,
    REDUCTIONS,
    TARGETS,
    WEIGHT_LAYOUTS,
    make_spec,
)
from reference.checker.check import compare_backprop
from reference.checker.report import BackpropReport
from reference.tolerances import TOLERANCES

__all__ = ["main"]

PROG = "manualgrad check"


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description=(
            "Check a hand-written gradient function against jax.grad on seeded random "
            "networks (reference.check_backprop)."
        ),
    )
    parser.add_argument("target", metavar="FILE.py:FUNCTION", help="the gradient function")
    parser.add_argument("--activations", required=True, help="sigma_1..sigma_L, e.g. relu,softmax")
    parser.add_argument("--cost", required=True, help="e.g. cross_entropy")
    parser.add_argument("--dims", required=True, help="n_0,...,n_L, e.g. 4,5,3")
    parser.add_argument("--batch-size", default="8", help="N, the rows of each batch (8)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (0,1,2)")
    parser.add_argument("--dtype", default="float64", help=f"{' or '.join(sorted(TOLERANCES))}")
    parser.add_argument("--targets", default=TARGETS[0], help=" or ".join(TARGETS))
    parser.add_argument("--reduction", default=REDUCTIONS[0], help=" or ".join(REDUCTIONS))
    parser.add_argument("--weight-decay", default="0", help="lam of (lam / 2) sum ||W_l||^2")
    parser.add_argument(
        "--weight-layout", default=WEIGHT_LAYOUTS[0], help=" or ".join(WEIGHT_LAYOUTS)
    )
    parser.add_argument("--batch-layout", default=BATCH_LAYOUTS[0], help=" or ".join(BATCH_LAYOUTS))
    parser.add_argument("--loss", metavar="FUNCTION", help="the file's own loss(theta, X, Y)")
    parser.add_argument(
        "--mode",
        default=CHECK_MODES[0],
        help=f"{', '.join(CHECK_MODES)}: every entry against autodiff, each leaf along random "
        "directions, or directional above reference.directional.AUTO_DIRECTIONAL_ABOVE "
        "parameters",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the report here")
    return parser


def _integers(option: str, value: str) -> tuple[int, ...]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    try:
        numbers = tuple(int(v) for v in items)
    except ValueError:
        raise UsageError(f"{option} {value!r}: not a comma-separated list of integers") from None
    if not numbers:
        raise UsageError(f"{option} {value!r}: needs at least one integer")
    return numbers


def _number(option: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise UsageError(f"{option} {value!r}: not a number") from None


def _split_target(target: str) -> tuple[Path, str]:
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name:
        raise UsageError(f"{target!r}: expected FILE.py:FUNCTION, e.g. my_net.py:grads")
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"{target!r}: no file {file}")
    return file, name


def _load(file: Path) -> ModuleType:
    """Imports ``file`` as a module (its directory first on the path, for its own imports)."""
    return load_module(str(file))


def _function(module: ModuleType, name: str, file: Path) -> Callable[..., Any]:
    function = attribute(module, name, str(file))
    if not callable(function):
        raise UsageError(f"{file}: {name!r} is a {type(function).__name__}, not a function")
    return function


def _table(report: BackpropReport) -> rich.table.Table:
    names = [r.name for r in report.seeds[0].leaves] if report.seeds else []
    table = rich.table.Table(title="relative error per leaf", title_justify="left")
    table.add_column("seed", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("result")
    for seed in report.seeds:
        cells = [
            rich.text.Text(f"{r.error:.2e}", style="" if r.ok else "bold red") for r in seed.leaves
        ]
        cells += [rich.text.Text("")] * (len(names) - len(cells))
        result = rich.text.Text("ok", "green") if seed.passed else rich.text.Text("FAIL", "red")
        table.add_row(str(seed.seed), *cells, result)
    return table


def _write_json(path: Path | None, payload: dict[str, Any], console: rich.console.Console) -> None:
    if path is not None:
        path.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        console.print(f"wrote {path}", markup=False)


def _check(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of compare_backprop, from the command line."""
    file, name = _split_target(args.target)
    if args.json is not None and not args.json.parent.is_dir():
        raise UsageError(f"--json {args.json}: no directory {args.json.parent}")
    options = dict(
        activations=tuple(a.strip() for a in args.activations.split(",") if a.strip()),
        cost=args.cost,
        dims=_integers("--dims", args.dims),
        batch_size=_integers("--batch-size", args.batch_size)[0],
        seeds=_integers("--seeds", args.seeds),
        dtype=args.dtype,
        targets=args.targets,
        reduction=args.reduction,
        weight_decay=_number("--weight-decay", args.weight_decay),
        weight_layout=args.weight_layout,
        batch_layout=args.batch_layout,
        mode=args.mode,
    )
    return {"file": file, "name": name, "options": options}


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``manualgrad check``; returns the exit status (0 pass, 1 fail, 2 usage)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    console = rich.console.Console(highlight=False)
    if not console.is_terminal:
        console.width = 160  # a log or a pipe: room for every column
    try:
        args = _parser().parse_args(argv)
        parsed = _check(args)
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    try:
        module = _load(parsed["file"])
        candidate = _function(module, parsed["name"], parsed["file"])
        loss = None if args.loss is None else _function(module, args.loss, parsed["file"])
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except Exception:
        console.print(f"{PROG}: importing {parsed['file']} raised:", style="bold red", markup=False)
        console.print(traceback.format_exc(), markup=False, soft_wrap=True)
        return 1
    options = {**parsed["options"], "loss": loss}
    try:
        _validate(options)
    except ValueError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    try:
        report = compare_backprop(candidate, **options)
    except Exception as error:
        return _crashed(error, args.json, console)
    console.print(_table(report))
    console.print(report.message, markup=False, soft_wrap=True)
    _write_json(args.json, report.to_dict(), console)
    if report.passed:
        console.print("PASS", style="bold green")
        return 0
    console.print("FAIL", style="bold red")
    return 1


def _validate(options: dict[str, Any]) -> None:
    """The checker's own argument checks, before any of the user's code runs."""
    o = dict(options)
    make_spec(
        o.pop("activations"),
        o.pop("cost"),
        o.pop("dims"),
        o.pop("batch_size"),
        o.pop("seeds"),
        o.pop("dtype"),
        **o,
    )


def _crashed(error: BaseException, json_path: Path | None, console: rich.console.Console) -> int:
    text = "".join(traceback.format_exception(error))
    console.print(f"{PROG}: the candidate raised:", style="bold red", markup=False)
    console.print(text, markup=False, soft_wrap=True)
    _write_json(json_path, {"passed": False, "error": text}, console)
    console.print("FAIL", style="bold red")
    return 1
