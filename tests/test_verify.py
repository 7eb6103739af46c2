"""``manualgrad verify``: the matrix, its filters, its JSON and its exit status.

Every run here is in-process through ``verify.main`` and kept small with
``--quick`` and filters.
"""

from __future__ import annotations

import json

import jax
import pytest

import manualgrad
import reference
from manualgrad import __main__ as command
from reference import verify
from reference.verify.matrix import accepts_output, networks_for


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = verify.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_quick_filtered_run_passes_and_prints_the_table(capsys):
    code, out, _ = _run(
        capsys,
        "--quick",
        "--algorithms", "2,5",
        "--activations", "softmax,relu",
        "--costs", "mse,cross_entropy",
    )  # fmt: skip
    assert code == 0, out
    assert "PASS: all 8 cells within the tolerance" in out
    header = next(line for line in out.splitlines() if line.startswith("activation"))
    assert "Alg 2" in header and "Alg 5" in header and "Alg 1" not in header
    assert "float64: worst relative error against reference.grad (tolerance 1e-10)" in out
    assert "Jacobian modes structured" in out
    rows = [line for line in out.splitlines() if line.rstrip().endswith("PASS")]
    assert len(rows) == 4  # (softmax, relu) x (mse, cross_entropy)
    assert "jit" in out  # says what was run


def test_json_holds_every_number_and_the_machine(capsys, tmp_path):
    path = tmp_path / "verify.json"
    code, out, _ = _run(
        capsys,
        "--quick",
        "--algorithms", "1,3",
        "--activations", "tanh",
        "--costs", "huber",
        "--seeds", "2",
        "--json", str(path),
    )  # fmt: skip
    assert code == 0, out
    report = json.loads(path.read_text())
    assert report["passed"] is True
    assert report["summary"]["cells"] == 2 and report["summary"]["failed"] == 0
    assert report["machine"]["jax"] == jax.__version__
    assert report["machine"]["cpu_cores"] >= 1
    assert "jit" in report["execution"]
    assert report["tolerances"] == reference.TOLERANCES
    assert report["selection"]["seeds"] == [0, 1]
    cell = report["cells"][0]
    assert cell["activation"] == "tanh" and cell["cost"] == "huber"
    assert cell["network"] == {"activations": ["tanh", "tanh"], "dims": [3, 5, 4]}
    assert cell["positions"] == ["hidden", "output"]
    assert [sorted(seed) for seed in cell["per_seed"]] == [["W_1", "W_2", "b_1", "b_2", "seed"]] * 2
    worst = max(v for seed in cell["per_seed"] for k, v in seed.items() if k != "seed")
    assert cell["relative_error"] == worst <= cell["tolerance"] == 1e-10


def test_finite_differences_run_in_float64_and_skip_kinks(capsys, tmp_path):
    path = tmp_path / "verify.json"
    code, out, _ = _run(
        capsys,
        "--algorithms", "5",
        "--activations", "tanh,relu",
        "--costs", "mse",
        "--dtype", "float64",
        "--modes", "structured",
        "--seeds", "1",
        "--json", str(path),
    )  # fmt: skip
    assert code == 0, out
    cells = {c["activation"]: c for c in json.loads(path.read_text())["cells"]}
    assert 0 <= cells["tanh"]["finite_difference_error"] <= reference.FINITE_DIFFERENCE_TOLERANCE
    assert cells["relu"]["finite_difference_error"] is None
    assert cells["relu"]["finite_difference_note"] == "skipped: relu has a kink"
    assert "kink" in out


def test_float32_cells_are_held_to_the_float32_tolerance(capsys, tmp_path):
    path = tmp_path / "verify.json"
    code, out, _ = _run(
        capsys,
        "--quick",
        "--dtype", "float32",
        "--algorithms", "4",
        "--activations", "sigmoid",
        "--costs", "binary_cross_entropy",
        "--json", str(path),
    )  # fmt: skip
    assert code == 0, out
    (cell,) = json.loads(path.read_text())["cells"]
    assert cell["tolerance"] == reference.tolerance("float32")
    assert 0 < cell["relative_error"] <= cell["tolerance"]


def _doubled(algorithm):
    def wrong(theta, x, y, activations, cost, **options):
        grads = algorithm(theta, x, y, activations, cost, **options)
        return jax.tree_util.tree_map(lambda v: 2 * v, grads)

    wrong.batch = algorithm.batch
    return wrong


