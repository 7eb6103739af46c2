"""``manualgrad verify --large``: a network too big for full differences, checked directionally.

Dims (256, 512, 512, 10), about 400,000 parameters: central differences
entry by entry would take some 800,000 forward passes. Instead the batch
Algorithms 2 and 5 (float64, structured Jacobians) are checked with
:func:`reference.directional_check`: the loss differenced along 8 random
unit directions per leaf, O(directions x leaves) forward passes, trusting no
autodiff. One set of quotients serves both algorithms.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

import manualgrad
from reference.directional import DirectionalReport, directional_derivatives, num_parameters
from reference.problems import draw_case

__all__ = [
    "ACTIVATIONS",
    "ALGORITHMS",
    "DIMS",
    "LargeOutcome",
    "legend",
    "print_row",
    "run",
    "table",
    "to_json",
]

#: The network: far above what full differences can check.
DIMS = (256, 512, 512, 10)
#: relu for kinks the directions must step past, softmax for a Jacobian that
#: is not diagonal.
ACTIVATIONS = ("relu", "tanh", "softmax")
COST = "cross_entropy"
BATCH_SIZE = 8
SEED = 0
#: The algorithms the row checks: the batch-first ones.
ALGORITHMS = (2, 5)
DTYPE = "float64"
MODE = "structured"


@dataclasses.dataclass(frozen=True)
class LargeOutcome:
    """One algorithm on the large network.

    Attributes:
      algorithm: the notes' algorithm number.
      report: the directional check of its gradient.
      seconds: the time of its gradient and its comparison, the quotients'
        shared time not included.
      failure: the exception the algorithm raised, if it did.
    """

    algorithm: int
    report: DirectionalReport | None
    seconds: float
    failure: str | None = None

    @property
    def passed(self) -> bool:
        return self.failure is None and self.report is not None and self.report.passed


def run(algorithms: Sequence[int] = ALGORITHMS) -> tuple[list[LargeOutcome], float, int]:
    """Checks the algorithms on the large network.

    Args:
      algorithms: among ALGORITHMS.

    Returns:
      (the outcomes, the seconds the shared quotients took, the parameter count).
    """
    theta, X, Y = draw_case(
        SEED, activations=ACTIVATIONS, cost=COST, dims=DIMS, batch_size=BATCH_SIZE, dtype=DTYPE
    )
    start = time.perf_counter()
    oracle = directional_derivatives(theta, X, Y, ACTIVATIONS, COST, seed=SEED)
    oracle_seconds = time.perf_counter() - start
    outcomes = []
    for k in algorithms:
        start = time.perf_counter()
        try:
            grads = manualgrad.ALGORITHMS[k](theta, X, Y, ACTIVATIONS, COST, jacobian_mode=MODE)
            report, failure = oracle.compare(grads), None
        except Exception as error:  # a broken algorithm is a FAIL
            report, failure = None, f"{type(error).__name__}: {error}"
        outcomes.append(LargeOutcome(k, report, time.perf_counter() - start, failure))
    return outcomes, oracle_seconds, num_parameters(theta)


def _error_text(value: float, tolerance: float) -> Text:
    if math.isnan(value):
        return Text("kink", style="dim")
    return Text(f"{value:.1e}", style="green" if value <= tolerance else "bold red")


def table(
    outcomes: Sequence[LargeOutcome], oracle_seconds: float, parameters: int
) -> tuple[str, Table]:
    """(heading, table): a row per algorithm, a column per leaf."""
    reports = [o.report for o in outcomes if o.report is not None]
    tolerance = reports[0].tolerance if reports else math.nan
    heading = (
        f"--large: dims {DIMS}, {parameters:,} parameters, {', '.join(ACTIVATIONS)}, {COST}, "
        f"{BATCH_SIZE} rows, {DTYPE}: relative error of <grad, v> against directional "
        f"differences (tolerance {tolerance:g}); quotients {oracle_seconds:.1f} s"
    )
    names = list(reports[0].errors) if reports else []
    grid = Table(show_edge=False, pad_edge=False)
    grid.add_column("algorithm")
    for name in names:
        grid.add_column(name, justify="right")
    grid.add_column("oracle error", justify="right")
    grid.add_column("seconds", justify="right")
    grid.add_column("", justify="center")
    for o in outcomes:
        verdict = Text("PASS", style="green") if o.passed else Text("FAIL", style="bold red")
        if o.report is None:
            grid.add_row(
                f"Alg {o.algorithm}", *([""] * len(names)), "", f"{o.seconds:.1f}", verdict
            )
            continue
        r = o.report
        grid.add_row(
            f"Alg {o.algorithm}",
            *(_error_text(r.errors[n], r.tolerance) for n in names),
            f"{max(r.oracle_errors.values()):.1e}",
            f"{o.seconds:.1f}",
            verdict,
        )
    return heading, grid


def legend(outcomes: Sequence[LargeOutcome]) -> str:
    """What the large row ran: the oracle, its steps, and anything not compared."""
    reports = [o.report for o in outcomes if o.report is not None]
    lines = []
    if reports:
        r = reports[0]
        lines.append(
            f"--large oracle: {r.oracle}; {r.directions} directions per leaf, seed {r.seed}, "
            f"{r.forward_passes} forward passes; oracle error: the quotients' own bound, relative."
        )
        steps = sorted({h for s in r.steps.values() for h in s}, reverse=True)
        lines.append(f"--large base steps used: {', '.join(f'{h:.3g}' for h in steps)}.")
    for o in outcomes:
        if o.failure:
            lines.append(f"--large Algorithm {o.algorithm} raised {o.failure}")
        elif o.report is not None:
            lines += [
                f"--large Algorithm {o.algorithm}, {n}: {why}"
                for n, why in o.report.not_compared.items()
            ]
    return "\n".join(lines)


def _finite(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def to_json(
    outcomes: Sequence[LargeOutcome], oracle_seconds: float, parameters: int
) -> dict[str, Any]:
    """Every number of the large row, for the JSON under "large"."""
    reports = [o.report for o in outcomes if o.report is not None]
    return {
        "network": {
            "dims": list(DIMS),
            "activations": list(ACTIVATIONS),
            "cost": COST,
            "batch_size": BATCH_SIZE,
            "seed": SEED,
            "dtype": DTYPE,
            "jacobian_mode": MODE,
            "parameters": parameters,
        },
        "oracle": str(reports[0].oracle) if reports else None,
        "oracle_kind": "directional",
        "oracle_seconds": round(oracle_seconds, 3),
        "passed": all(o.passed for o in outcomes),
        "rows": [
            {
                "algorithm": o.algorithm,
                "passed": o.passed,
                "seconds": round(o.seconds, 3),
                "failure": o.failure,
                **(
                    {}
                    if o.report is None
                    else {
                        "tolerance": o.report.tolerance,
                        "directions": o.report.directions,
                        "forward_passes": o.report.forward_passes,
                        "errors": {n: _finite(e) for n, e in o.report.errors.items()},
                        "oracle_errors": o.report.oracle_errors,
                        "steps": {n: list(s) for n, s in o.report.steps.items()},
                        "redraws": o.report.redraws,
                        "not_compared": o.report.not_compared,
                    }
                ),
            }
            for o in outcomes
        ],
    }


def print_row(console: Console, selected: Sequence[int]) -> tuple[bool, dict[str, Any]]:
    """Runs the large row for the selected batch algorithms and prints it.

    Args:
      console: where to print.
      selected: the command's algorithms; the row checks those in ALGORITHMS.

    Returns:
      (whether it passed, its JSON).
    """
    algorithms = [k for k in ALGORITHMS if k in selected]
    with console.status(f"--large: directional checks on dims {DIMS}"):
        outcomes, oracle_seconds, parameters = run(algorithms)
    heading, grid = table(outcomes, oracle_seconds, parameters)
    console.print()
    console.print(heading, style="bold")
    console.print(grid)
    console.print(legend(outcomes), style="dim")
    return all(o.passed for o in outcomes), to_json(outcomes, oracle_seconds, parameters)
