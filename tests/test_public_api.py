"""What ``help()`` shows of the public functions is complete and true.

Every public function documents each of its parameters (keyword-only options
included) in a Google-style Args section, takes its options after ``*``,
and the algorithms carry their typed description (number, batch, title).
"""

from __future__ import annotations

import inspect
import re

import pytest

import manualgrad
import reference

PUBLIC_FUNCTIONS = sorted(
    {
        f"{module.__name__}.{name}": getattr(module, name)
        for module in (manualgrad, reference)
        for name in module.__all__
        if inspect.isfunction(getattr(module, name)) or hasattr(getattr(module, name), "number")
    }.items()
)


def _documented_args(doc: str) -> set[str]:
    """The names in the Args section of a Google-style docstring."""
    match = re.search(r"^([ \t]*)Args:\n(.*?)(\n[ \t]*\n|\Z)", doc, re.S | re.M)
    if match is None:
        return set()
    indent = len(match.group(1)) + 2
    # An entry names one parameter, or several that share a description: "x, y: ...".
    entry = rf"^ {{{indent}}}(\w+(?:, \w+)*)(?: \(.*?\))?:"
    return {name for names in re.findall(entry, match.group(2), re.M) for name in names.split(", ")}


@pytest.mark.parametrize("name, function", PUBLIC_FUNCTIONS, ids=[n for n, _ in PUBLIC_FUNCTIONS])
def test_every_parameter_of_a_public_function_is_documented(name, function):
    doc = inspect.getdoc(function) or ""
    assert doc, f"{name} has no docstring"
    parameters = [
        p.name
        for p in inspect.signature(function).parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    missing = [p for p in parameters if p not in _documented_args(doc)]
    assert not missing, f"{name}: Args does not document {missing}"


@pytest.mark.parametrize("number", sorted(manualgrad.ALGORITHMS))
def test_algorithms_show_their_keyword_options_and_the_contract_names(number):
    algorithm = manualgrad.ALGORITHMS[number]
    parameters = inspect.signature(algorithm).parameters
    assert list(parameters)[:5] == ["theta", "x", "y", "activations", "cost"]
    keyword_only = [n for n, p in parameters.items() if p.kind is p.KEYWORD_ONLY]
    assert keyword_only == ["return_sensitivities", "jacobian_mode", "max_dense_bytes"]
    assert (algorithm.number, algorithm.batch, algorithm.title) == (
        number,
        number in (2, 5),
        f"Algorithm {number}",
    )
    batch_words = "the batch X" in inspect.getdoc(algorithm)
    assert batch_words == algorithm.batch


def test_the_algorithms_reject_an_unknown_option_by_name():
    theta = manualgrad.init_params(__import__("jax").random.PRNGKey(0), (2, 3))
    with pytest.raises(TypeError, match=r"backprop_batch \(Algorithm 2\).*'jacobian'"):
        manualgrad.backprop_batch(
            theta, [[1.0, 2.0]], [[0.0, 1.0, 0.0]], ("identity",), "mse", jacobian="dense"
        )


def test_the_args_parser_sees_what_it_should():
    """The check above can fail: a missing parameter is found."""
    doc = (
        "Summary.\n\nArgs:\n  a: one.\n    c: a continuation, not an entry.\n"
        "  b (int): two.\n  d, e: shared.\n\nReturns:\n  x.\n"
    )
    assert _documented_args(doc) == {"a", "b", "d", "e"}
