"""Sharded Algorithms 2 and 5 equal jax.grad of the whole batch.

The multi-device cases run on 4 forced CPU devices in one subprocess
(``tests/_sharded_worker.py``): JAX fixes its device count when it starts,
and this process has one. The table covers a softmax network with
cross-entropy and a pointwise one on 1, 2 and 4 devices, with N divisible
and not divisible by the device count, both algorithms, both Jacobian
modes, float32 and float64; every cost with padding rows; sensitivities;
2-D meshes, meshes with Explicit axes, and rows handed over as global
arrays the way a multi-host run builds them. Two more subprocesses, joined
by ``jax.distributed.initialize``, run the multi-host recipe of
docs/sharding.md. The rest runs here, on the one device.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import pathlib
import socket
import subprocess
import sys

import chex
import jax
import numpy as np
import pytest

import manualgrad
import reference
from benchmarks import data_parallel as sharded_benchmark
from benchmarks.workload import Config
from manualgrad.sharded import batch_mesh, sharded_grad
from tests._cases import CASES_BY_NAME, DTYPES, assert_grads_close
from tests._sharded_worker import draw_inputs

try:
    import fcntl
except ImportError:  # Not POSIX: each xdist process runs the worker itself.
    fcntl = None

FORCED_DEVICES = 4
REPO = pathlib.Path(__file__).resolve().parent.parent
MODES = manualgrad.JACOBIAN_MODES
ALGORITHMS = (2, 5)
BATCH = 5  # Rows of the batches drawn in this process.


@dataclasses.dataclass(frozen=True)
class ShardedCase:
    """One sharded gradient: a network of tests/_cases.py on a mesh.

    ``mesh`` is ((axis name, size), ...); rows are split over "batch".
    """

    case: str
    dtype: str
    algorithm: int
    mode: str
    N: int
    mesh: tuple[tuple[str, int], ...]
    explicit: bool = False
    outer_jit: bool = True
    sensitivities: bool = False
    placed: bool = False

    @property
    def devices(self) -> int:
        return dict(self.mesh)["batch"]

    @property
    def id(self) -> str:
        mesh = "x".join(f"{name}{size}" for name, size in self.mesh)
        flags = [
            "explicit" if self.explicit else "",
            "jit" if self.outer_jit else "nojit",
            "sens" if self.sensitivities else "",
            "placed" if self.placed else "",
        ]
        return "-".join(
            [self.case, self.dtype, f"alg{self.algorithm}", self.mode, f"N{self.N}", mesh]
            + [flag for flag in flags if flag]
        )

    def request(self) -> dict[str, object]:
        names, shape = zip(*self.mesh, strict=True)
        return {
            "id": self.id,
            "case": self.case,
            "dtype": self.dtype,
            "algorithm": self.algorithm,
            "mode": self.mode,
            "N": self.N,
            "mesh": {"shape": shape, "names": names, "explicit": self.explicit},
            "outer_jit": self.outer_jit,
            "sensitivities": self.sensitivities,
            "placed": self.placed,
        }


VARIANTS = tuple((algorithm, mode) for algorithm in ALGORITHMS for mode in MODES)


def _build_table() -> list[ShardedCase]:
    table = []
    # A softmax network with cross-entropy and a pointwise one on 1, 2 and 4
    # devices, N = 8 split evenly and N = 7 padded, in both dtypes: one
    # algorithm and mode in turn, so each meets each dtype; padded on 4
    # devices, every algorithm and mode.
    placements = ((1, 8), (2, 8), (2, 7), (FORCED_DEVICES, 8), (FORCED_DEVICES, 7))
    for case in ("cross_entropy-softmax", "non-square"):
        for turn, (devices, N) in enumerate(placements):
            for offset, dtype in enumerate(DTYPES):
                variants = [VARIANTS[(turn + 2 * offset) % len(VARIANTS)]]
                if (devices, N, dtype) == (FORCED_DEVICES, 7, "float64"):
                    variants = VARIANTS
                for algorithm, mode in variants:
                    mesh = (("batch", devices),)
                    jit = (algorithm == 2) == (mode == "structured")
                    table.append(ShardedCase(case, dtype, algorithm, mode, N, mesh, outer_jit=jit))
    # Padding rows weigh nothing for every cost, output activations with and
    # without a closed form of eq. 4.1, pooling, a deep mixed network. N = 5
    # on 4 devices is 2 rows each: the third device holds a row and a padding
    # row, the last only padding.
    for index, case in enumerate(
        (
            "binary_cross_entropy-sigmoid",
            "binary_cross_entropy-softmax",
            "cross_entropy-sigmoid",
            "parameters",
            "pool-hidden-and-last",
            "deep-mixed",
        )
    ):
        algorithm, mode = VARIANTS[index % len(VARIANTS)]
        table.append(ShardedCase(case, "float64", algorithm, mode, 5, (("batch", FORCED_DEVICES),)))
    # Sensitivities come back rows first, the padding rows dropped.
    for case, N, devices, algorithm in (
        ("cross_entropy-softmax", 8, FORCED_DEVICES, 2),
        ("non-square", 7, FORCED_DEVICES, 5),
        ("deep-mixed", 5, 2, 2),
    ):
        mesh = (("batch", devices),)
        table.append(
            ShardedCase(case, "float64", algorithm, "structured", N, mesh, sensitivities=True)
        )
    # Other meshes, and rows handed over as global arrays built with
    # jax.make_array_from_process_local_data (the multi-host way).
    for mesh, explicit, N, dtype, algorithm in (
        ((("batch", FORCED_DEVICES),), True, 7, "float64", 2),
        ((("batch", 2), ("model", 2)), False, 8, "float32", 5),
        ((("model", 2), ("batch", 2)), True, 8, "float64", 2),
        ((("model", 2), ("batch", 2)), True, 7, "float32", 5),
    ):
        table.append(
            ShardedCase(
                "cross_entropy-softmax",
                dtype,
                algorithm,
                "structured",
                N,
                mesh,
                explicit=explicit,
                sensitivities=True,
                placed=N % dict(mesh)["batch"] == 0,
            )
        )
    placed = ShardedCase(
        "non-square", "float32", 2, "dense", 8, (("batch", FORCED_DEVICES),), placed=True
    )
    table.append(dataclasses.replace(placed, outer_jit=False))
    return table


SHARDED_CASES: tuple[ShardedCase, ...] = tuple(_build_table())
SENSITIVITY_CASES = tuple(case for case in SHARDED_CASES if case.sensitivities)


#: The multi-host recipe: 2 processes of 2 forced CPU devices each, joined by
#: jax.distributed.initialize, each handing over its own rows.
PROCESSES = 2
MULTI_PROCESS_CASES: tuple[ShardedCase, ...] = (
    ShardedCase(
        "cross_entropy-softmax",
        "float64",
        2,
        "structured",
        8,
        (("batch", FORCED_DEVICES),),
        sensitivities=True,
        placed=True,
    ),
    ShardedCase(
        "non-square",
        "float64",
        5,
        "dense",
        7,
        (("batch", FORCED_DEVICES),),
        outer_jit=False,
        sensitivities=True,
        placed=True,
    ),
)


def _worker_env(devices_per_process: int) -> dict[str, str]:
    env = dict(os.environ)
    flag = f"--xla_force_host_platform_device_count={devices_per_process}"
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {flag}".strip()
    env["JAX_PLATFORMS"] = "cpu"
    return env


def _worker(args: list[str], devices_per_process: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests._sharded_worker", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=_worker_env(devices_per_process),
    )


def _results(process: subprocess.Popen, requests: str, what: str) -> dict[str, dict[str, object]]:
    try:
        stdout, stderr = process.communicate(requests, timeout=600)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    if process.returncode != 0:
        pytest.fail(f"{what} failed ({process.returncode}):\n{stderr}")
    return json.loads(stdout)


def run_worker() -> dict[str, dict[str, object]]:
    """Every case of the table, computed by one subprocess on forced CPU devices."""
    requests = json.dumps([case.request() for case in SHARDED_CASES])
    return {"single": _results(_worker([], FORCED_DEVICES), requests, "the sharded worker")}


def run_processes() -> dict[str, dict[str, dict[str, object]]]:
    """The multi-process cases, in PROCESSES processes; results by process id."""
    with socket.socket() as probe:  # A free port for the coordinator.
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]
    processes = [
        _worker(
            [
                f"--process-id={index}",
                f"--num-processes={PROCESSES}",
                f"--coordinator=localhost:{port}",
            ],
            FORCED_DEVICES // PROCESSES,
        )
        for index in range(PROCESSES)
    ]
    requests = json.dumps([case.request() for case in MULTI_PROCESS_CASES])
    # Concurrently: each process waits on the others in every collective.
    with concurrent.futures.ThreadPoolExecutor(PROCESSES) as pool:
        futures = [
            pool.submit(_results, process, requests, f"worker process {index} of {PROCESSES}")
            for index, process in enumerate(processes)
        ]
        return {str(index): future.result() for index, future in enumerate(futures)}


def _once_per_session(tmp_path_factory, name: str, compute):
    """``compute()`` once per test session, shared by pytest-xdist's processes.

    Under pytest-xdist every process has its own session; they share the
    parent of their temporary directories, and the first to take the lock
    there computes for all of them.
    """
    if os.environ.get("PYTEST_XDIST_WORKER") is None or fcntl is None:
        return compute()
    shared = tmp_path_factory.getbasetemp().parent
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = shared / f"{name}.json"
        if not path.exists():
            path.write_text(json.dumps(compute()))
        return json.loads(path.read_text())


@pytest.fixture(scope="session")
def worker_results(tmp_path_factory) -> dict[str, dict[str, object]]:
    return _once_per_session(tmp_path_factory, "sharded_worker", run_worker)["single"]


@pytest.fixture(scope="session")
def process_results(tmp_path_factory) -> dict[str, dict[str, dict[str, object]]]:
    return _once_per_session(tmp_path_factory, "sharded_processes", run_processes)


def _checked(results: dict[str, dict[str, object]], case: ShardedCase) -> dict[str, object]:
    got = results[case.id]
    assert "error" not in got, got.get("error")
    return got


@pytest.fixture
def result_for(worker_results):
    return lambda case: _checked(worker_results, case)


def test_table_ids_are_unique():
    assert len({case.id for case in SHARDED_CASES}) == len(SHARDED_CASES)


@pytest.mark.parametrize("case", SHARDED_CASES, ids=lambda case: case.id)
def test_sharded_grad_matches_jax_grad_of_whole_batch(case, result_for):
    result = result_for(case)
    assert result["grad_error"] <= reference.tolerance(case.dtype), result
    assert result["matches_theta"], "grads differ from theta in structure, shape or dtype"
    assert result["grads_replicated_on_mesh"], "grads are not replicated on every mesh device"


@pytest.mark.parametrize("case", SENSITIVITY_CASES, ids=lambda case: case.id)
def test_sharded_sensitivities_match_reference_rows_first(case, result_for):
    result = result_for(case)
    assert result["sens_error"] <= reference.tolerance(case.dtype), result
    assert result["sens_shapes_match"], "sensitivities are not (N, width) of the input dtype"
    if case.N % case.devices == 0:
        assert result["sens_split_like_X"], "sensitivities are not split over the batch axis"


@pytest.mark.parametrize("case", MULTI_PROCESS_CASES, ids=lambda case: case.id)
def test_processes_feeding_their_own_rows_get_the_whole_batch_gradient(case, process_results):
    for index in range(PROCESSES):
        result = _checked(process_results[str(index)], case)
        assert result["grad_error"] <= reference.tolerance(case.dtype), (index, result)
        assert result["matches_theta"], index
        assert result["grads_replicated_on_mesh"], index
        if case.sensitivities:
            assert result["sens_error"] <= reference.tolerance(case.dtype), (index, result)
            assert result["sens_shapes_match"], index


# In this process: one device.

ONE_DEVICE_CASES = (
    ("cross_entropy-softmax", "float32", 5, "dense"),
    ("non-square", "float64", 2, "structured"),
)


@pytest.mark.parametrize(("case_name", "dtype", "algorithm", "mode"), ONE_DEVICE_CASES)
def test_sharded_grad_on_one_device_matches_jax_grad(case_name, dtype, algorithm, mode):
    case = CASES_BY_NAME[case_name]
    theta, X, Y = draw_inputs(case, dtype, N=BATCH)
    got = sharded_grad(
        algorithm, theta, X, Y, case.activations, case.cost, mesh=batch_mesh(1), jacobian_mode=mode
    )
    assert_grads_close(got, reference.grad(theta, X, Y, case.activations, case.cost), dtype)


def test_default_mesh_spans_all_devices_and_matches_jax_grad():
    case = CASES_BY_NAME["cross_entropy-softmax"]
    theta, X, Y = draw_inputs(case, "float64", N=BATCH)
    mesh = batch_mesh()
    assert dict(mesh.shape) == {"batch": jax.device_count()}
    got = sharded_grad(2, theta, X, Y, case.activations, case.cost)
    assert_grads_close(got, reference.grad(theta, X, Y, case.activations, case.cost), "float64")


@pytest.mark.parametrize(
    "algorithm", [manualgrad.backprop_batch, manualgrad.backprop_batch_combined]
)
def test_sharded_grad_accepts_the_algorithm_functions(algorithm):
    case = CASES_BY_NAME["non-square"]
    theta, X, Y = draw_inputs(case, "float64", N=BATCH)
    got = sharded_grad(algorithm, theta, X, Y, case.activations, case.cost, mesh=batch_mesh(1))
    assert_grads_close(got, reference.grad(theta, X, Y, case.activations, case.cost), "float64")


def test_sharded_sensitivities_on_one_device_match_reference():
    case = CASES_BY_NAME["cross_entropy-softmax"]
    theta, X, Y = draw_inputs(case, "float64", N=BATCH)
    grads, sens = sharded_grad(
        5, theta, X, Y, case.activations, case.cost, return_sensitivities=True
    )
    assert isinstance(sens, manualgrad.Sensitivities)
    assert_grads_close(grads, reference.grad(theta, X, Y, case.activations, case.cost), "float64")
    expected = reference.sensitivities(theta, X, Y, case.activations, case.cost)
    assert_grads_close(sens, expected, "float64")


def test_sharded_grad_under_outer_jit_feeds_a_descent_step():
    case = CASES_BY_NAME["non-square"]
    theta, X, Y = draw_inputs(case, "float64", N=BATCH)
    mesh = batch_mesh(1)

    @jax.jit
    def step(theta, X, Y):
        grads = sharded_grad(2, theta, X, Y, case.activations, case.cost, mesh=mesh)
        return jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, theta, grads)

    expected = jax.tree_util.tree_map(
        lambda p, g: p - 0.1 * g, theta, reference.grad(theta, X, Y, case.activations, case.cost)
    )
    got = step(theta, X, Y)
    chex.assert_trees_all_equal_shapes_and_dtypes(got, theta)
    assert_grads_close(got, expected, "float64")


def test_sharded_grad_leaves_numpy_inputs_unchanged():
    case = CASES_BY_NAME["non-square"]
    theta, X, Y = draw_inputs(case, "float64", N=BATCH)
    X_np, Y_np = np.array(X), np.array(Y)
    sharded_grad(5, theta, X_np, Y_np, case.activations, case.cost)
    np.testing.assert_array_equal(X_np, np.asarray(X))
    np.testing.assert_array_equal(Y_np, np.asarray(Y))


# Bad input.


def _inputs():
    case = CASES_BY_NAME["non-square"]
    theta, X, Y = draw_inputs(case, "float64", N=BATCH)
    return case, theta, X, Y


@pytest.mark.parametrize("algorithm", [1, 3, 4, 0, 6, "2", True, manualgrad.backprop_preactivation])
def test_single_sample_or_unknown_algorithm_is_refused(algorithm):
    case, theta, X, Y = _inputs()
    with pytest.raises(ValueError, match="2 or 5"):
        sharded_grad(algorithm, theta, X, Y, case.activations, case.cost)


def test_mesh_that_is_not_a_mesh_is_a_type_error():
    case, theta, X, Y = _inputs()
    with pytest.raises(TypeError, match=r"jax\.sharding\.Mesh"):
        sharded_grad(2, theta, X, Y, case.activations, case.cost, mesh=jax.devices())


def test_mesh_without_the_axis_names_its_axes():
    case, theta, X, Y = _inputs()
    mesh = batch_mesh(1, axis_name="data")
    with pytest.raises(ValueError, match=r"no axis 'batch'.*\('data',\)"):
        sharded_grad(2, theta, X, Y, case.activations, case.cost, mesh=mesh)


def test_another_axis_name_is_used_when_given():
    case, theta, X, Y = _inputs()
    mesh = batch_mesh(1, axis_name="data")
    got = sharded_grad(2, theta, X, Y, case.activations, case.cost, mesh=mesh, axis_name="data")
    assert_grads_close(got, reference.grad(theta, X, Y, case.activations, case.cost), "float64")


def test_unknown_jacobian_mode_is_refused():
    case, theta, X, Y = _inputs()
    with pytest.raises(ValueError, match="jacobian_mode"):
        sharded_grad(2, theta, X, Y, case.activations, case.cost, jacobian_mode="sparse")


def test_bad_shapes_are_named_as_the_algorithms_name_them():
    case, theta, X, Y = _inputs()
    with pytest.raises(ValueError, match=r"sharded_grad \(Algorithm 2\).*W_1"):
        sharded_grad(2, theta, X[:, :1], Y, case.activations, case.cost)
    with pytest.raises(ValueError, match=r"sharded_grad \(Algorithm 5\): Y has shape"):
        sharded_grad(5, theta, X, Y[:-1], case.activations, case.cost)
    with pytest.raises(ValueError, match="one per layer"):
        sharded_grad(5, theta, X, Y, case.activations[:-1], case.cost)


def test_integer_input_is_a_type_error():
    case, theta, X, Y = _inputs()
    with pytest.raises(TypeError, match="floating"):
        sharded_grad(2, theta, np.ones(X.shape, dtype=np.int32), Y, case.activations, case.cost)


def test_dense_budget_counts_the_rows_of_one_shard():
    case, theta, X, Y = _inputs()
    with pytest.raises(ValueError, match="dense mode would materialize"):
        sharded_grad(
            2, theta, X, Y, case.activations, case.cost, jacobian_mode="dense", max_dense_bytes=8
        )


@pytest.mark.parametrize("num_devices", [0, -1, jax.device_count() + 1])
def test_batch_mesh_refuses_a_device_count_out_of_range(num_devices):
    with pytest.raises(ValueError, match="num_devices must be between 1 and"):
        batch_mesh(num_devices)


def test_batch_mesh_refuses_a_non_integer_count():
    with pytest.raises(TypeError, match="num_devices must be an int"):
        batch_mesh(1.0)


# The benchmark entry, on this process's device.


def test_benchmark_rows_carry_the_report_keys_and_agree_with_jax_grad(monkeypatch, capsys):
    tiny = (Config(N=6, width=4, depth=2, hidden="tanh"),)
    monkeypatch.setitem(sharded_benchmark.CONFIGS, True, tiny)
    monkeypatch.setitem(sharded_benchmark.BUDGETS, True, (0.0, 1))
    assert sharded_benchmark.main(["--quick", "--json", "-"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["algorithm"] for row in rows] == [2, 5]
    for row in rows:
        keys = ("name", "devices", "N", "width", "depth", "median_s", "grad_median_s", "ratio")
        assert set(keys) | {"max_rel_error", "note"} <= set(row)
        assert (row["devices"], row["N"], row["width"], row["depth"]) == (1, 6, 4, 2)
        assert row["max_rel_error"] <= reference.tolerance(sharded_benchmark.DTYPE)
