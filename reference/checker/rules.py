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
from collections.abc import Callable, Collection

from reference.checker.mistakes import MISTAKES
from reference.checker.observations import Observation

__all__ = ["DIRECTIONAL_RULES", "RULES", "Rule", "diagnose", "format_factor"]


@dataclasses.dataclass(frozen=True)
class Rule:
    """One diagnosis: a pure function of the observation, None when it does not apply.

    Attributes:
      name: the rule's name, quoted in the message as ``(rule: name)``.
      explain: observation -> the finding, or None.
      specific: whether the rule names a mistake; the others only say where
        it enters and are reported when no specific rule applies.
      independent: whether the rule reads something beside the gradient (the
        candidate's own loss), so that it is reported whatever else applies.
    """

    name: str
    explain: Callable[[Observation], str | None]
    specific: bool = True
    independent: bool = False


def format_factor(f: float, n: int) -> str:
    """A factor as the message writes it: 1/N, -1/N and N by name, else 6 digits."""
    if math.isclose(f, 1 / n):
        return f"1/N = 1/{n}"
    if math.isclose(f, -1 / n):
        return f"-1/N = -1/{n}"
    if math.isclose(f, n):
        return f"N = {n}"
    return f"{f:.6g}"


#: Each weight layout's shape of W_l and what it means.
_LAYOUTS = {
    "out_in": "(n_l, m_{l-1}), the notes' layout (Z = X W^T)",
    "in_out": "(m_{l-1}, n_l), the X @ W layout",
}


def _other_layout(layout: str) -> str:
    return "in_out" if layout == "out_in" else "out_in"


def _rule_stateful(o: Observation) -> str | None:
    if not o.stateful:
        return None
    return (
        "the candidate answered differently when called again on the same inputs: it "
        "keeps state between calls — e.g. gradients accumulated (+=) into buffers that "
        "are never reset, or a forward pass cached from an earlier call — which is right "
        "on the first call and wrong on the later ones; reset that state at the start "
        "of each call (zero the gradients before each backward pass)"
    )


def _rule_swapped_pair(o: Observation) -> str | None:
    if not o.swapped:
        return None
    layers = ", ".join(str(l) for l in o.swapped)
    where = f"layers {layers}" if len(o.swapped) > 1 else f"layer {layers}"
    return (
        f"the candidate returned (b_l, W_l) where (W_l, b_l) belongs, at {where}: a "
        "gradient is manualgrad.Params(W, b) or a list of (W_l, b_l) pairs, "
        "weights first, so code that returns (nabla_b, nabla_w) must swap them (the "
        "values are compared put back in place)"
    )


def _rule_sign_flipped(o: Observation) -> str | None:
    if o.common_factor() is not None and math.isclose(o.common_factor(), -1.0):
        return (
            "every W_l and b_l is the exact negative of the gradient: one sign flipped "
            "for all layers — e.g. the cost gradient written y - y_hat instead of "
            "y_hat - y, or -grad (the descent step) returned as the gradient"
        )
    return None


def _mean_factor(o: Observation) -> float | None:
    """N or 1/N when every layer is off by it."""
    f = o.common_factor()
    N = o.batch_size
    if f is not None and (math.isclose(f, 1 / N) or math.isclose(f, N)):
        return f
    return None


