"""Ground truth for manualgrad, and for anyone's hand-written backprop.

* :func:`grad`: jax.grad of a forward pass written apart from manualgrad's.
* :func:`sensitivities`: jax.grad of the partial loss functions.
* :func:`jacobian`: jax.jacfwd of an activation.
* :func:`check_activation`: an activation's hand-written Jacobian against jax.jacfwd.
* :func:`numerical_grad`: float64 central differences, trusting no autodiff.
* ``TOLERANCES``: the one table of tolerances per dtype.
* :func:`check_backprop` / :func:`compare_backprop`: checks someone else's
  backprop against :func:`grad`, in their conventions; the report is a
  :class:`BackpropReport`.
* :func:`check_vjp` / :func:`compare_vjp`: checks one hand-written backward
  (a layer, a loss) against jax.vjp or central differences.
* :func:`draw_case`: the one seed -> (theta, X, Y) recipe (:mod:`reference.problems`).
* :func:`describe_machine`: what a result was measured on.
"""

from reference.activation_check import check_activation
from reference.autodiff import grad, jacobian, sensitivities
from reference.checker import (
    BackpropReport,
    CandidateError,
    check_backprop,
    compare_backprop,
)
from reference.directional import DirectionalReport, directional_check
from reference.finite_differences import (
    NumericalGradient,
    Oracle,
    kinks_at,
    numerical_grad,
    numerical_leaf,
)
from reference.machine import describe_machine
from reference.problems import draw_case, draw_targets
from reference.tolerances import (
    FINITE_DIFFERENCE_TOLERANCE,
    TOLERANCES,
    leaf_relative_errors,
    relative_error,
    tolerance,
)
from reference.vjp import VjpReport, check_vjp, compare_vjp

__all__ = [
    "FINITE_DIFFERENCE_TOLERANCE",
    "TOLERANCES",
    "BackpropReport",
    "CandidateError",
    "DirectionalReport",
    "NumericalGradient",
    "Oracle",
    "VjpReport",
    "check_activation",
    "check_backprop",
    "check_vjp",
    "compare_backprop",
    "compare_vjp",
    "describe_machine",
    "directional_check",
    "draw_case",
    "draw_targets",
    "grad",
    "jacobian",
    "kinks_at",
    "leaf_relative_errors",
    "numerical_grad",
    "numerical_leaf",
    "relative_error",
    "sensitivities",
    "tolerance",
]
