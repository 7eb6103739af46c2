"""Calling the user's code: an exception it raises carries what it was given.

An exception raised by the candidate (or its loss, or a layer's forward and
backward) is re-raised with a note: the seed, the shapes and dtypes of its
arguments, and every option of the check. An ``AssertionError`` raised
inside it is re-raised as :class:`CandidateError`, chained from it, so a
crash never reads as the checker's verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["CandidateError", "call", "describe_value"]


class CandidateError(RuntimeError):
    """An ``AssertionError`` raised inside the code under check, not a verdict on it.

    ``pytest.raises(AssertionError)`` catches the checker's verdicts only; the
    original ``AssertionError`` is the ``__cause__``.
    """


def _shape(value: Any) -> str:
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is None:
        return type(value).__name__
    return f"{tuple(int(n) for n in shape)} {np.dtype(dtype).name if dtype is not None else ''}"


def describe_value(value: Any) -> str:
    """Shapes and dtypes of an argument: an array, Params, or a sequence of arrays."""
    fields = getattr(value, "_fields", None)
    if fields is not None:
        return ", ".join(f"{f} = [{describe_value(getattr(value, f))}]" for f in fields)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {describe_value(v)}" for k, v in value.items())
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return ", ".join(describe_value(v) for v in value)
    return _shape(value).strip()


def call(
    function: Callable[..., Any], note: Callable[[], str], /, *args: Any, **kwargs: Any
) -> Any:
    """``function(*args, **kwargs)``; an exception from it is re-raised with ``note()``.

    Raises:
      CandidateError: ``function`` raised an AssertionError (chained from it).
      Exception: whatever else ``function`` raised, with the note added.
    """
    __tracebackhide__ = True
    try:
        return function(*args, **kwargs)
    except AssertionError as error:
        raise CandidateError(f"AssertionError: {error}\n{note()}") from error
    except Exception as error:
        error.add_note(note())
        raise
