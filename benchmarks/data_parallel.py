"""The data-parallel benchmark: sharded Algorithms 2 and 5 against jax.grad.

For each network, ``manualgrad.sharded.sharded_grad`` with the rows split
over a 1-D mesh of k devices, and ``jax.jit(jax.grad)`` of the same loss
on the whole batch (``benchmarks.workload.batch_loss``), both compiled
from outside, warmed up, timed interleaved with ``jax.block_until_ready``
(``benchmarks.measure``), medians reported; and the largest relative error
of the sharded gradient against jax.grad's.

Two kinds of measurement:

* one device, in this process, on JAX's default platform (on a machine
  with a GPU, the GPU): the sharded path on a 1-device mesh beside jax.grad;
* k forced CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count``),
  in a subprocess, since JAX fixes its devices when it starts. These
  devices share the machine's cores, so their timings are a correctness
  check of the sharded code, not a claim about speed; every row says so.

``python -m benchmarks.data_parallel [--quick] [--devices K] [--json PATH|-]``
runs one kind (K = 1: this process's default device); ``benchmark_sharded``
runs both, for ``manualgrad bench`` (unless ``--no-sharded``).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import reference
from benchmarks.measure import Timing, time_interleaved
from benchmarks.report import make_console, sharded_table
from benchmarks.workload import COST, Config, batch_loss, grad_fn, make_inputs
from manualgrad.sharded import batch_mesh, sharded_grad

DTYPE = "float32"
AXIS = "batch"
FORCED_FLAG = "--xla_force_host_platform_device_count"

#: quick -> the networks timed.
CONFIGS: dict[bool, tuple[Config, ...]] = {
    True: (Config(N=512, width=64, depth=3, hidden="tanh"),),
    False: (
        Config(N=1024, width=128, depth=3, hidden="tanh"),
        Config(N=4096, width=256, depth=4, hidden="relu"),
        Config(N=4095, width=256, depth=4, hidden="relu"),  # Padded: 4 does not divide it.
    ),
}
#: quick -> (seconds of timed repetitions per network, fewest repetitions).
BUDGETS: dict[bool, tuple[float, int]] = {True: (1.0, 5), False: (4.0, 7)}
#: quick -> the forced CPU device counts that ``benchmark_sharded`` adds.
FORCED_DEVICE_COUNTS: dict[bool, tuple[int, ...]] = {True: (4,), False: (2, 4)}

FORCED_NOTE = (
    "{k} forced CPU devices share this machine's cores: a correctness check "
    "of the sharded algorithm, not a speed claim"
)
FORCED_NAME = " (forced CPU: correctness only)"
ONE_DEVICE_NOTE = "one {platform} device: the sharded path on a 1-device mesh beside jax.grad"


def measure(devices: int, *, quick: bool) -> list[dict[str, object]]:
    """Times the sharded algorithms on a mesh of this process's first ``devices`` devices.

    Args:
      devices: the mesh size, at most ``jax.device_count()``.
      quick: the small set of networks and a short budget.

    Returns:
      One row per network and algorithm (keys: see :func:`benchmark_sharded`).
    """
    mesh = batch_mesh(devices, AXIS)
    platform = jax.devices()[0].platform
    forced = platform == "cpu" and devices > 1
    note = FORCED_NOTE.format(k=devices) if forced else ONE_DEVICE_NOTE.format(platform=platform)
    budget_s, min_reps = BUDGETS[quick]
    rows = []
    for config in CONFIGS[quick]:
        timings, errors = _time_config(config, mesh, budget_s=budget_s, min_reps=min_reps)
        grad_s = timings["jax.grad"].median_s
        for number, error in errors.items():
            rows.append(
                {
                    "name": f"Algorithm {number} sharded" + (FORCED_NAME if forced else ""),
                    "algorithm": number,
                    "mode": "structured",
                    "devices": devices,
                    "platform": platform,
                    "forced_cpu_devices": forced,
                    "N": config.N,
                    "width": config.width,
                    "depth": config.depth,
                    "hidden": config.hidden,
                    "dtype": DTYPE,
                    "median_s": timings[number].median_s,
                    "grad_median_s": grad_s,
                    "ratio": timings[number].median_s / grad_s,
                    "max_rel_error": error,
                    "reps": timings[number].reps,
                    "note": note,
                }
            )
    return rows


def _time_config(
    config: Config, mesh: Mesh, *, budget_s: float, min_reps: int
) -> tuple[dict[int | str, Timing], dict[int, float]]:
    """Timings of the sharded Algorithms 2 and 5 and of jax.grad, and their errors."""
    theta, X, Y = make_inputs(config, DTYPE)
    devices = mesh.shape[AXIS]
    # The sharded side gets its rows already split, as a data loader hands them over.
    split = (X, Y)
    if config.N % devices == 0:
        split = jax.device_put(split, NamedSharding(mesh, PartitionSpec(AXIS)))
    grad = jax.jit(grad_fn(batch_loss, config.hidden))
    expected = grad(theta, X, Y)
    calls: dict[int | str, Callable[[], object]] = {"jax.grad": lambda: grad(theta, X, Y)}
    errors = {}
    for number in (2, 5):
        sharded = jax.jit(
            functools.partial(
                sharded_grad,
                number,
                activations=config.activations,
                cost=COST,
                mesh=mesh,
                axis_name=AXIS,
            )
        )
        errors[number] = reference.relative_error(sharded(theta, *split), expected)
        calls[number] = functools.partial(sharded, theta, *split)
    timings = time_interleaved(calls, budget_s=budget_s, min_reps=min_reps)
    return timings, errors


def measure_forced(devices: int, *, quick: bool) -> list[dict[str, object]]:
    """:func:`measure` on ``devices`` forced CPU devices, in a subprocess.

    Raises:
      RuntimeError: the subprocess failed (its stderr is in the message).
    """
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {FORCED_FLAG}={devices}".strip()
    env["JAX_PLATFORMS"] = "cpu"
    command = [sys.executable, "-m", "benchmarks.data_parallel", "--devices", str(devices)]
    command += ["--json", "-"] + (["--quick"] if quick else [])
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({completed.returncode}):\n{completed.stderr}"
        )
    return json.loads(completed.stdout)


def benchmark_sharded(*, quick: bool) -> list[dict[str, object]]:
    """The data-parallel section of ``manualgrad bench``.

    One device of this process's default platform, then forced CPU devices
    (4; with ``quick=False`` also 2) in a subprocess.

    Args:
      quick: one small network and a short budget (under about 30 s).

    Returns:
      One dict per network, algorithm and device count, with the keys
      "name", "algorithm", "mode", "devices", "platform",
      "forced_cpu_devices", "N", "width", "depth", "hidden", "dtype",
      "median_s" (the sharded algorithm), "grad_median_s" (jax.jit(jax.grad)
      of the whole batch on one device), "ratio" (median_s / grad_median_s),
      "max_rel_error" (against jax.grad), "reps" and "note" (what the
      timing means; for forced CPU devices, that it is no speed claim).
    """
    rows = measure(1, quick=quick)
    for devices in FORCED_DEVICE_COUNTS[quick]:
        rows += measure_forced(devices, quick=quick)
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.data_parallel``: one kind of measurement, as a table or JSON.

    Args:
      argv: the arguments after the program name; None reads ``sys.argv``.

    Returns:
      The exit code, 0.
    """
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.data_parallel",
        description="Time the sharded Algorithms 2 and 5 against jax.grad of the whole batch.",
    )
    parser.add_argument("--quick", action="store_true", help="one small network, short budget")
    parser.add_argument(
        "--devices",
        type=int,
        default=1,
        help="mesh size; above 1, forced CPU devices (started in a subprocess "
        "unless this process already has them)",
    )
    parser.add_argument("--json", default=None, metavar="PATH", help="write JSON ('-': stdout)")
    args = parser.parse_args(argv)
    if args.devices < 1:
        parser.error(f"--devices must be at least 1, got {args.devices}")
    has_devices = jax.default_backend() == "cpu" and jax.device_count() >= args.devices
    if args.devices == 1 or has_devices:
        rows = measure(args.devices, quick=args.quick)
    elif f"{FORCED_FLAG}=" in os.environ.get("XLA_FLAGS", ""):
        parser.error(
            f"XLA_FLAGS asks for forced CPU devices but JAX has {jax.device_count()} "
            f"{jax.default_backend()} devices, fewer than --devices {args.devices}"
        )
    else:
        rows = measure_forced(args.devices, quick=args.quick)
    if args.json == "-":
        json.dump(rows, sys.stdout)
    else:
        make_console().print(sharded_table(rows).rich())
        if args.json is not None:
            Path(args.json).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
