"""``manualgrad decay`` (earlier ``manualgrad diagnose``): Theorem 16 as a table and a plot.

A report of the library's gradient-decay diagnostics
(:func:`manualgrad.diagnostics`) on a random network.

Builds a network of ``--depth`` layers of ``--width`` neurons, all with the
same ``--activation``, draws theta with ``manualgrad.init_params`` (entries of
W_l ~ N(0, 1/m_{l-1})) and multiplies every W_l by ``--weight-scale`` (so
||W_l||_2 is about 2 x weight-scale for square layers), draws one sample x ~
N(0, I) and target y ~ U(0, 1), and prints per layer ||delta^-(l)||, the
bound (sigma r)^(L-l) ||delta^-(L)||, ||W_l||_2 and the extreme singular
values of the layer Jacobian W_l Jac_{l-1} and of Jac_l. A PNG plots the
norms against the layer on a log axis, with the bound and the tighter
chain bound ||dz_L/dz_l||_2 ||delta^-(L)||.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console
from rich.table import Table

from manualgrad import (
    ACTIVATIONS,
    COSTS,
    Diagnostics,
    Params,
    diagnostics,
    get_activation,
    init_params,
)

__all__ = ["main", "random_network"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="manualgrad decay",
        description="Per-layer sensitivity norms against the bound of Theorem 16.",
    )
    parser.add_argument("--activation", default="sigmoid", choices=sorted(ACTIVATIONS))
    parser.add_argument("--cost", default="mse", choices=sorted(COSTS))
    parser.add_argument("--depth", type=int, default=10, help="number of layers L (>= 1)")
    parser.add_argument("--width", type=int, default=32, help="width of every layer (>= 1)")
    parser.add_argument(
        "--weight-scale", type=float, default=0.5, help="factor applied to every W_l (>= 0)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument(
        "--png", default="diagnose.png", help="where to write the plot ('' for no plot)"
    )
    return parser


def random_network(
    key: jax.Array,
    *,
    activation: str,
    depth: int,
    width: int,
    weight_scale: float,
    dtype: jnp.dtype,
) -> tuple[Params, jax.Array, jax.Array, tuple[str, ...]]:
    """(theta, x, y, activations) for a network of ``depth`` layers of ``width``."""
    dims = (width,) * (depth + 1)
    activations = (activation,) * depth
    k_theta, k_x, k_y = jax.random.split(key, 3)
    theta = init_params(k_theta, dims, activations, dtype=dtype)
    theta = Params(tuple(weight_scale * W for W in theta.W), theta.b)
    out_width = get_activation(activation).output_width(width)
    x = jax.random.normal(k_x, (width,), dtype)
    y = jax.random.uniform(k_y, (out_width,), dtype)
    return theta, x, y, activations


def _fmt(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.3e}"


def _table(diag: Diagnostics, title: str) -> Table:
    table = Table(title=title)
    for header in (
        "layer l",
        "||delta^-(l)||",
        "bound",
        "norm / bound",
        "||W_l||_2",
        "s_max(W_l Jac_{l-1})",
        "s_min(W_l Jac_{l-1})",
        "s_max(Jac_l)",
    ):
        table.add_column(header, justify="right")
    norms = np.asarray(diag.sensitivity_norms, dtype=np.float64)
    bound = np.asarray(diag.bound, dtype=np.float64)
    for l in range(1, norms.size + 1):
        layer_sv = np.asarray(diag.layer_singular_values[l - 1], dtype=np.float64)
        act_sv = np.asarray(diag.activation_singular_values[l - 1], dtype=np.float64)
        ratio = norms[l - 1] / bound[l - 1] if bound[l - 1] > 0 else math.nan
        table.add_row(
            str(l),
            _fmt(norms[l - 1]),
            _fmt(bound[l - 1]),
            f"{ratio:.3f}",
            _fmt(float(diag.weight_norms[l - 1])),
            _fmt(layer_sv[0]),
            _fmt(layer_sv[-1]),
            _fmt(act_sv[0]),
        )
    return table


def _plot(diag: Diagnostics, title: str, path: Path) -> None:
    # The object-oriented API with the Agg canvas: no pyplot, no global backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    norms = np.asarray(diag.sensitivity_norms, dtype=np.float64)
    bound = np.asarray(diag.bound, dtype=np.float64)
    chain = np.asarray(diag.chain_norms, dtype=np.float64) * norms[-1]
    layers = np.arange(1, norms.size + 1)

    def positive(v: np.ndarray) -> np.ndarray:
        # A log axis cannot show 0 (a dead relu layer) or inf (r unbounded).
        return np.where((v > 0) & np.isfinite(v), v, np.nan)

    fig = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(layers, positive(norms), "o-", label=r"$\|\delta^-(l)\|_2$")
    if np.isfinite(bound[:-1]).all():
        ax.plot(layers, positive(bound), "--", label=r"$(\sigma r)^{L-l}\,\|\delta^-(L)\|_2$")
    chain_label = r"$\|\partial z_L/\partial z_l\|_2\,\|\delta^-(L)\|_2$"
    ax.plot(layers, positive(chain), ":", label=chain_label)
    if np.any(np.isfinite(positive(np.concatenate([norms, chain])))):
        ax.set_yscale("log")
    ax.set_xlabel("layer l")
    ax.set_ylabel("sensitivity norm")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    """Runs ``manualgrad decay``; returns the exit code (0 ok, 2 bad arguments)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if args.depth < 1 or args.width < 1:
        parser.print_usage(sys.stderr)
        print(
            f"manualgrad decay: --depth and --width must be >= 1, got {args.depth}, {args.width}",
            file=sys.stderr,
        )
        return 2
    if not (args.weight_scale >= 0 and math.isfinite(args.weight_scale)):
        print(
            f"manualgrad decay: --weight-scale must be finite and >= 0, got {args.weight_scale}",
            file=sys.stderr,
        )
        return 2
    if args.dtype == "float64" and not jax.config.jax_enable_x64:
        # A command owns its process: float64 needs x64 switched on.
        jax.config.update("jax_enable_x64", True)
    dtype = jnp.dtype(args.dtype)
    theta, x, y, activations = random_network(
        jax.random.PRNGKey(args.seed),
        activation=args.activation,
        depth=args.depth,
        width=args.width,
        weight_scale=args.weight_scale,
        dtype=dtype,
    )
    diag = diagnostics(theta, x, y, activations, args.cost)
    sigma = float(diag.sigma)
    title = (
        f"{args.activation}, depth {args.depth}, width {args.width}, weight scale "
        f"{args.weight_scale}, seed {args.seed}: sigma = {sigma:.4f}, r = {diag.r:g}, "
        f"sigma r = {sigma * diag.r:.4f}"
    )
    console = Console(width=None if Console().is_terminal else 140)
    console.print(_table(diag, title))
    if math.isinf(diag.r):
        console.print(
            f"r = sup ||Jac|| is unbounded for {args.activation}: Theorem 16 gives no finite "
            "bound below the last layer."
        )
    if args.png:
        path = Path(args.png)
        _plot(diag, title, path)
        console.print(f"wrote {path}")
    return 0
