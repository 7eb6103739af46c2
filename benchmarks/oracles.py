"""The oracles' cost: a directional check against full central differences as networks grow.

For networks (w, w, w, 10) of growing width w (tanh, tanh, softmax with
cross-entropy, a batch of 8 rows, float64), after a warm-up call so that no
compilation is timed:

* ``forward_s``: one jitted forward pass and loss (the median of a few
  calls), the unit every oracle pays in;
* ``directional_s``: :func:`reference.directional_check` of jax.grad's
  gradient, 8 directions per leaf: O(directions x leaves) forward passes
  (``directional_forward_passes``, the same count at every size), each
  with theta + t v formed first (linear in the parameters, like the forward
  pass), so ``directional_over_forward`` stays within a small factor as
  the parameter count grows a thousandfold;
* ``full_s``: :func:`reference.numerical_grad` (central differences, two
  forward passes per parameter), measured while its estimate fits
  :data:`FULL_BUDGET_S`, and above that extrapolated from the largest
  measured network, seconds per parameter scaled by the forward pass
  (``full_measured`` False).

``python -m benchmarks.oracles [--quick] [--json PATH|-]`` runs it alone;
``benchmark_oracles`` returns the JSON-ready dict for ``manualgrad bench``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax

import reference
from benchmarks import workload
from reference.directional import num_parameters

#: quick -> the widths w of the networks (w, w, w, 10).
WIDTHS: dict[bool, tuple[int, ...]] = {
    True: (16, 64, 256),
    False: (16, 32, 64, 128, 256, 512, 1024),
}
#: quick -> the most seconds a full central-difference check may be estimated to take.
FULL_BUDGET_S: dict[bool, float] = {True: 2.0, False: 30.0}
#: quick -> timed calls per measurement (the median is reported).
REPEATS: dict[bool, int] = {True: 2, False: 5}
ACTIVATIONS = ("tanh", "tanh", "softmax")
COST = "cross_entropy"
BATCH_SIZE = 8
DIRECTIONS = 8


def _seconds(call: Callable[[], object], repeats: int) -> float:
    """The median time of ``repeats`` calls, after one untimed call."""
    jax.block_until_ready(call())
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(call())
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _row(width: int, *, quick: bool, per_parameter: tuple[float, float] | None) -> dict[str, Any]:
    dims = (width, width, width, 10)
    theta, X, Y = reference.draw_case(
        0, activations=ACTIVATIONS, cost=COST, dims=dims, batch_size=BATCH_SIZE
    )
    parameters = num_parameters(theta)
    loss = jax.jit(lambda t: workload.batch_loss(t, X, Y, "tanh"))  # the same network
    forward_s = _seconds(lambda: loss(theta), max(REPEATS[quick], 5))
    grads = reference.grad(theta, X, Y, ACTIVATIONS, COST)
    repeats = REPEATS[quick]

    def check() -> reference.DirectionalReport:
        return reference.directional_check(
            grads, theta, X, Y, ACTIVATIONS, COST, directions=DIRECTIONS
        )

    directional_s = _seconds(lambda: check().errors, repeats)
    report = check()
    estimate = 2 * parameters * forward_s
    if estimate <= FULL_BUDGET_S[quick]:
        full_s = _seconds(
            lambda: reference.numerical_grad(theta, X, Y, ACTIVATIONS, COST), min(repeats, 2)
        )
        measured = True
    elif per_parameter is not None:
        seconds_per_parameter, at_forward_s = per_parameter
        full_s = seconds_per_parameter * parameters * forward_s / at_forward_s
        measured = False
    else:
        full_s, measured = estimate, False
    return {
        "width": width,
        "dims": list(dims),
        "parameters": parameters,
        "forward_s": forward_s,
        "directional_s": directional_s,
        "directional_over_forward": directional_s / forward_s,
        "directional_forward_passes": report.forward_passes,
        "directional_passed": report.passed,
        "full_s": full_s,
        "full_measured": measured,
        "full_over_directional": full_s / directional_s,
    }


def benchmark_oracles(*, quick: bool) -> dict[str, Any]:
    """The oracles section of ``manualgrad bench``.

    Args:
      quick: three widths and a short budget (under about a minute on 2 cores).

    Returns:
      {"network": what was timed, "directions": per leaf, "note": how to read
      it, "rows": one dict per width with the keys "width", "dims",
      "parameters", "forward_s", "directional_s", "directional_over_forward",
      "directional_forward_passes", "directional_passed", "full_s",
      "full_measured", "full_over_directional"}.
    """
    with jax.enable_x64(True):
        rows: list[dict[str, Any]] = []
        per_parameter = None
        for width in WIDTHS[quick]:
            row = _row(width, quick=quick, per_parameter=per_parameter)
            if row["full_measured"]:
                per_parameter = (row["full_s"] / row["parameters"], row["forward_s"])
            rows.append(row)
    return {
        "network": {
            "dims": "(w, w, w, 10)",
            "activations": list(ACTIVATIONS),
            "cost": COST,
            "batch_size": BATCH_SIZE,
            "dtype": "float64",
        },
        "directions": DIRECTIONS,
        "full_budget_s": FULL_BUDGET_S[quick],
        "note": (
            "seconds after a warm-up call (no compilation); a directional check costs "
            "O(directions x leaves) forward passes (directional_forward_passes, flat in the "
            "parameter count), each forming theta + t v first, full central differences two "
            "per parameter (full_measured False: extrapolated from the largest measured "
            "network, per parameter and forward pass)"
        ),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.oracles``: prints a table, optionally writes the JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.oracles")
    parser.add_argument("--quick", action="store_true", help="three widths, a short budget")
    parser.add_argument("--json", metavar="PATH", help="write the JSON here ('-' for stdout)")
    args = parser.parse_args(argv)
    result = benchmark_oracles(quick=args.quick)
    if args.json == "-":
        json.dump(result, sys.stdout, indent=2)
        return 0
    keys = ("width", "parameters", "forward_s", "directional_s", "directional_over_forward")
    keys += ("full_s", "full_measured")
    print("  ".join(f"{k:>24}" for k in keys))
    for row in result["rows"]:
        print(
            "  ".join(
                f"{row[k]:>24.4g}" if isinstance(row[k], float) else f"{row[k]!s:>24}" for k in keys
            )
        )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
