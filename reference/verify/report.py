"""How ``manualgrad verify`` shows its results: rich tables, a summary, JSON."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

import manualgrad
import reference
from reference.finite_differences import differences_oracle
from reference.machine import describe_machine
from reference.verify.engine import EXECUTION, Outcome
from reference.verify.matrix import KINKED_ACTIVATIONS, Selection


def format_error(error: float | None) -> str:
    """A relative error in 2 significant digits, "inf" for a failure."""
    if error is None:
        return "—"
    if math.isinf(error) or math.isnan(error):
        return str(error)
    return f"{error:.1e}"


def _styled(error: float | None, passed: bool) -> Text:
    return Text(format_error(error), style="green" if passed else "bold red")


def _worst(outcomes: Sequence[Outcome]) -> Outcome:
    return max(outcomes, key=lambda o: o.error / o.tolerance)


def _fd_text(outcomes: Sequence[Outcome]) -> Text:
    measured = [o.fd_error for o in outcomes if o.fd_error is not None]
    if measured:
        worst = max(measured)
        return _styled(worst, worst <= reference.FINITE_DIFFERENCE_TOLERANCE)
    notes = {o.fd_note for o in outcomes}
    if any(note and note.startswith("skipped") for note in notes):
        return Text("kink", style="dim")
    return Text("—", style="dim")


def tables(outcomes: Sequence[Outcome], selection: Selection) -> list[tuple[str, Table]]:
    """One (heading, table) per dtype: a row per (activation, cost), a column per algorithm.

    Each algorithm's entry is its worst relative error over the Jacobian
    modes, seeds and leaves; FD is the worst over the algorithms against
    central differences.
    """
    result = []
    for dtype in selection.dtypes:
        tol = reference.tolerance(dtype)
        heading = (
            f"{dtype}: worst relative error against reference.grad (tolerance {tol:g}), "
            f"Jacobian modes {' and '.join(selection.modes)}"
        )
        table = Table(show_edge=False, pad_edge=False)
        table.add_column("activation")
        table.add_column("at", justify="center")
        table.add_column("cost")
        for k in selection.algorithms:
            table.add_column(f"Alg {k}", justify="right")
        with_fd = dtype == "float64" and selection.finite_differences
        if with_fd:
            table.add_column("FD", justify="right")
        table.add_column("", justify="center")
        for activation in selection.activations:
            for i, cost in enumerate(selection.costs):
                row = [
                    o
                    for o in outcomes
                    if o.cell.dtype == dtype
                    and o.cell.activation == activation
                    and o.cell.cost == cost
                ]
                if not row:
                    continue
                passed = all(o.passed for o in row)
                cells = []
                for k in selection.algorithms:
                    of_k = [o for o in row if o.cell.algorithm == k]
                    cells.append(_styled(_worst(of_k).error, all(o.passed for o in of_k)))
                at = "h+o" if "output" in row[0].network.positions else "h"
                verdict = Text("PASS", style="green") if passed else Text("FAIL", style="bold red")
                table.add_row(
                    activation if i == 0 else "",
                    at,
                    cost,
                    *cells,
                    *([_fd_text(row)] if with_fd else []),
                    verdict,
                    end_section=i == len(selection.costs) - 1,
                )
        result.append((heading, table))
    return result


def legend(selection: Selection, *, eager: bool) -> str:
    """What the columns mean."""
    kinked = ", ".join(sorted(selection.kinked))
    if "," in kinked:
        kinked = " and ".join(kinked.rsplit(", ", 1))
    lines = [
        "at: where the activation sits — h+o: hidden and output layer, network (A, A); "
        "h: hidden only, network (A, softmax), for a cost undefined on A's outputs.",
    ]
    if selection.finite_differences and "float64" in selection.dtypes:
        lines.append(
            f"FD: float64 algorithms against reference.numerical_grad ({differences_oracle()}, "
            f"tolerance {reference.FINITE_DIFFERENCE_TOLERANCE:g})"
            + (
                f"; kink: skipped where the network has {kinked}, whose kink makes a "
                "difference quotient no derivative."
                if kinked
                else "."
            )
        )
    else:
        lines.append("FD: central differences not run (float64 only; off with --quick).")
    lines.append(f"Run: {EXECUTION['eager' if eager else 'jit']}.")
    return "\n".join(lines)


def failures(outcomes: Sequence[Outcome], limit: int = 20) -> list[str]:
    """One line per failing cell, the worst first."""
    failed = sorted((o for o in outcomes if not o.passed), key=lambda o: -(o.error / o.tolerance))
    lines = []
    for o in failed[:limit]:
        c = o.cell
        what = (
            f"raised {o.failure}"
            if o.failure
            else f"relative error {format_error(o.error)} (tolerance {o.tolerance:g})"
            + (
                f", against central differences {format_error(o.fd_error)}"
                if o.fd_error is not None and o.fd_error > reference.FINITE_DIFFERENCE_TOLERANCE
                else ""
            )
        )
        lines.append(
            f"Algorithm {c.algorithm}, {c.activation}, {c.cost}, {c.dtype}, {c.mode} "
            f"(network {o.network.activations}): {what}"
        )
    if len(failed) > limit:
        lines.append(f"... and {len(failed) - limit} more (all in --json)")
    return lines


def machine() -> dict[str, Any]:
    """The machine and the software the numbers come from: reference.describe_machine().

    The keys that earlier reports used (``processor``, ``jax_backend``,
    ``jax_device``, ``python``, ``jax``, ``jaxlib``, ``numpy``) repeat the
    description's under their old names; ``platform`` is JAX's backend, as
    everywhere, and the operating system is ``os``.
    """
    described = describe_machine()
    earlier_names = {
        "processor": "cpu_model",
        "jax_backend": "platform",
        "jax_device": "device_kind",
        "python": "python_version",
        "jax": "jax_version",
        "jaxlib": "jaxlib_version",
        "numpy": "numpy_version",
    }
    return {
        **described,
        **{old: described[new] for old, new in earlier_names.items()},
        "manualgrad": manualgrad.__version__,
    }


def _finite(value: float | None) -> float | str | None:
    # JSON has no inf or nan.
    if value is None or math.isfinite(value):
        return value
    return str(value)


def to_json(
    outcomes: Sequence[Outcome],
    selection: Selection,
    *,
    batch_size: int,
    seconds: float,
    eager: bool,
) -> dict[str, Any]:
    """Every number of the run, with what was run and where."""
    cells = []
    for o in outcomes:
        L = len(o.network.activations)
        leaves = [f"W_{l}" for l in range(1, L + 1)] + [f"b_{l}" for l in range(1, L + 1)]
        cells.append(
            {
                "algorithm": o.cell.algorithm,
                "activation": o.cell.activation,
                "cost": o.cell.cost,
                "dtype": o.cell.dtype,
                "jacobian_mode": o.cell.mode,
                "positions": list(o.network.positions),
                "network": {
                    "activations": list(o.network.activations),
                    "dims": list(o.network.dims),
                },
                "relative_error": _finite(o.error),
                "tolerance": o.tolerance,
                "per_seed": [
                    {"seed": s} | {n: _finite(e) for n, e in zip(leaves, errors, strict=True)}
                    for s, errors in enumerate(o.errors)
                ],
                "finite_difference_error": _finite(o.fd_error),
                "finite_difference_per_seed": (
                    None if o.fd_errors is None else [_finite(e) for e in o.fd_errors]
                ),
                "finite_difference_note": o.fd_note,
                "failure": o.failure,
                "passed": o.passed,
            }
        )
    return {
        "command": "manualgrad verify",
        "passed": all(o.passed for o in outcomes),
        "summary": {
            "cells": len(outcomes),
            "passed": sum(o.passed for o in outcomes),
            "failed": sum(not o.passed for o in outcomes),
            "seconds": round(seconds, 2),
        },
        "execution": EXECUTION["eager" if eager else "jit"],
        "selection": {
            "algorithms": list(selection.algorithms),
            "activations": list(selection.activations),
            "costs": list(selection.costs),
            "dtypes": list(selection.dtypes),
            "jacobian_modes": list(selection.modes),
            "seeds": list(range(selection.seeds)),
            "batch_size": batch_size,
            "finite_differences": selection.finite_differences,
        },
        "tolerances": dict(reference.TOLERANCES),
        "finite_difference_tolerance": reference.FINITE_DIFFERENCE_TOLERANCE,
        "kinked_activations": sorted(KINKED_ACTIVATIONS),
        "error_measure": (
            "per leaf (W_l, b_l): max |got - expected| / max |expected| "
            "(reference.leaf_relative_errors), on the gradient of the batch loss, a sum "
            "over rows; single-sample algorithms summed over the rows"
        ),
        "machine": machine(),
        "cells": cells,
    }