def test_a_wrong_algorithm_fails_its_cells_and_exits_1(capsys, monkeypatch):
    monkeypatch.setitem(manualgrad.ALGORITHMS, 2, _doubled(manualgrad.ALGORITHMS[2]))
    code, out, _ = _run(
        capsys, "--quick", "--algorithms", "2,5", "--activations", "tanh", "--costs", "mse"
    )
    assert code == 1
    assert "FAIL: 1 of 2 cells outside the tolerance" in out
    assert "Algorithm 2, tanh, mse, float64, structured" in out
    assert "Algorithm 5" not in out.split("FAIL: 1 of 2")[1]
    (row,) = [line for line in out.splitlines() if line.startswith("tanh")]
    assert row.rstrip().endswith("FAIL")


def test_an_algorithm_that_raises_is_a_failing_cell(capsys, monkeypatch):
    def broken(theta, x, y, activations, cost, **options):
        raise RuntimeError("planted")

    broken.batch = False
    monkeypatch.setitem(manualgrad.ALGORITHMS, 1, broken)
    code, out, _ = _run(
        capsys, "--quick", "--algorithms", "1", "--activations", "identity", "--costs", "mse"
    )
    assert code == 1
    assert "raised RuntimeError: planted" in out


def test_algorithms_run_jit_compiled_as_users_call_them(capsys, monkeypatch):
    seen = []
    real = manualgrad.ALGORITHMS[5]

    def spy(theta, X, Y, activations, cost, **options):
        seen.append((type(X), options))
        return real(theta, X, Y, activations, cost, **options)

    spy.batch = True
    monkeypatch.setitem(manualgrad.ALGORITHMS, 5, spy)
    code, out, _ = _run(
        capsys,
        "--quick",
        "--algorithms", "5",
        "--activations", "arctan",
        "--costs", "mse",
        "--modes", "structured,dense",
    )  # fmt: skip
    assert code == 0, out
    assert all(issubclass(kind, jax.core.Tracer) for kind, _ in seen)  # traced under jit
    assert sorted(o["jacobian_mode"] for _, o in seen) == ["dense", "structured"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["--activations", "relu,swish"],
            "unknown activation 'swish'; valid activations: identity",
        ),
        (["--costs", "l1"], "unknown cost 'l1'; valid costs: mse"),
        (["--algorithms", "2,7"], "unknown algorithm '7'; valid algorithms: 1, 2, 3, 4, 5"),
        (["--dtype", "float16"], "unknown dtype 'float16'; valid dtypes: float32, float64"),
        (["--modes", "sparse"], "unknown mode 'sparse'"),
        (["--seeds", "0"], "--seeds must be at least 1"),
        (["--json", "/nonexistent/dir/verify.json"], "no directory /nonexistent/dir"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(capsys, argv, says):
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert says in err
    assert out == ""


def test_help_exits_0(capsys):
    code, out, _ = _run(capsys, "--help")
    assert code == 0
    assert "--quick" in out and "--json" in out


def test_the_manualgrad_command_dispatches_verify(capsys):
    assert command.main(["verify", "--algorithms", "9"]) == 2
    assert "unknown algorithm '9'" in capsys.readouterr().err


def test_default_is_the_full_matrix_and_quick_narrows_it():
    full, _ = verify.parse_selection([])
    assert full.num_cells == 5 * 17 * 4 * 2 * 2
    assert (full.dtypes, full.modes, full.seeds, full.finite_differences) == (
        ("float32", "float64"),
        ("structured", "dense"),
        3,
        True,
    )
    quick, _ = verify.parse_selection(["--quick"])
    assert (quick.dtypes, quick.modes, quick.seeds, quick.finite_differences) == (
        ("float64",),
        ("structured",),
        1,
        False,
    )
    assert quick.activations == full.activations and quick.costs == full.costs
    explicit, _ = verify.parse_selection(["--quick", "--modes", "dense", "--dtype", "float32"])
    assert (explicit.modes, explicit.dtypes) == (("dense",), ("float32",))


@pytest.mark.parametrize("cost", list(manualgrad.COSTS))
@pytest.mark.parametrize("activation", list(manualgrad.ACTIVATIONS))
def test_every_cell_has_a_network_with_a_valid_output(activation, cost):
    (network,) = networks_for(activation, [cost])
    assert network.activations[0] == activation  # hidden position
    output = network.activations[-1]
    assert manualgrad.get_cost(cost).accepts_output(output)
    at_output = accepts_output(cost, activation)
    assert (output == activation) == at_output
    assert ("output" in network.positions) == at_output


def test_networks_are_shared_between_the_costs_that_accept_them():
    networks = networks_for("relu", list(manualgrad.COSTS))
    assert [(n.activations, n.costs) for n in networks] == [
        (("relu", "relu"), ("mse", "huber")),
        (("relu", "softmax"), ("cross_entropy", "binary_cross_entropy")),
    ]
    assert not networks[0].finite_differences


def test_eager_runs_op_by_op_and_says_so(capsys, monkeypatch, tmp_path):
    seen = []
    real = manualgrad.ALGORITHMS[2]

    def spy(theta, X, Y, activations, cost, **options):
        seen.append(type(X))
        return real(theta, X, Y, activations, cost, **options)

    spy.batch = True
    monkeypatch.setitem(manualgrad.ALGORITHMS, 2, spy)
    path = tmp_path / "verify.json"
    code, out, _ = _run(
        capsys,
        "--quick",
        "--eager",
        "--algorithms", "2",
        "--activations", "sigmoid",
        "--costs", "binary_cross_entropy",
        "--json", str(path),
    )  # fmt: skip
    assert code == 0, out
    assert seen and not any(issubclass(kind, jax.core.Tracer) for kind in seen)
    assert json.loads(path.read_text())["execution"].startswith("eager")
    assert "jax.disable_jit()" in out


def test_the_normalizations_are_in_the_matrix_and_pass(capsys):
    code, out, _ = _run(
        capsys,
        "--quick",
        "--algorithms", "3,5",
        "--activations", "layer_norm,rms_norm",
        "--costs", "mse,cross_entropy",
    )  # fmt: skip
    assert code == 0, out
    assert "PASS: all 8 cells within the tolerance" in out


_CUSTOM_ACTIVATIONS = """
import jax.numpy as jnp

import manualgrad


def _swish(z):
    return z / (1 + jnp.exp(-z))


def _swish_jacobian(z):
    s = 1 / (1 + jnp.exp(-z))
    return manualgrad.DiagonalJacobian(s + z * s * (1 - s))


def _sigmoid_only(z):  # forgets the z s (1 - s) term of the product rule
    return manualgrad.DiagonalJacobian(1 / (1 + jnp.exp(-z)))


swish = manualgrad.Custom("swish", _swish, jacobian=_swish_jacobian)
wrong_swish = manualgrad.Custom("wrong_swish", _swish, jacobian=_sigmoid_only)
not_an_activation = 3
"""


@pytest.fixture
def custom_file(tmp_path):
    path = tmp_path / "my_activations.py"
    path.write_text(_CUSTOM_ACTIVATIONS, encoding="utf-8")
    return path


def test_a_custom_activation_from_a_file_is_verified_beside_the_registered_ones(
    capsys, custom_file
):
    code, out, _ = _run(
        capsys, "--quick", "--algorithms", "2,4", "--activations", f"relu,{custom_file}:swish",
        "--costs", "mse",
    )  # fmt: skip
    assert code == 0, out
    assert "PASS: all 4 cells within the tolerance" in out
    assert any(line.startswith("swish") for line in out.splitlines())


def test_a_wrong_custom_jacobian_fails_and_check_activation_names_the_entry(capsys, custom_file):
    code, out, _ = _run(
        capsys, "--quick", "--algorithms", "2", "--activations", f"{custom_file}:wrong_swish",
        "--costs", "mse",
    )  # fmt: skip
    assert code == 1
    assert "wrong_swish" in out and "the Jacobian differs from jax.jacfwd at entry" in out


@pytest.mark.parametrize(
    "entry, message",
    [
        ("{file}:nothing", "defines no 'nothing'"),
        ("{file}:not_an_activation", "a int, not a manualgrad activation"),
        ("missing_file.py:swish", "no file missing_file.py"),
        ("no_such_package_xyz:swish", "no module 'no_such_package_xyz'"),
    ],
)
def test_a_custom_activation_that_cannot_be_loaded_is_a_usage_error(
    capsys, custom_file, entry, message
):
    code, _, err = _run(capsys, "--quick", "--activations", entry.format(file=custom_file))
    assert code == 2
    assert message in err