def _rule_mean_instead_of_sum(o: Observation) -> str | None:
    f, N = _mean_factor(o), o.batch_size
    if f is None and not o.matches_variant("reduction"):
        return None
    off = "" if f is None else f"every layer is off by the factor {format_factor(f, N)}: "
    if o.reduction == "mean":
        if f is not None and math.isclose(f, 1 / N):
            return (
                f"{off}the candidate divides by N twice. The loss here is the MEAN over "
                "rows (reduction='mean'), (1/N) sum_i C, whose gradient carries one 1/N"
            )
        return (
            f"{off}the gradient is the one of the SUM over rows: the candidate does not "
            f"divide by N = {N}. The loss here is the MEAN over rows (reduction='mean'), "
            "(1/N) sum_i C, so every gradient carries 1/N; if the code's loss is the sum, "
            "drop reduction='mean'"
        )
    if f is not None and math.isclose(f, N):
        return (
            f"{off}the candidate multiplies by the batch size somewhere; the loss is the "
            "SUM of the rows' losses (eqs. 4.3, 4.4)"
        )
    return (
        (off or f"the gradient is the one of the MEAN over rows, 1/N = 1/{N} of the sum: ")
        + "the candidate averages over the batch (mean vs sum). The loss here is the SUM "
        "over rows, the notes' extended cost, so grad_W_l = grad_Z_l^T A_{l-1} and "
        "grad_b_l = grad_Z_l^T 1_N (eqs. 4.3, 4.4) carry no 1/N; if the code's loss is "
        "the mean, declare reduction='mean'"
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


def _decay_ratio(implied: float, declared: float, batch_size: int) -> str:
    """What a decay lam' = ratio x lam says about how the term was written."""
    ratio = implied / declared
    if math.isclose(ratio, 2.0):
        return (
            ": twice the declared, the term written lam * sum(W * W) without the 1/2 "
            "(such a loss is weight_decay = 2 * reg)"
        )
    if math.isclose(ratio, 0.5):
        return ": half the declared, the 1/2 of (lam / 2) ||W_l||^2 applied twice"
    if math.isclose(ratio, 1 / batch_size):
        return f": the declared divided by N = {batch_size}, the decay averaged over the batch"
    return ""


def _rule_weight_decay(o: Observation) -> str | None:
    c, lam = o.weight_offset, o.weight_decay
    if c is None:
        return None
    off = f"every W_l is off by exactly {c:.6g} W_l while every b_l is right"
    if lam == 0 and c > 0:
        return (
            f"{off}: the candidate's loss has an L2 term (lam / 2) sum_l ||W_l||_F^2 with "
            f"lam = {c:.6g}; declare weight_decay={c:.6g} (a loss with reg * sum(W * W) "
            "is weight_decay = 2 * reg; biases are not decayed)"
        )
    if lam > 0 and math.isclose(c, -lam, rel_tol=1e-6):
        return (
            f"every W_l lacks the weight-decay term {lam:g} W_l while every b_l is right: "
            f"weight_decay={lam:g} adds (lam / 2) sum_l ||W_l||_F^2 to the loss, whose "
            "gradient is lam W_l, and the candidate's gradient has no such term"
        )
    implied = lam + c
    if implied <= 0:
        return f"{off}: a weight-decay term of the wrong sign ({implied:.6g} W_l)"
    return (
        f"{off}: the candidate's weight decay is lam = {implied:.6g}, not the declared "
        f"weight_decay={lam:g}" + _decay_ratio(implied, lam, o.batch_size)
    )


def _rule_labels(o: Observation) -> str | None:
    if not o.matches_variant("labels"):
        return None
    if o.cost == "cross_entropy":
        return (
            "the gradient is the one of one-hot targets, the argmax of each row of Y: "
            "the candidate reads class labels off the probability rows it was given "
            "(targets='probabilities'). For code written for integer class labels, pass "
            "targets='labels': Y then arrives as class indices of shape (N,)"
        )
    return (
        "the gradient is the one of the 0/1 targets Y >= 1/2: the candidate rounds the "
        "targets it was given (targets='probabilities'). For code written for 0/1 "
        "labels, pass targets='labels'"
    )


def _rule_bias_only(o: Observation) -> str | None:
    wrong = o.wrong
    if not wrong or any(r.kind != "b" for r in wrong) or o.not_compared:
        return None
    factors = {r.factor for r in wrong}
    f = factors.pop() if len(factors) == 1 else None
    N = o.batch_size
    if f is not None and math.isclose(f, 1 / N) and o.reduction == "sum":
        return (
            f"only the bias gradients are wrong, by the factor 1/N = 1/{N}: they average "
            "grad_Z_l over the rows; eq. 4.4 sums them, grad_b_l = grad_Z_l^T 1_N"
        )
    if f is not None and math.isclose(f, N) and o.reduction == "mean":
        return (
            f"only the bias gradients are wrong, by the factor N = {N}: they sum "
            "grad_Z_l over the rows without the 1/N that reduction='mean' puts on every "
            "gradient, grad_b_l = (1/N) grad_Z_l^T 1_N here"
        )
    return (
        "only the bias gradients are wrong while every W_l is right, so grad_z_l is "
        "right: the mistake is in eq. 3.4 / 4.4, grad_b_l = grad_z_l (for a batch, "
        "the column sums of grad_Z_l)"
    )


def _all_weights_transposed(o: Observation) -> bool:
    return all(r.transposed for r in o.leaves if r.kind == "W")


def _rule_weight_layout(o: Observation) -> str | None:
    declared = o.weight_layout
    other = _other_layout(declared)
    advice = (
        "if the code stores W_l as (in, out), pass weight_layout='in_out'"
        if declared == "out_in"
        else "transpose each grad_W_l back (or, if the code stores W_l as (out, in), "
        "drop weight_layout='in_out')"
    )
    if o.matches_variant("forward_layout"):
        return (
            "the gradient is backprop of the network with every W_l read in the other "
            f"layout: the candidate's forward pass takes W_l as {_LAYOUTS[other]}, while "
            f"weight_layout={declared!r} hands it over as {_LAYOUTS[declared]}; square "
            f"layers hide this from the shapes. If the code works in {other}, pass "
            f"weight_layout={other!r}"
        )
    if not _all_weights_transposed(o):
        return None
    return (
        f"every W_l came back transposed, in the other layout {_LAYOUTS[other]}, where "
        f"weight_layout={declared!r} expects {_LAYOUTS[declared]}: {advice}"
    )


def _rule_transposed(o: Observation) -> str | None:
    names = [r.name for r in o.leaves if r.transposed]
    if not names or _all_weights_transposed(o):
        return None
    square = [r.name for r in o.leaves if r.transposed and not r.returned]
    shape = "(n_l, m_{l-1})" if o.weight_layout == "out_in" else _LAYOUTS["in_out"]
    hidden = ""
    if square:
        hidden = f"; a square W_{square[0].split('_')[1]} hides it from the shapes"
    return (
        f"{', '.join(names)} came back transposed: grad_W_l = grad_z_l a_{{l-1}}^T "
        f"(eq. 3.3; for a batch grad_Z_l^T A_{{l-1}}, eq. 4.3) has W_l's shape {shape}" + hidden
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
            variant=o.mistake_variants.get(name, "somewhere"),
        )

    return explain


def _rule_loss_value(o: Observation) -> str | None:
    loss = o.loss
    if loss is None or loss.value_ok:
        return None
    text = (
        f"the candidate's own loss (loss=) is {loss.got:.6g} where the declared cost "
        f"{o.cost} on the declared network gives {loss.expected:.6g}: the code computes "
        "another loss than the one declared"
    )
    if loss.matches:
        text += f"; its value is that of {', '.join(loss.matches)}"
    else:
        text += (
            "; none of our costs gives its value on the declared network, nor the "
            "network with one activation changed: compare the network the code computes "
            "(its layers, activations, output) with dims and activations"
        )
    if loss.gradient_ok:
        text += "; the gradient is that of the code's own loss (central differences agree)"
    return text


def _rule_loss_gradient(o: Observation) -> str | None:
    loss = o.loss
    if loss is None or loss.gradient_ok:
        return None
    worst = max(loss.gradient_errors, key=loss.gradient_errors.__getitem__)
    measured = (
        f"against float64 central differences of it, {worst} is off by "
        f"{loss.gradient_errors[worst]:.3g} relative (tolerance {loss.gradient_tolerance:g})"
    )
    if o.wrong:
        return (
            f"the candidate's gradient is not the gradient of its own loss (loss=) "
            f"either: {measured}; the backprop and the loss it differentiates disagree"
        )
    return (
        "the candidate's gradient is the declared cost's but not the gradient of its own "
        f"loss (loss=): {measured}. Two mistakes cancel: the loss is not the declared "
        "one, and the backprop differentiates the declared one"
    )


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
    Rule("stateful", _rule_stateful),
    Rule("swapped_pair", _rule_swapped_pair),
    Rule("sign_flipped", _rule_sign_flipped),
    Rule("mean_instead_of_sum", _rule_mean_instead_of_sum),
    Rule("mse_half_convention", _rule_mse_half),
    Rule("common_factor", _rule_common_factor),
    Rule("weight_decay", _rule_weight_decay),
    Rule("labels", _rule_labels),
    Rule("bias_only", _rule_bias_only),
    Rule("weight_layout", _rule_weight_layout),
    Rule("transposed_weight_gradient", _rule_transposed),
    *(Rule(name, _mistake_rule(name)) for name in MISTAKES),
    Rule("loss_value", _rule_loss_value, independent=True),
    Rule("loss_gradient", _rule_loss_gradient, independent=True),
    Rule("weight_wrong_bias_right", _rule_weight_wrong_bias_right, specific=False),
    Rule("output_layer", _rule_output_layer, specific=False),
    Rule("recursion", _rule_recursion, specific=False),
)


