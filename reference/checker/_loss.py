"""The candidate's own loss (``loss=``): its value, and the gradient it implies.

The value is compared with the declared cost's (reduction and weight decay
included), computed by the reference's own forward pass in float64. Where
they differ, the value is looked up among the losses the declared network
would have with another of our costs, another output activation, one hidden
activation changed (among :data:`SUBSTITUTES`), the other reduction, no
weight decay, or labels read off the targets.

The candidate's gradient is also compared with float64 central differences
of its loss, perturbing each entry of theta as the candidate receives it:
this answers "is the gradient right for the code's own loss" whatever the
declared cost.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import manualgrad
from manualgrad import Activation, Cost, Params
from reference import _forward
from reference.checker._arguments import Spec, activation_name
from reference.checker._calls import call
from reference.checker._cases import Case, Leaves, leaf_names, targets_as_labels
from reference.checker._results import MalformedError
from reference.checker.observations import LossReport, leaf_errors
from reference.tolerances import FINITE_DIFFERENCE_TOLERANCE

__all__ = ["loss_report"]

#: The step of the central differences, as reference.numerical_grad's.
_STEP = 1e-6

#: The activations tried in place of one of the network's, when looking up
#: what a loss value that differs is the loss of: the common ones.
SUBSTITUTES = ("identity", "sigmoid", "tanh", "relu", "softmax")


def _as64(value: Any) -> jax.Array:
    return jnp.asarray(value, dtype=jnp.float64)


def _value(value: Any) -> float:
    try:
        number = float(np.asarray(value))
    except (TypeError, ValueError):
        raise MalformedError(
            f"loss returned {type(value).__name__} {np.shape(value)}, not a number"
        ) from None
    if not math.isfinite(number):
        raise MalformedError(f"loss returned {number}, not a finite number")
    return number


def declared_loss(
    case: Case,
    spec: Spec,
    *,
    activations: tuple[Activation, ...] | None = None,
    cost: Cost | None = None,
    reduction: str | None = None,
    weight_decay: float | None = None,
    Y: jax.Array | None = None,
) -> float:
    """The loss the check declares on this case, in float64; any part may be replaced."""
    with jax.enable_x64(True):
        theta = jax.tree_util.tree_map(_as64, case.theta)
        value = float(
            _forward.loss(
                theta,
                _as64(case.X),
                _as64(case.Y if Y is None else Y),
                activations or spec.activations,
                cost or spec.cost,
            )
        )
        squares = sum(float(jnp.sum(W * W)) for W in theta.W)
    if (reduction or spec.reduction) == "mean":
        value /= case.X.shape[0]
    lam = spec.weight_decay if weight_decay is None else weight_decay
    return value + lam / 2 * squares


def _costs_for(output: Activation) -> Iterator[Cost]:
    for cls in manualgrad.COSTS.values():
        cost = cls()
        if cost.accepts_output(output):
            yield cost


def _same_width(a: Activation, b: Activation, n: int) -> bool:
    return a.output_width(n) == b.output_width(n)


def _alternatives(case: Case, spec: Spec) -> Iterator[tuple[str, Callable[[], float]]]:
    """(what is changed, its loss) for the losses the code may compute instead."""
    acts, L = spec.activations, spec.num_layers
    registered = [manualgrad.get_activation(name) for name in SUBSTITUTES]
    for cost in _costs_for(acts[-1]):
        if cost.name != spec.cost.name:
            yield f"cost={cost.name!r}", lambda c=cost: declared_loss(case, spec, cost=c)
    for output in registered:
        if activation_name(output) == activation_name(acts[-1]):
            continue
        if not _same_width(output, acts[-1], spec.dims[-1]):
            continue
        swapped = (*acts[:-1], output)
        for cost in _costs_for(output):
            what = f"sigma_{L} = {activation_name(output)!r}"
            if cost.name != spec.cost.name:
                what += f" with cost={cost.name!r}"
            yield what, lambda a=swapped, c=cost: declared_loss(case, spec, activations=a, cost=c)
    for l in range(1, L):
        for hidden in registered:
            if activation_name(hidden) == activation_name(acts[l - 1]):
                continue
            if not _same_width(hidden, acts[l - 1], spec.dims[l]):
                continue
            changed = (*acts[: l - 1], hidden, *acts[l:])
            yield (
                f"sigma_{l} = {activation_name(hidden)!r}",
                lambda a=changed: declared_loss(case, spec, activations=a),
            )
    other = "mean" if spec.reduction == "sum" else "sum"
    yield f"reduction={other!r}", lambda: declared_loss(case, spec, reduction=other)
    if spec.weight_decay:
        yield "weight_decay=0", lambda: declared_loss(case, spec, weight_decay=0.0)
    labels = targets_as_labels(case.Y, spec)
    if labels is not None:
        yield "targets='labels'", lambda: declared_loss(case, spec, Y=labels)


def _matches(value: float, case: Case, spec: Spec) -> tuple[str, ...]:
    found = []
    for what, loss in _alternatives(case, spec):
        if abs(loss() - value) <= spec.tolerance * max(abs(value), 1e-300):
            found.append(what)
    return tuple(found)


def _central_differences(
    loss: Callable[..., Any], case: Case, spec: Spec, note: Callable[[], str]
) -> Leaves:
    """Central differences of ``loss`` at theta as the candidate sees it, in the notes' layout."""
    theta_c, X_c, Y_c = case.inputs
    with jax.enable_x64(True):
        X64 = _as64(X_c)
        Y64 = Y_c if jnp.issubdtype(Y_c.dtype, jnp.integer) else _as64(Y_c)
        leaves = [np.asarray(v, dtype=np.float64) for v in (*theta_c.W, *theta_c.b)]
        fixed = [_as64(v) for v in leaves]
        L = len(theta_c.W)

        def at(i: int, value: np.ndarray) -> float:
            moved = [*fixed[:i], _as64(value), *fixed[i + 1 :]]
            theta = Params(tuple(moved[:L]), tuple(moved[L:]))
            return _value(call(loss, note, theta, X64, Y64))

        grads = []
        for i, leaf in enumerate(leaves):
            g = np.zeros_like(leaf)
            for index in np.ndindex(leaf.shape):
                plus, minus = leaf.copy(), leaf.copy()
                plus[index] += _STEP
                minus[index] -= _STEP
                g[index] = (at(i, plus) - at(i, minus)) / (2 * _STEP)
            grads.append(g)
    if spec.weight_layout == "in_out":
        grads[:L] = [g.T for g in grads[:L]]
    return grads


def loss_report(
    case: Case,
    got: Leaves,
    spec: Spec,
    note: Callable[[], str],
    *,
    explain: bool,
) -> LossReport:
    """The candidate's own loss on ``case``, against the declared cost and its own gradient.

    Args:
      case: the seed's problem.
      got: the candidate's gradient, in the notes' layout.
      spec: the check (``spec.loss`` is the candidate's loss).
      note: the note for an exception raised by the loss.
      explain: whether to look up what gives a value that differs.

    Raises:
      MalformedError: the loss returned something that is not a finite number.
    """
    assert spec.loss is not None
    value = _value(call(spec.loss, note, *case.inputs))
    expected = declared_loss(case, spec)
    differences = _central_differences(spec.loss, case, spec, note)
    report = LossReport(
        got=value,
        expected=expected,
        tolerance=spec.tolerance,
        gradient_errors=dict(
            zip(leaf_names(spec.num_layers), leaf_errors(got, differences), strict=True)
        ),
        gradient_tolerance=max(spec.tolerance, FINITE_DIFFERENCE_TOLERANCE),
    )
    if explain and not report.value_ok:
        return dataclasses.replace(report, matches=_matches(value, case, spec))
    return report
