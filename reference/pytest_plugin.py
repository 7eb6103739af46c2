"""pytest plugin: the ``check_backprop`` fixture.

Registered through the ``pytest11`` entry point, so any project that installs
manualgrad can write::

    def test_my_backprop(check_backprop):
        check_backprop(my_grads, activations=("relu", "softmax"),
                       cost="cross_entropy", dims=(4, 5, 3))

The fixture is :func:`reference.check_backprop` itself, options included
(``targets=``, ``reduction=``, ``weight_layout=``, ...): a failing gradient
fails the test with an ``AssertionError``, while an ``AssertionError`` raised
inside the code under test arrives as ``reference.CandidateError``. JAX is
imported when a test first asks for the fixture, not when pytest loads the
plugin.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def check_backprop() -> Callable[..., None]:
    """:func:`reference.check_backprop`: raises AssertionError when a gradient is wrong."""
    from reference.checker import check_backprop as check

    return check
