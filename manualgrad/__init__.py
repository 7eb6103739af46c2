"""manualgrad: backpropagation by hand, as the notes derive it, checked against JAX.

The five algorithms of the notes (``ALGORITHMS[1..5]``), activations with
structured Jacobians, costs, and the parameter space Param(n); the
gradient-decay diagnostics of Theorem 16 (:func:`diagnostics`), the
Kronecker form of Algorithm 2 (:func:`backprop_kronecker`), data-parallel
batch backprop on a device mesh (:func:`sharded_grad`), and the scalar
computational graph of the lecture (:mod:`manualgrad.scalar_graph`).
"""

from manualgrad._backprop import JACOBIAN_MODES, Sensitivities
from manualgrad._interval import REALS, Interval
from manualgrad._validation import (
    DEFAULT_MAX_DENSE_BYTES,
    CheckedInputs,
    check_dense_budget,
    check_inputs,
)
from manualgrad.activations import (
    ACTIVATIONS,
    ELU,
    GELU,
    Activation,
    Arctan,
    AvgPool,
    Custom,
    HardTanh,
    Identity,
    LayerNorm,
    LeakyReLU,
    MaxPool,
    Pointwise,
    RadialSigmoid,
    ReLU,
    RMSNorm,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
    get_activation,
)
from manualgrad.algorithms import (
    ALGORITHMS,
    Algorithm,
    backprop_batch,
    backprop_batch_combined,
    backprop_combined,
    backprop_postactivation,
    backprop_preactivation,
)
from manualgrad.costs import (
    COSTS,
    BinaryCrossEntropy,
    Cost,
    CrossEntropy,
    Huber,
    MeanSquaredError,
    get_cost,
)
from manualgrad.decay import Diagnostics, diagnostics
from manualgrad.jacobians import (
    DenseJacobian,
    DiagonalJacobian,
    Jacobian,
    RowJacobian,
    ScaledIdentityPlusLowRank,
    SoftmaxJacobian,
)
from manualgrad.kronecker import backprop_kronecker
from manualgrad.params import Params, init_params, layer_input_widths
from manualgrad.sharded import batch_mesh, sharded_grad

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "ALGORITHMS",
    "COSTS",
    "DEFAULT_MAX_DENSE_BYTES",
    "ELU",
    "GELU",
    "JACOBIAN_MODES",
    "REALS",
    "Activation",
    "Algorithm",
    "Arctan",
    "AvgPool",
    "BinaryCrossEntropy",
    "CheckedInputs",
    "Cost",
    "CrossEntropy",
    "Custom",
    "DenseJacobian",
    "Diagnostics",
    "DiagonalJacobian",
    "HardTanh",
    "Huber",
    "Identity",
    "Interval",
    "Jacobian",
    "LayerNorm",
    "LeakyReLU",
    "MaxPool",
    "MeanSquaredError",
    "Params",
    "Pointwise",
    "RMSNorm",
    "RadialSigmoid",
    "ReLU",
    "RowJacobian",
    "ScaledIdentityPlusLowRank",
    "Sensitivities",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "SoftmaxJacobian",
    "Softplus",
    "Tanh",
    "backprop_batch",
    "backprop_batch_combined",
    "backprop_combined",
    "backprop_kronecker",
    "backprop_postactivation",
    "backprop_preactivation",
    "batch_mesh",
    "check_dense_budget",
    "check_inputs",
    "diagnostics",
    "get_activation",
    "get_cost",
    "init_params",
    "layer_input_widths",
    "sharded_grad",
]
