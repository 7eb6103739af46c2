"""Runs sharded gradients on forced CPU devices and reports them as JSON.

``tests/test_sharded.py`` starts this module in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=4``, which JAX reads only
when it starts (the pytest process has one CPU device). It reads a JSON list
of requests on stdin, computes each with ``manualgrad.sharded.sharded_grad``
and the expected values with ``reference``, and prints one JSON object,
request id -> measurements; the assertions are made by the tests. A request
that raises reports the error instead, so one bad case does not hide the
others.

Request fields: ``id``, ``case`` (a name in tests/_cases.py), ``dtype``,
``algorithm``, ``mode``, ``N``, ``mesh`` ({"shape", "names", "explicit"}),
``outer_jit``, ``sensitivities``, ``placed`` (X and Y handed over as global
arrays built with ``jax.make_array_from_process_local_data``, the way each
host of a multi-host run feeds its rows).

With ``--process-id I --num-processes P --coordinator HOST:PORT`` it is one
of P processes that ``jax.distributed.initialize`` joins into one run (CPU
collectives over loopback, through gloo), each with 4 / P forced devices:
the multi-host recipe of docs/sharding.md, on one machine.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
import traceback
import warnings
from typing import Any

import jax
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

import reference
from manualgrad import Params
from manualgrad.sharded import batch_mesh, sharded_grad
from tests._cases import CASES_BY_NAME, Case, make_inputs

EXPECTED_DEVICES = 4
AXIS = "batch"


def build_mesh(spec: dict[str, Any]) -> Mesh:
    """The request's mesh; a 1-D Auto mesh through the public batch_mesh."""
    shape, names = tuple(spec["shape"]), tuple(spec["names"])
    if names == (AXIS,) and not spec["explicit"]:
        return batch_mesh(shape[0], AXIS)
    kind = AxisType.Explicit if spec["explicit"] else AxisType.Auto
    devices = jax.devices()[: math.prod(shape)]
    return jax.make_mesh(shape, names, axis_types=(kind,) * len(shape), devices=devices)


def matches_theta(grads: Any, theta: Any) -> bool:
    """Same tree, shapes and dtypes as theta."""
    if jax.tree_util.tree_structure(grads) != jax.tree_util.tree_structure(theta):
        return False
    pairs = zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(theta), strict=True)
    return all(g.shape == t.shape and g.dtype == t.dtype for g, t in pairs)


def draw_inputs(case: Case, dtype: str, *, N: int) -> tuple[Params, jax.Array, jax.Array]:
    """theta, X (N, n_0) and Y (N, m_L) for a case: the suite's one recipe, seed N."""
    return make_inputs(case, dtype, seed=N, batch_size=N)


@functools.cache
def inputs_and_expected(case_name: str, dtype: str, N: int) -> tuple[Any, ...]:
    """theta, X, Y and reference.grad, shared by the requests that need them."""
    case = CASES_BY_NAME[case_name]
    theta, X, Y = draw_inputs(case, dtype, N=N)
    return theta, X, Y, reference.grad(theta, X, Y, case.activations, case.cost)


@functools.cache
def expected_sensitivities(case_name: str, dtype: str, N: int) -> Any:
    case = CASES_BY_NAME[case_name]
    theta, X, Y, _ = inputs_and_expected(case_name, dtype, N)
    return reference.sensitivities(theta, X, Y, case.activations, case.cost)


def feed_rows(mesh: Mesh, rows: jax.Array) -> jax.Array:
    """The global array of ``rows`` as each process of a multi-host run builds it.

    Every process holds the whole batch here (to compute the expected
    values), and hands over only its own block of rows, which
    ``jax.make_array_from_process_local_data`` assembles into one array split
    over the batch axis; a batch that the devices do not divide is handed
    over whole, replicated, by every process.
    """
    num_rows, devices = rows.shape[0], mesh.shape[AXIS]
    if num_rows % devices:
        replicated = NamedSharding(mesh, PartitionSpec())
        return jax.make_array_from_process_local_data(replicated, rows)
    block = num_rows // jax.process_count()
    own = rows[jax.process_index() * block : (jax.process_index() + 1) * block]
    return jax.make_array_from_process_local_data(NamedSharding(mesh, PartitionSpec(AXIS)), own)


def run(request: dict[str, Any]) -> dict[str, Any]:
    case = CASES_BY_NAME[request["case"]]
    mesh = build_mesh(request["mesh"])
    theta, X, Y, expected = inputs_and_expected(case.name, request["dtype"], request["N"])
    rows = NamedSharding(mesh, PartitionSpec(AXIS))
    X_in, Y_in = X, Y
    if request["placed"]:
        X_in, Y_in = feed_rows(mesh, X), feed_rows(mesh, Y)

    def grad(theta, X, Y):
        return sharded_grad(
            request["algorithm"],
            theta,
            X,
            Y,
            case.activations,
            case.cost,
            mesh=mesh,
            axis_name=AXIS,
            jacobian_mode=request["mode"],
            return_sensitivities=request["sensitivities"],
        )

    out = (jax.jit(grad) if request["outer_jit"] else grad)(theta, X_in, Y_in)
    grads, sens = out if request["sensitivities"] else (out, None)
    leaves = jax.tree_util.tree_leaves(grads)
    result: dict[str, Any] = {
        "grad_error": reference.relative_error(grads, expected),
        "matches_theta": matches_theta(grads, theta),
        "grads_replicated_on_mesh": all(
            leaf.sharding.is_fully_replicated and leaf.sharding.device_set == set(mesh.devices.flat)
            for leaf in leaves
        ),
    }
    if sens is not None:
        expected_sens = expected_sensitivities(case.name, request["dtype"], request["N"])
        result["sens_shapes_match"] = all(
            got.shape == want.shape and got.dtype == want.dtype
            for got, want in zip(
                jax.tree_util.tree_leaves(sens),
                jax.tree_util.tree_leaves(expected_sens),
                strict=True,
            )
        )
        result["sens_split_like_X"] = all(
            leaf.sharding.is_equivalent_to(rows, leaf.ndim)
            for leaf in jax.tree_util.tree_leaves(sens)
        )
        if jax.process_count() > 1:
            # Each process holds only its devices' rows; gather them to compare.
            sens = multihost_utils.process_allgather(sens, tiled=True)
        result["sens_error"] = reference.relative_error(sens, expected_sens)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--process-id", type=int, default=None)
    parser.add_argument("--num-processes", type=int, default=None)
    parser.add_argument("--coordinator", default=None, help="host:port of process 0")
    args = parser.parse_args(argv)
    warnings.simplefilter("error")
    # The results alone go to stdout; whatever the runtime prints goes to stderr.
    results_out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    if args.process_id is not None:
        # Several processes on this machine, talking over loopback as hosts would.
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=args.coordinator,
            num_processes=args.num_processes,
            process_id=args.process_id,
            initialization_timeout=120,
        )
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_numpy_rank_promotion", "raise")
    if jax.device_count() != EXPECTED_DEVICES:
        print(
            f"expected {EXPECTED_DEVICES} devices in all (XLA_FLAGS="
            f"--xla_force_host_platform_device_count, per process), "
            f"found {jax.device_count()}",
            file=sys.stderr,
        )
        return 2
    results = {}
    for request in json.load(sys.stdin):
        try:
            results[request["id"]] = run(request)
        except Exception:  # Reported per request; the test shows it.
            results[request["id"]] = {"error": traceback.format_exc()}
    with results_out:
        json.dump(results, results_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
