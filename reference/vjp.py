"""check_vjp: a hand-written backward of any function, checked layer by layer.

``forward(*inputs) -> array`` is the function, ``backward(cotangent,
*inputs)`` its hand-written vector-Jacobian product: one gradient per input,
cotangent^T d(forward)/d(input). An affine layer, a ReLU, a softmax loss, a
layer object's backward: anything with inputs and one output.

For each seed a random cotangent of the output's shape is drawn, and the
backward's gradients are compared with the ground truth, per input:

* ``jax.vjp`` of ``forward`` in float64, when ``forward`` traces under JAX
  (``oracle="autodiff"``);
* otherwise float64 central differences of <cotangent, forward(inputs)>, one
  perturbation per entry of each input, which needs nothing of ``forward``
  but to accept NumPy arrays (``oracle="finite_differences"``).

``oracle="auto"`` tries the first and falls back on the second. Inputs of an
integer or boolean dtype (class labels, masks) are passed as given and not
differentiated; their gradient may be None. Floating inputs are passed as the
kind of array they were given as (NumPy stays NumPy), in the check's dtype.
The oracle runs before the checked calls, and ``forward`` is called once more
right before ``backward``, so a layer object that caches its forward pass
hands ``backward`` the right cache.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike, DTypeLike

from reference._options import dtype_name as checked_dtype_name
from reference._options import non_finite, seed_tuple
from reference.checker._calls import call, describe_value
from reference.checker.observations import factor_of, leaf_errors, worst_index
from reference.tolerances import FINITE_DIFFERENCE_TOLERANCE, tolerance

__all__ = ["ORACLES", "InputReport", "VjpReport", "VjpSeedReport", "check_vjp", "compare_vjp"]

WHERE = "check_vjp"

#: The ground truths: "auto" tries autodiff and falls back on finite differences.
ORACLES = ("auto", "autodiff", "finite_differences")

#: The step of the central differences, as reference.numerical_grad's.
_STEP = 1e-6


@dataclasses.dataclass(frozen=True)
class InputReport:
    """How the gradient of one input compares.

    Attributes:
      name: the input's name (a key of the inputs dict, else "inputs[i]").
      shape: the input's shape.
      relative_error: the relative error of its gradient (a zero gradient is
        measured against the largest expected entry of any input's).
      ok: whether it is within the tolerance.
      worst_index: the worst element's index.
      expected: the expected value there.
      got: the backward's value there.
      factor: f when the gradient is f times the expected one, else None.
    """

    name: str
    shape: tuple[int, ...]
    relative_error: float
    ok: bool
    worst_index: tuple[int, ...] = ()
    expected: float = 0.0
    got: float = 0.0
    factor: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "name": self.name,
            "shape": list(self.shape),
            "relative_error": _number(self.relative_error),
            "ok": self.ok,
            "worst_index": list(self.worst_index),
            "expected": _number(self.expected),
            "got": _number(self.got),
            "factor": None if self.factor is None else _number(self.factor),
        }


@dataclasses.dataclass(frozen=True)
class VjpSeedReport:
    """One seed: its cotangent's shape and every differentiated input."""

    seed: int
    passed: bool
    cotangent_shape: tuple[int, ...]
    inputs: tuple[InputReport, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "seed": self.seed,
            "passed": self.passed,
            "cotangent_shape": list(self.cotangent_shape),
            "inputs": [r.to_dict() for r in self.inputs],
        }


@dataclasses.dataclass(frozen=True)
class VjpReport:
    """What :func:`compare_vjp` found.

    Attributes:
      passed: whether every gradient agrees on every seed.
      tolerance: the relative tolerance (the dtype's; with finite differences
        at least ``FINITE_DIFFERENCE_TOLERANCE``).
      dtype: "float32" or "float64".
      oracle: the ground truth used, "autodiff" or "finite_differences".
      errors: input name -> its largest relative error over the seeds.
      seeds: one VjpSeedReport per seed checked.
      message: the report as text; the AssertionError of check_vjp.
      problem: why the backward's result could not be read, or None.
    """

    passed: bool
    tolerance: float
    dtype: str
    oracle: str
    errors: Mapping[str, float]
    seeds: tuple[VjpSeedReport, ...]
    message: str
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready dicts, lists, strings and numbers."""
        return {
            "passed": self.passed,
            "tolerance": self.tolerance,
            "dtype": self.dtype,
            "oracle": self.oracle,
            "errors": {k: _number(v) for k, v in self.errors.items()},
            "seeds": [s.to_dict() for s in self.seeds],
            "problem": self.problem,
            "message": self.message,
        }


def _number(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


class _BadResultError(Exception):
    """The backward's result is not one gradient per input; the message says why."""


@dataclasses.dataclass(frozen=True)
class _Inputs:
    """The inputs, named, in the check's dtype; how forward and backward take them."""

    names: tuple[str, ...]
    values: tuple[Any, ...]
    keyword: bool

    @property
    def differentiated(self) -> tuple[int, ...]:
        return tuple(i for i, v in enumerate(self.values) if _is_floating(v))

    def arguments(self, values: Sequence[Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if self.keyword:
            return (), dict(zip(self.names, values, strict=True))
        return tuple(values), {}

    def replaced(self, index: int, value: Any) -> list[Any]:
        return [value if i == index else v for i, v in enumerate(self.values)]


def _is_floating(value: Any) -> bool:
    return np.issubdtype(np.asarray(value).dtype, np.floating)


def _is_array(value: Any) -> bool:
    return isinstance(value, (np.ndarray, np.generic, jax.Array, numbers.Number))


def _cast(value: Any, dtype: str) -> Any:
    if not _is_floating(value):
        return value
    if isinstance(value, jax.Array):
        return jnp.asarray(value, dtype=dtype)
    return np.asarray(value, dtype=dtype)


def _inputs(inputs: Any, dtype: str) -> _Inputs:
    if isinstance(inputs, Mapping):
        names = tuple(str(k) for k in inputs)
        values, keyword = tuple(inputs.values()), True
    elif isinstance(inputs, tuple | list):
        names = tuple(f"inputs[{i}]" for i in range(len(inputs)))
        values, keyword = tuple(inputs), False
    elif _is_array(inputs):
        names, values, keyword = ("inputs[0]",), (inputs,), False
    else:
        raise ValueError(
            f"{WHERE}: inputs must be a tuple of arrays, a dict name -> array, or one "
            f"array, got {type(inputs).__name__}"
        )
    for name, value in zip(names, values, strict=True):
        if not _is_array(value):
            raise ValueError(f"{WHERE}: input {name} is a {type(value).__name__}, not an array")
    checked = _Inputs(names, tuple(_cast(v, dtype) for v in values), keyword)
    if not checked.differentiated:
        raise ValueError(f"{WHERE}: no input has a floating dtype, so there is nothing to check")
    return checked


def _note(what: str, seed: int, inputs: _Inputs, cotangent: Any, options: str) -> Callable[[], str]:
    def note() -> str:
        given = ", ".join(
            f"{n} {describe_value(v)}" for n, v in zip(inputs.names, inputs.values, strict=True)
        )
        ct = "" if cotangent is None else f"cotangent {describe_value(cotangent)}, "
        return (
            f"check_vjp: raised by {what} on seed {seed}, called with {ct}{given}.\n"
            f"Options in force: {options}."
        )

    return note


def _autodiff(
    forward: Callable[..., Any], inputs: _Inputs, cotangent: np.ndarray
) -> list[np.ndarray]:
    """jax.vjp of forward at the inputs, in float64: one gradient per differentiated input."""
    floats = inputs.differentiated
    with jax.enable_x64(True):

        def f(*primals: jax.Array) -> jax.Array:
            values = list(inputs.values)
            for i, p in zip(floats, primals, strict=True):
                values[i] = p
            args, kwargs = inputs.arguments(values)
            return jnp.asarray(forward(*args, **kwargs), dtype=jnp.float64)

        primals = [jnp.asarray(inputs.values[i], dtype=jnp.float64) for i in floats]
        out, pullback = jax.vjp(f, *primals)
        return [np.asarray(g) for g in pullback(jnp.asarray(cotangent).reshape(out.shape))]


def _finite_differences(
    forward: Callable[..., Any], inputs: _Inputs, cotangent: np.ndarray, note: Callable[[], str]
) -> list[np.ndarray]:
    """Central differences of <cotangent, forward(inputs)> in float64, entry by entry."""

    def projected(values: list[Any]) -> float:
        args, kwargs = inputs.arguments(values)
        out = np.asarray(call(forward, note, *args, **kwargs), dtype=np.float64)
        return float(np.sum(cotangent * out))

    grads = []
    with jax.enable_x64(True):
        for i in inputs.differentiated:
            given = inputs.values[i]
            x = np.asarray(given, dtype=np.float64)
            kind = jnp.asarray if isinstance(given, jax.Array) else np.asarray
            g = np.zeros_like(x)
            for index in np.ndindex(x.shape):
                plus, minus = x.copy(), x.copy()
                plus[index] += _STEP
                minus[index] -= _STEP
                g[index] = (
                    projected(inputs.replaced(i, kind(plus)))
                    - projected(inputs.replaced(i, kind(minus)))
                ) / (2 * _STEP)
            grads.append(g)
    return grads


def _traces(forward: Callable[..., Any], inputs: _Inputs, cotangent: np.ndarray) -> bool:
    """Whether jax.vjp goes through ``forward`` (NumPy code does not)."""
    try:
        _autodiff(forward, inputs, cotangent)
    except Exception:  # any failure to trace means: not JAX code
        return False
    return True


def _gradients(result: Any, inputs: _Inputs, dtype: str) -> list[np.ndarray]:
    """The backward's gradient of each differentiated input, float64."""
    if inputs.keyword and isinstance(result, Mapping):
        missing = [n for n in inputs.names if n not in result]
        extra = [str(k) for k in result if k not in inputs.names]
        if missing or extra:
            raise _BadResultError(
                f"backward returned a dict with keys {sorted(map(str, result))}; the inputs "
                f"are {list(inputs.names)}"
                + (f" (missing {missing})" if missing else "")
                + (f" (not inputs: {extra})" if extra else "")
            )
        grads = [result[n] for n in inputs.names]
    elif len(inputs.names) == 1 and _is_array(result):
        grads = [result]
    elif isinstance(result, tuple | list):
        grads = list(result)
    else:
        raise _BadResultError(
            f"backward returned {type(result).__name__}; expected one gradient per input "
            f"({len(inputs.names)}: {', '.join(inputs.names)})"
        )
    if len(grads) != len(inputs.names):
        raise _BadResultError(
            f"backward returned {len(grads)} gradients for {len(inputs.names)} inputs "
            f"({', '.join(inputs.names)})"
        )
    return [
        _gradient(grads[i], inputs.names[i], inputs.values[i], dtype) for i in inputs.differentiated
    ]


def _gradient(value: Any, name: str, given: Any, dtype: str) -> np.ndarray:
    if not _is_array(value):
        raise _BadResultError(f"the gradient of {name} is a {type(value).__name__}, not an array")
    array = np.asarray(value)
    shape = np.shape(given)
    if array.shape != shape:
        hint = " — transposed?" if array.shape == shape[::-1] and len(shape) == 2 else ""
        raise _BadResultError(
            f"the gradient of {name} has shape {array.shape}, the input {shape}{hint}"
        )
    if not np.issubdtype(array.dtype, np.floating):
        raise _BadResultError(f"the gradient of {name} has dtype {array.dtype}, expected {dtype}")
    if (found := non_finite(array)) is not None:
        count, first = found
        raise _BadResultError(
            f"the gradient of {name} has {count} non-finite entries, the first at {first}"
        )
    return array.astype(np.float64)


def _input_reports(
    got: list[np.ndarray], expected: list[np.ndarray], inputs: _Inputs, tol: float
) -> tuple[InputReport, ...]:
    errors = leaf_errors(got, expected)
    reports = []
    for i, g, e, error in zip(inputs.differentiated, got, expected, errors, strict=True):
        index = worst_index(g, e)
        reports.append(
            InputReport(
                name=inputs.names[i],
                shape=tuple(g.shape),
                relative_error=error,
                ok=error <= tol,
                worst_index=index,
                expected=float(e[index]),
                got=float(g[index]),
                factor=factor_of(g, e, error, tolerance=tol, named=(-1.0, 2.0, 0.5)),
            )
        )
    return tuple(reports)


def _line(r: InputReport) -> str:
    line = f"  {r.name:<12} {r.shape!s:<11} {r.relative_error:<10.3g}  {'ok' if r.ok else 'WRONG'}"
    if not r.ok:
        line += f"  {list(r.worst_index)}: expected {r.expected:.6g}, got {r.got:.6g}"
        if r.factor is not None:
            line += f"  (got = {r.factor:.6g} x expected)"
    return line


def _truth(oracle: str) -> str:
    if oracle == "autodiff":
        return "jax.vjp of forward in float64"
    return "float64 central differences of <cotangent, forward(inputs)>"


def _failure(
    seeds: Sequence[VjpSeedReport], total: int, dtype: str, tol: float, oracle: str
) -> str:
    failing = [s for s in seeds if not s.passed]
    first = failing[0]
    wrong = [r.name for r in first.inputs if not r.ok]
    return "\n".join(
        [
            f"check_vjp: the backward is wrong in {len(failing)} of {total} seeds (seeds "
            f"{[s.seed for s in failing]}); {dtype}, tolerance {tol:g} relative, against "
            f"{_truth(oracle)}.",
            "",
            f"Seed {first.seed}, cotangent of shape {first.cotangent_shape} drawn as "
            f"jax.random.normal(jax.random.PRNGKey({first.seed}), {first.cotangent_shape}):",
            "  input        shape       rel. error   worst element: expected vs got",
            *(_line(r) for r in first.inputs),
            "",
            f"Wrong: the gradient of {', '.join(wrong)}.",
        ]
    )


def _passed(seeds: Sequence[VjpSeedReport], dtype: str, tol: float, oracle: str) -> str:
    worst = max((r for s in seeds for r in s.inputs), key=lambda r: r.relative_error)
    return (
        f"check_vjp: the backward agrees in {len(seeds)} of {len(seeds)} seeds; {dtype}, "
        f"tolerance {tol:g} relative, against {_truth(oracle)}; the largest error is "
        f"{worst.relative_error:.3g} ({worst.name})."
    )


def _cotangent(seed: int, out: Any, dtype: str) -> tuple[Any, np.ndarray]:
    """(the cotangent as backward receives it, the same in float64 NumPy)."""
    shape = np.shape(out)
    with jax.enable_x64(True):
        drawn = np.asarray(jax.random.normal(jax.random.PRNGKey(seed), shape, jnp.float64))
    given = drawn.astype(dtype)
    if isinstance(out, jax.Array):
        return jnp.asarray(given), given.astype(np.float64)
    return given, given.astype(np.float64)


def compare_vjp(
    forward: Callable[..., Any],
    backward: Callable[..., Any],
    inputs: Any,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    dtype: DTypeLike = "float64",
    oracle: str = "auto",
) -> VjpReport:
    """Compares a hand-written backward with the vector-Jacobian product of its forward.

    The same check as :func:`check_vjp`, with the same arguments, returning
    a :class:`VjpReport` instead of raising.

    Args:
      forward, backward, inputs, seeds, dtype, oracle: as for :func:`check_vjp`.

    Returns:
      The report; ``report.passed`` says whether the backward is right.

    Raises:
      ValueError: bad arguments (see :func:`check_vjp`).
      reference.CandidateError: an AssertionError raised inside forward or
        backward, chained from it.
      Exception: whatever else forward or backward raised, with a note.
    """
    __tracebackhide__ = True
    for name, function in (("forward", forward), ("backward", backward)):
        if not callable(function):
            raise TypeError(f"{WHERE}: {name} must be callable, got {function!r}")
    if not isinstance(oracle, str) or oracle not in ORACLES:
        raise ValueError(
            f"{WHERE}: oracle must be one of {', '.join(map(repr, ORACLES))}, got {oracle!r}"
        )
    dtype_name = checked_dtype_name(dtype, WHERE)
    checked = _inputs(inputs, dtype_name)
    seed_list = seed_tuple(seeds, WHERE)
    options = f"seeds={seed_list}, dtype={dtype_name!r}, oracle={oracle!r}"
    used = oracle
    reports = []
    for seed in seed_list:
        args, kwargs = checked.arguments(checked.values)
        out = call(
            forward, _note("forward(*inputs)", seed, checked, None, options), *args, **kwargs
        )
        given, cotangent = _cotangent(seed, out, dtype_name)
        if used == "auto":
            used = "autodiff" if _traces(forward, checked, cotangent) else "finite_differences"
        forward_note = _note("forward(*inputs)", seed, checked, None, options)
        if used == "autodiff":
            expected = call(_autodiff, forward_note, forward, checked, cotangent)
        else:
            expected = _finite_differences(forward, checked, cotangent, forward_note)
        call(forward, forward_note, *args, **kwargs)  # the state backward reads, if any
        back_note = _note("backward(cotangent, *inputs)", seed, checked, given, options)
        result = call(backward, back_note, given, *args, **kwargs)
        tol = tolerance(dtype_name)
        if used == "finite_differences":
            tol = max(tol, FINITE_DIFFERENCE_TOLERANCE)
        try:
            got = _gradients(result, checked, dtype_name)
        except _BadResultError as error:
            problem = str(error)
            return VjpReport(
                passed=False,
                tolerance=tol,
                dtype=dtype_name,
                oracle=used,
                errors={},
                seeds=tuple(reports),
                message=f"check_vjp: {problem} (seed {seed}).",
                problem=problem,
            )
        inputs_report = _input_reports(got, expected, checked, tol)
        reports.append(
            VjpSeedReport(seed, all(r.ok for r in inputs_report), np.shape(out), inputs_report)
        )
    errors = {
        name: max(r.relative_error for s in reports for r in s.inputs if r.name == name)
        for name in (checked.names[i] for i in checked.differentiated)
    }
    passed = all(s.passed for s in reports)
    message = (
        _passed(reports, dtype_name, tol, used)
        if passed
        else _failure(reports, len(seed_list), dtype_name, tol, used)
    )
    return VjpReport(passed, tol, dtype_name, used, errors, tuple(reports), message)


def check_vjp(
    forward: Callable[..., Any],
    backward: Callable[..., Any],
    inputs: tuple[ArrayLike, ...] | Mapping[str, ArrayLike] | ArrayLike,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    dtype: DTypeLike = "float64",
    oracle: str = "auto",
) -> None:
    """Checks a hand-written backward (vector-Jacobian product) of any function.

    Args:
      forward: ``forward(*inputs) -> array`` (``forward(**inputs)`` for a dict).
      backward: ``backward(cotangent, *inputs)`` (``backward(cotangent,
        **inputs)``) -> the gradient of <cotangent, forward(inputs)> with
        respect to each input: a tuple in the inputs' order, a dict with the
        inputs' keys, or for one input a bare array. An integer input's entry
        is not checked (None is fine).
      inputs: a tuple of arrays, a dict name -> array (the names appear in
        messages), or one array. NumPy arrays reach forward and backward as
        NumPy, JAX arrays as JAX, floating ones cast to ``dtype``.
      seeds: one random cotangent per seed.
      dtype: "float64" (tolerance 1e-10) or "float32" (1e-5), relative; with
        finite differences the tolerance is at least 1e-6.
      oracle: "autodiff" (jax.vjp of forward), "finite_differences" (float64
        central differences of forward, which works for NumPy code) or
        "auto" (autodiff when forward traces under JAX).

    Raises:
      AssertionError: a gradient is wrong or malformed; the message names the
        input, the worst element, expected vs got, the seed.
      ValueError: bad arguments (no floating input, an unknown oracle or dtype).
      reference.CandidateError: an AssertionError raised inside forward or
        backward, so that a crash never reads as a verdict.
    """
    __tracebackhide__ = True
    report = compare_vjp(forward, backward, inputs, seeds=seeds, dtype=dtype, oracle=oracle)
    if not report.passed:
        raise AssertionError(report.message)
