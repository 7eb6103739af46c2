"""Checks someone else's backpropagation against jax.grad, and says what is wrong.

:func:`check_backprop` draws seeded random networks and batches
(:func:`reference.draw_case`), calls the candidate gradient function on each,
and compares every W_l and b_l with :func:`reference.grad` (with
``mode="directional"``, each leaf with float64 difference quotients along
random directions, :func:`reference.directional_check`, for a network of any
size). It returns None when all agree, and otherwise raises an
``AssertionError`` whose message localizes the mistake and reads a
diagnosis off the structure of the equations. :func:`compare_backprop` runs
the same check and returns a :class:`BackpropReport` (:mod:`.report`)
instead. Options describe the candidate's conventions: integer labels, a mean
loss, weight decay, (in, out) weights, batch-last arrays, the user's own
batch and loss.

The modules follow the check's steps: :mod:`._arguments` (validation),
:mod:`._cases` (each seed's problem, as the candidate receives it),
:mod:`._calls` (calling user code; :class:`CandidateError`),
:mod:`._results` (reading the result), :mod:`._directional` (mode
"directional": each leaf against difference quotients along random
directions), :mod:`._loss` (the candidate's own loss),
:mod:`.observations`, :mod:`.mistakes`, :mod:`.rules`,
:mod:`._message` and :mod:`.report`; :mod:`.check` ties them together and
:mod:`.cli` is the ``manualgrad check`` command.

The diagnosis is a table of rules (:data:`RULES`, :mod:`.rules`), each a
pure function of an :class:`Observation` (:mod:`.observations`): per-layer
errors, the factor by which a layer is off, whether a weight gradient is
transposed, and how closely the candidate matches each classic mistake of
:data:`MISTAKES` (:mod:`.mistakes`: backprop recomputed with that one
mistake planted, from the same forward pass).

Equations are the notes': for one sample (Proposition 3.1)

* (3.1) grad_z_L = Jac_L^T grad_yhat C(-, y)
* (3.2) grad_z_{l-1} = Jac_{l-1}^T W_l^T grad_z_l
* (3.3) grad_W_l = grad_z_l a_{l-1}^T
* (3.4) grad_b_l = grad_z_l

and for a batch, rows first (Proposition 4.1): (4.1) grad_Z_L[i] =
grad C[i] @ Jac_{i,L}, (4.2) grad_Z_{l-1}[i] = grad_Z_l[i] @ W_l @
Jac_{i,l-1}, (4.3) grad_W_l = grad_Z_l^T A_{l-1}, (4.4) grad_b_l =
grad_Z_l^T 1_N.
"""

from reference.checker._arguments import OUTPUT_ACTIVATIONS
from reference.checker._calls import CandidateError
from reference.checker.check import check_backprop, compare_backprop
from reference.checker.mistakes import MISTAKES, Mistake
from reference.checker.observations import LeafReport, LossReport, Observation
from reference.checker.report import BackpropReport, FullLeaf, OracleReport, SeedReport
from reference.checker.rules import DIRECTIONAL_RULES, RULES, Rule, diagnose
from reference.problems import draw_case, draw_targets

__all__ = [
    "DIRECTIONAL_RULES",
    "MISTAKES",
    "OUTPUT_ACTIVATIONS",
    "RULES",
    "BackpropReport",
    "CandidateError",
    "FullLeaf",
    "LeafReport",
    "LossReport",
    "Mistake",
    "Observation",
    "OracleReport",
    "Rule",
    "SeedReport",
    "check_backprop",
    "compare_backprop",
    "diagnose",
    "draw_case",
    "draw_targets",
]