#: The rules that a directional check (``check_backprop(mode="directional")``)
#: can feed: they read which leaves are right, how the result came back
#: (swapped, transposed), a factor of a failing leaf compared entry by entry,
#: and the candidate's own loss. The others compare the whole gradient with
#: planted mistakes and other conventions, which needs every entry of the
#: expected gradient.
DIRECTIONAL_RULES: tuple[str, ...] = (
    "stateful",
    "swapped_pair",
    "bias_only",
    "weight_layout",
    "transposed_weight_gradient",
    "loss_value",
    "loss_gradient",
    "weight_wrong_bias_right",
    "output_layer",
    "recursion",
)


def diagnose(
    observation: Observation, *, rules: Collection[str] | None = None
) -> list[tuple[str, str]]:
    """The (rule name, finding) of every rule that applies.

    Specific rules (a named mistake) are reported when any applies; otherwise
    the structural rules, which say where the mistake enters. Independent
    rules (the candidate's own loss) are reported in either case.

    Args:
      observation: what the check saw of one failing seed.
      rules: the names of the rules to apply (e.g. :data:`DIRECTIONAL_RULES`);
        None for all of :data:`RULES`.
    """
    table = RULES if rules is None else tuple(r for r in RULES if r.name in rules)
    found = [(r, r.explain(observation)) for r in table]
    found = [(r, text) for r, text in found if text is not None]
    specific = [(r.name, text) for r, text in found if r.specific and not r.independent]
    structural = [(r.name, text) for r, text in found if not r.specific and not r.independent]
    independent = [(r.name, text) for r, text in found if r.independent]
    return (specific or structural) + independent
