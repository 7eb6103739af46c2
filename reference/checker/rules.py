"""The diagnosis table: rules that read an observation and say what is wrong.

Each :class:`Rule` is a pure function of an
:class:`~reference.checker.observations.Observation`, returning its finding or
None. Specific rules name a mistake (a factor, a transpose, a planted mistake
of :data:`~reference.checker.mistakes.MISTAKES` that reproduces the
candidate); the structural rules at the end only say where the mistake enters
and which equation to read, and are reported when no specific rule applies.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from reference.checker.mistakes import MISTAKES
from reference.checker.observations import Observation

__all__ = ["RULES", "Rule", "diagnose", "format_factor"]


@dataclasses.dataclass(frozen=True)
class Rule:
    """One diagnosis: a pure function of the observation, None when it does not apply.

    ``specific`` rules name a mistake; the others only say where it enters
    and are reported when no specific rule applies.
    """

    name: str
    explain: Callable[[Observation], str | None]
    specific: bool = True


def format_factor(f: float, n: int) -> str:
    if math.isclose(f, 1 / n):
        return f"1/N = 1/{n}"
    if math.isclose(f, -1 / n):
        return f"-1/N = -1/{n}"
    if math.isclose(f, n):
        return f"N = {n}"
    return f"{f:.6g}"


def _rule_sign_flipped(o: Observation) -> str | None:
    if o.common_factor() is not None and math.isclose(o.common_factor(), -1.0):
        return (
            "every W_l and b_l is the exact negative of the gradient: one sign flipped "
            "for all layers — e.g. the cost gradient written y - y_hat instead of "
            "y_hat - y, or -grad (the descent step) returned as the gradient"
        )
    return None


def _rule_mean_instead_of_sum(o: Observation) -> str | None:
    f = o.common_factor()
    if f is None or not (math.isclose(f, 1 / o.batch_size) or math.isclose(f, o.batch_size)):
        return None
    if math.isclose(f, o.batch_size):
        return (
            f"every layer is off by the factor N = {o.batch_size}: the candidate "
            "multiplies by the batch size somewhere; the loss is the SUM of the rows' "
            "losses (eqs. 4.3, 4.4)"
        )
    return (
        f"every layer is off by the factor 1/N = 1/{o.batch_size}: the candidate "
        "averages over the batch (mean vs sum). The loss here is the SUM over rows, "
        "the notes' extended cost, so grad_W_l = grad_Z_l^T A_{l-1} and grad_b_l = "
        "grad_Z_l^T 1_N (eqs. 4.3, 4.4) carry no 1/N"
    )


def _rule_mse_half(o: Observation) -> str | None:
    f = o.common_factor()
    if o.cost != "mse" or f is None:
        return None
    if math.isclose(f, 2.0):
        return (
            "every layer is off by the factor 2: here MSE is 1/2 ||y_hat - y||^2, "
            "whose gradient is y_hat - y; the candidate differentiates ||y_hat - y||^2 "
            "(gradient 2 (y_hat - y)) — the 1/2 convention"
        )
    if math.isclose(f, 0.5):
        return (
            "every layer is off by the factor 1/2: here MSE is 1/2 ||y_hat - y||^2 "
            "with gradient y_hat - y; the candidate halves it once more — the 1/2 "
            "convention"
        )
    return None


def _rule_common_factor(o: Observation) -> str | None:
    f = o.common_factor()
    if f is None or any(
        r(o) for r in (_rule_sign_flipped, _rule_mean_instead_of_sum, _rule_mse_half)
    ):
        return None
    return (
        f"every layer is off by the same factor {format_factor(f, o.batch_size)}: a "
        "constant scale, e.g. in the cost gradient of eq. 3.1 / 4.1, multiplies "
        "everything below it"
    )


def _rule_bias_only(o: Observation) -> str | None:
    wrong = o.wrong
    if not wrong or any(r.kind != "b" for r in wrong):
        return None
    factors = {r.factor for r in wrong}
    if len(factors) == 1 and (f := factors.pop()) is not None and math.isclose(f, 1 / o.batch_size):
        return (
            f"only the bias gradients are wrong, by the factor 1/N = 1/{o.batch_size}: "
            "they average grad_Z_l over the rows; eq. 4.4 sums them, grad_b_l = "
            "grad_Z_l^T 1_N"
        )
    return (
        "only the bias gradients are wrong while every W_l is right, so grad_z_l is "
        "right: the mistake is in eq. 3.4 / 4.4, grad_b_l = grad_z_l (for a batch, "
        "the column sums of grad_Z_l)"
    )


def _rule_transposed(o: Observation) -> str | None:
    names = [r.name for r in o.leaves if r.transposed]
    if not names:
        return None
    l = names[0].split("_")[1]
    return (
        f"{', '.join(names)} came back transposed: grad_W_l = grad_z_l a_{{l-1}}^T "
        f"(eq. 3.3; for a batch grad_Z_l^T A_{{l-1}}, eq. 4.3) has W_l's shape "
        f"(n_l, m_{{l-1}}); a square W_{l} hides it from the shapes"
    )


def _mistake_rule(name: str) -> Callable[[Observation], str | None]:
    def explain(o: Observation) -> str | None:
        if not o.matches(name):
            return None
        l = o.entry_layer or o.num_layers
        return MISTAKES[name].explanation.format(
            l=l,
            L=o.num_layers,
            sigma_l=o.activations[l - 1],
            sigma_L=o.activations[-1],
            nonpointwise=", ".join(dict.fromkeys(o.nonpointwise)) or "none",
        )

    return explain


def _rule_weight_wrong_bias_right(o: Observation) -> str | None:
    l = o.entry_layer
    if l is None or o.leaf(f"W_{l}").ok or not o.leaf(f"b_{l}").ok:
        return None
    a_prev = "the input X (a_0 = x)" if l == 1 else f"a_{l - 1} = sigma_{l - 1}(z_{l - 1})"
    return (
        f"b_{l} is right, so grad_z_{l} is right, but W_{l} is wrong: the mistake is in "
        f"eq. 3.3 / 4.3, grad_W_{l} = grad_z_{l} a_{l - 1}^T — the vector it multiplies "
        f"should be {a_prev} (not z_{l - 1}, nor another layer's activations), and the "
        f"product must have W_{l}'s orientation"
    )


def _rule_output_layer(o: Observation) -> str | None:
    L = o.num_layers
    if o.entry_layer != L or o.leaf(f"b_{L}").ok:
        return None
    return (
        f"the output layer L = {L} is already wrong: eq. 3.1 / 4.1, grad_z_L = "
        f"Jac_L^T grad_yhat C(-, y) — check the gradient of the cost ({o.cost}) and the "
        f"Jacobian of sigma_L = {o.activations[-1]}"
    )


def _rule_recursion(o: Observation) -> str | None:
    l = o.entry_layer
    if l is None or l == o.num_layers or o.leaf(f"b_{l}").ok:
        return None
    return (
        f"layers {l + 1}..{o.num_layers} are right and layer {l} is wrong: the mistake "
        f"enters in the recursion eq. 3.2 / 4.2 from layer {l + 1} to layer {l}, "
        f"grad_z_{l} = Jac_{l}^T W_{l + 1}^T grad_z_{l + 1} — check the Jacobian of "
        f"sigma_{l} = {o.activations[l - 1]} (its derivative, evaluated at z_{l}), the "
        f"W_{l + 1}^T, and the layer indices"
    )


#: The diagnosis table, in the order its findings are reported.
RULES: tuple[Rule, ...] = (
    Rule("sign_flipped", _rule_sign_flipped),
    Rule("mean_instead_of_sum", _rule_mean_instead_of_sum),
    Rule("mse_half_convention", _rule_mse_half),
    Rule("common_factor", _rule_common_factor),
    Rule("bias_only", _rule_bias_only),
    Rule("transposed_weight_gradient", _rule_transposed),
    *(Rule(name, _mistake_rule(name)) for name in MISTAKES),
    Rule("weight_wrong_bias_right", _rule_weight_wrong_bias_right, specific=False),
    Rule("output_layer", _rule_output_layer, specific=False),
    Rule("recursion", _rule_recursion, specific=False),
)


def diagnose(observation: Observation) -> list[tuple[str, str]]:
    """The (rule name, finding) of every rule that applies.

    Specific rules (a named mistake) are reported when any applies; otherwise
    the structural rules, which say where the mistake enters.
    """
    found = [(r, r.explain(observation)) for r in RULES]
    found = [(r, text) for r, text in found if text is not None]
    specific = [(r.name, text) for r, text in found if r.specific]
    return specific or [(r.name, text) for r, text in found]
