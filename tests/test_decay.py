"""Theorem 16 (exponential decay of sensitivities) and the Jacobian chain."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import manualgrad
import reference
from manualgrad import Params
from manualgrad.decay import diagnostics
from reference.decay_command import main
from tests._cases import random_params

F64 = jnp.float64
TOL = reference.tolerance(F64)

#: Pointwise activations whose sup |phi'| is finite: the theorem's hypothesis.
BOUNDED_POINTWISE = sorted(
    name
    for name, cls in manualgrad.ACTIVATIONS.items()
    if issubclass(cls, manualgrad.Pointwise) and math.isfinite(cls().derivative_bound)
)


def _network(activations, width, seed, *, weight_scale=1.0, dtype=F64):
    """A random network with every W_l scaled, one sample and a target in (0, 1)."""
    dims = (width,) * (len(activations) + 1)
    rng = np.random.default_rng(seed)
    theta = random_params(rng, dims, activations, dtype=dtype, weight_scale=weight_scale)
    out = manualgrad.get_activation(activations[-1]).output_width(width)
    x = jnp.asarray(rng.normal(size=width), dtype)
    y = jnp.asarray(rng.uniform(0.1, 0.9, size=out), dtype)
    return theta, x, y


#: The same functions as jnp formulas, for an independent sup |phi'| by jax.grad.
PHI = {
    "identity": lambda z: z,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "hard_tanh": jax.nn.hard_tanh,
    "arctan": jnp.arctan,
    "leaky_relu": jax.nn.leaky_relu,
    "elu": jax.nn.elu,
    "softplus": jax.nn.softplus,
    "silu": jax.nn.silu,
    "gelu": jax.nn.gelu,
}


@pytest.mark.parametrize("activation", BOUNDED_POINTWISE)
def test_derivative_bound_is_the_sup_of_the_derivative(activation):
    """Theorem 16's r must bound |phi'| everywhere, and be no looser than needed."""
    z = jnp.linspace(-20.0, 20.0, 400_001, dtype=F64)  # step 1e-4, z = 0 included
    sup = float(jnp.max(jnp.abs(jax.jit(jax.vmap(jax.grad(PHI[activation])))(z))))
    bound = manualgrad.get_activation(activation).derivative_bound
    assert sup <= bound
    assert bound <= sup * (1 + 1e-6)


#: Non-pointwise activations with a finite bound; eps chosen so that sigma r is near 1.
BOUNDED_STRUCTURED = [
    "softmax",
    manualgrad.LayerNorm(eps=0.5),
    manualgrad.RMSNorm(eps=2.0),
]


@pytest.mark.parametrize("activation", [*BOUNDED_POINTWISE, *BOUNDED_STRUCTURED], ids=str)
def test_theorem_16_bound_holds_on_random_networks(activation):
    activations = (activation,) * 4
    r = manualgrad.get_activation(activation).derivative_bound
    for seed in range(2):
        theta, x, y = _network(activations, width=5, seed=seed, weight_scale=1.5)
        d = diagnostics(theta, x, y, activations, "mse")
        sigma = max(np.linalg.norm(np.asarray(W), 2) for W in theta.W)
        np.testing.assert_allclose(d.sigma, sigma, rtol=1e-12)
        assert d.r == r
        norms = np.asarray(d.sensitivity_norms)
        expected_bound = (sigma * r) ** np.arange(3, -1, -1) * norms[-1]
        np.testing.assert_allclose(d.bound, expected_bound, rtol=1e-12)
        assert np.all(norms <= d.bound * (1 + TOL))
        # The chain bound lies between the norms and the theorem's bound.
        chain = np.asarray(d.chain_norms) * norms[-1]
        assert np.all(norms <= chain * (1 + TOL))
        assert np.all(chain <= np.asarray(d.bound) * (1 + TOL))
        # One step of the proof: ||delta_l|| <= ||W_{l+1}||_2 r ||delta_{l+1}||.
        step = np.asarray(d.weight_norms[1:]) * r * norms[1:]
        assert np.all(norms[:-1] <= step * (1 + TOL))


def test_sensitivity_norms_are_the_norms_of_the_jax_sensitivities():
    activations = ("tanh", "softmax", "sigmoid")
    theta, x, y = _network(activations, width=4, seed=1)
    d = diagnostics(theta, x, y, activations, "mse")
    sens = reference.sensitivities(theta, x, y, activations, "mse")
    expected = [np.linalg.norm(np.asarray(g)) for g in sens.grad_z]
    np.testing.assert_allclose(d.sensitivity_norms, expected, rtol=1e-10)


def test_singular_values_are_those_of_the_jacfwd_layer_maps():
    activations = ("tanh", "softmax", "sigmoid")
    theta, x, y = _network(activations, width=4, seed=2)
    d = diagnostics(theta, x, y, activations, "mse")
    phi = {"tanh": jnp.tanh, "softmax": jax.nn.softmax, "sigmoid": jax.nn.sigmoid}
    zs, a = [], x
    for W, b, name in zip(theta.W, theta.b, activations, strict=True):
        zs.append(W @ a + b)
        a = phi[name](zs[-1])

    def layer_map(l):  # z_{l-1} -> z_l, l >= 2
        return lambda z: theta.W[l - 1] @ phi[activations[l - 2]](z) + theta.b[l - 1]

    svd = lambda M: np.linalg.svd(np.asarray(M), compute_uv=False)  # noqa: E731
    np.testing.assert_allclose(d.layer_singular_values[0], svd(theta.W[0]), rtol=1e-10)
    for l in range(2, 4):
        expected = svd(jax.jit(jax.jacfwd(layer_map(l)))(zs[l - 2]))
        # softmax's Jacobian is singular: its smallest singular value is rounding noise.
        np.testing.assert_allclose(
            d.layer_singular_values[l - 1], expected, rtol=1e-10, atol=1e-12 * expected[0]
        )
    for l in range(1, 4):
        expected = svd(jax.jit(reference.jacobian, static_argnums=0)(activations[l - 1], zs[l - 1]))
        np.testing.assert_allclose(
            d.activation_singular_values[l - 1], expected, rtol=1e-10, atol=1e-12 * expected[0]
        )
    # ||dz_3/dz_1||_2 through the composed map.
    chain = jax.jacfwd(lambda z: layer_map(3)(layer_map(2)(z)))(zs[0])
    np.testing.assert_allclose(d.chain_norms[0], np.linalg.norm(np.asarray(chain), 2), rtol=1e-10)
    assert d.chain_norms[-1] == pytest.approx(1.0)


def test_sigmoid_network_with_small_weights_decays_at_least_as_fast_as_the_bound():
    activations = ("sigmoid",) * 6
    theta, x, y = _network(activations, width=8, seed=0, weight_scale=0.5)
    d = diagnostics(theta, x, y, activations, "mse")
    rate = float(d.sigma) * d.r
    assert d.r == 0.25
    assert rate < 0.5  # small weights: the theorem predicts decay
    norms = np.asarray(d.sensitivity_norms)
    ratios = norms[:-1] / norms[1:]  # ||delta_l|| / ||delta_{l+1}||
    assert np.all(ratios <= rate * (1 + TOL))  # every step contracts by sigma r at least
    # Geometric: log ||delta_l|| falls linearly, with a slope at least log(sigma r).
    slope = np.polyfit(np.arange(1, 7), np.log(norms), 1)[0]
    assert slope >= -np.log(rate)
    assert norms[0] < 1e-3 * norms[-1]


def _midpoint_network(scale, width, depth):
    """W_l = scale * Q_l (orthogonal), biases that keep every z_l = 0 for x = 0.

    sigmoid'(0) = 1/4 at every neuron, so delta_l = (1/4) W_{l+1}^T delta_{l+1} and
    ||delta_l|| = (scale / 4) ||delta_{l+1}|| exactly: Theorem 16 with equality.
    """
    rng = np.random.default_rng(0)
    W, b = [], []
    for l in range(1, depth + 1):
        Q, _ = np.linalg.qr(rng.normal(size=(width, width)))
        W.append(scale * Q)
        # z_1 = W_1 x = 0; after that a_{l-1} = sigmoid(0) = 1/2 everywhere, cancelled by b_l.
        b.append(np.zeros(width) if l == 1 else -(scale * Q) @ np.full(width, 0.5))
    theta = Params(tuple(jnp.asarray(w) for w in W), tuple(jnp.asarray(v) for v in b))
    return theta, jnp.zeros(width, F64), jnp.asarray(rng.uniform(size=width))


def test_bound_is_attained_with_orthogonal_weights_at_the_sigmoid_midpoint():
    theta, x, y = _midpoint_network(scale=2.0, width=5, depth=5)
    activations = ("sigmoid",) * 5
    d = diagnostics(theta, x, y, activations, "mse")
    assert float(d.sigma) * d.r == pytest.approx(0.5)
    np.testing.assert_allclose(d.sensitivity_norms, d.bound, rtol=1e-10)


@pytest.mark.parametrize(
    ("activations", "r"),
    [
        (("sigmoid", "sigmoid", "relu"), 0.25),  # the output's derivative is not in r
        (("sigmoid", "tanh", "sigmoid"), 1.0),
        (("softmax", "sigmoid"), 0.5),
        (("tanh",), 0.0),  # no hidden layer: nothing to contract
    ],
)
def test_r_is_the_largest_bound_among_the_hidden_layers(activations, r):
    theta, x, y = _network(activations, width=3, seed=4)
    d = diagnostics(theta, x, y, activations, "mse")
    assert d.r == r
    assert np.all(np.asarray(d.sensitivity_norms) <= np.asarray(d.bound) * (1 + TOL))


def test_unbounded_derivative_gives_an_infinite_bound_below_the_last_layer():
    activations = ("radial_sigmoid", "tanh", "identity")
    theta, x, y = _network(activations, width=3, seed=5)
    d = diagnostics(theta, x, y, activations, "mse")
    assert math.isinf(d.r)
    assert np.all(np.isposinf(np.asarray(d.bound[:-1])))
    assert d.bound[-1] == d.sensitivity_norms[-1]


def test_float32_in_float32_out():
    activations = ("tanh", "sigmoid")
    theta, x, y = _network(activations, width=3, seed=6, dtype=jnp.float32)
    d = diagnostics(theta, x, y, activations, "mse")
    arrays = [d.sensitivity_norms, d.bound, d.sigma, d.weight_norms, d.chain_norms]
    arrays += [*d.layer_singular_values, *d.activation_singular_values]
    assert all(a.dtype == jnp.float32 for a in arrays)


def test_a_batch_is_refused():
    activations = ("tanh", "sigmoid")
    theta, x, y = _network(activations, width=3, seed=6)
    with pytest.raises(ValueError, match=r"manualgrad\.diagnostics: x must be one sample"):
        diagnostics(theta, x[None, :], y[None, :], activations, "mse")


# --- manualgrad diagnose --------------------------------------------------------------------


def test_diagnose_command_prints_the_table_and_writes_a_png(tmp_path, capsys):
    png = tmp_path / "decay.png"
    argv = ["--activation", "sigmoid", "--depth", "3", "--width", "4"]
    code = main([*argv, "--weight-scale", "0.5", "--seed", "1", "--png", str(png)])
    assert code == 0
    out = capsys.readouterr().out
    assert "||delta^-(l)||" in out and "bound" in out and "r = 0.25" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_diagnose_command_takes_a_normalization(capsys):
    argv = ["--activation", "rms_norm", "--depth", "3", "--width", "4", "--png", ""]
    assert main(argv) == 0
    assert f"r = {manualgrad.RMSNorm().derivative_bound:g}," in capsys.readouterr().out


def test_diagnose_command_says_when_the_bound_is_infinite(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["--activation", "radial_sigmoid", "--depth", "3", "--width", "3"]
    assert main([*argv, "--png", ""]) == 0  # no plot asked for: none written
    assert "unbounded" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "argv",
    [["--depth", "0"], ["--activation", "nope"], ["--weight-scale", "-1"], ["--width", "x"]],
)
def test_diagnose_command_rejects_bad_arguments(argv, capsys):
    assert main(argv) == 2
    assert capsys.readouterr().err
