"""The report as text: the network, the oracle, the leaves, where it goes wrong, the diagnosis."""

from __future__ import annotations

import math
from collections.abc import Sequence

from reference.checker._arguments import LABEL_TARGETS, Spec
from reference.checker.observations import LeafReport, Observation
from reference.checker.report import OracleReport
from reference.checker.rules import format_factor
from reference.directional import AUTO_DIRECTIONAL_ABOVE, AUTO_FULL_LEAF_AT_MOST

__all__ = [
    "failure_message",
    "malformed_message",
    "network_line",
    "oracle_line",
    "passed_message",
    "reproduction",
]


def _conventions(spec: Spec) -> list[str]:
    parts = []
    if spec.targets == "labels":
        parts.append(f"Y as {LABEL_TARGETS[spec.cost.name]} (targets='labels')")
    if spec.weight_layout == "in_out":
        parts.append("each W_l as (m_{l-1}, n_l) (weight_layout='in_out')")
    if spec.batch_layout == "columns":
        y = "" if spec.class_labels else " and Y as (m_L, N)"
        parts.append(f"X as (n_0, N){y} (batch_layout='columns')")
    return parts


def network_line(spec: Spec) -> str:
    """The network, the batch and the loss, in one sentence (two with conventions)."""
    if spec.data is None:
        rows = "rows" if spec.batch_layout == "rows" else "samples"
        batch = f"a batch of N = {spec.rows} {rows}"
    else:
        batch = f"your batch (data=) of N = {spec.rows} samples"
    loss = f"the loss is the {spec.reduction.upper()} of the rows' losses"
    if spec.weight_decay:
        loss += f" plus ({spec.weight_decay:g} / 2) sum_l ||W_l||_F^2"
    line = (
        f"Network: dims {spec.dims}, activations {spec.describe_activations()}, cost "
        f"{spec.cost.name!r}, {batch}; {loss}."
    )
    conventions = _conventions(spec)
    if conventions:
        line += f" The candidate receives {'; '.join(conventions)}."
    return line


def _draw_call(seed: int, spec: Spec, batch_size: int) -> str:
    return (
        f"reference.draw_case({seed}, activations={spec.describe_activations()}, "
        f"cost={spec.cost.name!r}, dims={spec.dims}, batch_size={batch_size}, "
        f"dtype={spec.dtype!r})"
    )


def _drawn_batch(seed: int, spec: Spec) -> list[str]:
    acts = spec.describe_activations()
    lines = [
        f"theta, X, Y = {_draw_call(seed, spec, spec.batch_size)}",
        f"# that is: key_theta, key_x, key_y = jax.random.split(jax.random.PRNGKey({seed}), 3)",
        f"#          theta = manualgrad.init_params(key_theta, {spec.dims}, {acts}, "
        f"dtype={spec.dtype!r})",
    ]
    if spec.class_labels:
        lines += [
            "Y_c = jnp.argmax(Y, axis=1).astype(jnp.int32)  # targets='labels': class indices",
            f"Y = jax.nn.one_hot(Y_c, {spec.out_width}, dtype=X.dtype)  # the reference's rows",
        ]
    elif spec.targets == "labels":
        lines.append("Y = (Y >= 0.5).astype(Y.dtype)  # targets='labels': 0/1 targets")
    return lines


def _own_batch(seed: int, spec: Spec) -> list[str]:
    columns = ".T" if spec.batch_layout == "columns" else ""
    lines = [
        f"theta, _, _ = {_draw_call(seed, spec, spec.rows)}  # theta; the batch is yours",
        "X_c, Y_c = data  # as passed in data=",
        f"X = jnp.asarray(X_c, {spec.dtype!r}){columns}",
    ]
    if spec.class_labels:
        lines.append(f"Y = jax.nn.one_hot(jnp.asarray(Y_c), {spec.out_width}, dtype=X.dtype)")
    else:
        lines.append(f"Y = jnp.asarray(Y_c, {spec.dtype!r}){columns}")
    return lines


def reproduction(seed: int, spec: Spec) -> list[str]:
    """Code that rebuilds the inputs of ``seed`` and the expected gradient, line by line."""
    acts = spec.describe_activations()
    needs_jnp = spec.data is not None or spec.class_labels
    lines = ["import jax, manualgrad, reference"]
    if needs_jnp:
        lines.append("import jax.numpy as jnp")
    if spec.dtype == "float64":
        lines.append('jax.config.update("jax_enable_x64", True)')
    lines += _drawn_batch(seed, spec) if spec.data is None else _own_batch(seed, spec)
    if spec.used_mode == "directional":
        lines.append(
            f"# mode={spec.mode!r} checked got directionally: reference.directional_check(g, "
            f"theta, X, Y, {acts}, {spec.cost.name!r}, seed={seed}), g = got in the notes' "
            "layout, summed over the rows, without decay; by autodiff:"
        )
    lines.append(f"expected = reference.grad(theta, X, Y, {acts}, {spec.cost.name!r})")
    if spec.reduction == "mean":
        lines.append(f"expected = jax.tree.map(lambda g: g / {spec.rows}, expected)  # the mean")
    if spec.weight_decay:
        lines.append(
            f"expected = expected._replace(W=tuple(g + {spec.weight_decay!r} * W for g, W in "
            f"zip(expected.W, theta.W)))  # weight_decay"
        )
    theta = "theta"
    if spec.weight_layout == "in_out":
        theta = "theta_c"
        lines.append(
            "theta_c = theta._replace(W=tuple(W.T for W in theta.W))  # in_out: got's W_l "
            "are (m_{l-1}, n_l)"
        )
    if spec.data is None:
        columns = spec.batch_layout == "columns"
        y_c = "Y_c" if spec.class_labels else ("Y.T" if columns else "Y")
        x_c = "X.T" if columns else "X"
        call = f"got = candidate({theta}, {x_c}, {y_c})"
    else:
        call = f"got = candidate({theta}, jnp.asarray(X_c, {spec.dtype!r}), Y_c)"
    return [*lines, call]


def _worst(r: LeafReport) -> str:
    return f"{list(r.index)}: expected {r.expected:.6g}, got {r.got:.6g}"


def _how_off(r: LeafReport, batch_size: int) -> str:
    """The factor a wrong leaf is off by, and whether it should be zero."""
    text = ""
    if r.factor is not None and r.shows_factor:
        text += f"  (got = {format_factor(r.factor, batch_size)} x expected)"
    if r.zero:
        text += "  (expected all zero: error relative to the gradient's scale)"
    return text


def _leaf_line(r: LeafReport, batch_size: int, tolerance: float) -> str:
    status = "ok" if r.ok else "WRONG"
    line = f"  {r.name:<6} {r.shape!s:<11} {r.error:<10.3g}  {status}"
    if r.ok:
        return line
    off = r.error > tolerance
    if r.returned:
        line += f"  came back {r.returned}; " + (
            f"put back, {_worst(r)}" if off else "right once put back"
        )
    else:
        line += f"  {_worst(r)}"
    return line + (_how_off(r, batch_size) if off else "")


def _table(observation: Observation) -> list[str]:
    lines = ["  leaf   shape       rel. error   worst element: expected vs got"]
    for r in sorted(observation.leaves, key=lambda r: (-r.layer, r.kind)):
        lines.append(_leaf_line(r, observation.batch_size, observation.tolerance))
    return lines


def _mode_note(spec: Spec, before: str) -> str:
    """Why mode="auto" chose the mode it did, after ``before``; "" for a mode asked for."""
    if spec.mode != "auto":
        return ""
    side = "above" if spec.used_mode == "directional" else "at most"
    return (
        f"{before}mode='auto': {spec.parameters:,} parameters, {side} "
        f"AUTO_DIRECTIONAL_ABOVE = {AUTO_DIRECTIONAL_ABOVE:,}"
    )


def oracle_line(oracles: Sequence[OracleReport], spec: Spec) -> str:
    """The one line naming what the seeds were compared with."""
    first = oracles[0]
    line = f"Oracle: {first.oracle}"
    if first.kind == "directional":
        own = max((e for o in oracles for e in o.errors.values() if e is not None), default=0.0)
        line += (
            f"; {first.directions} directions per leaf, drawn from each seed; its own error "
            f"<= {own:.1e} relative"
        )
    return line + _mode_note(spec, "; ") + "."


def _in_full_line(r: LeafReport, oracle: OracleReport, batch_size: int) -> str:
    """How a failing leaf compares entry by entry: its worst element, or why not compared."""
    line = f"  {r.name:<6} {r.shape!s:<11}"
    if r.name in oracle.too_large:
        entries = math.prod(r.shape)
        return (
            f"{line} not compared entry by entry: {entries:,} entries, more than "
            f"AUTO_FULL_LEAF_AT_MOST = {AUTO_FULL_LEAF_AT_MOST:,}"
        )
    full = oracle.full.get(r.name)
    if full is None:  # right by the oracle, but out of place
        return f"{line} came back {r.returned}; right once put back"
    if not r.index:
        return f"{line} every entry at a kink, not compared"
    line += f" {_worst(r)}{_how_off(r, batch_size)}"
    if r.returned:
        line += f"  (came back {r.returned}; put back)"
    if full.undetermined:
        shown = ", ".join(full.undetermined[:3]) + (", ..." if len(full.undetermined) > 3 else "")
        line += f"  ({len(full.undetermined)} entries at a kink, not compared: {shown})"
    return line


def _directional_table(observation: Observation, oracle: OracleReport) -> list[str]:
    """The directional report's own lines, then the worst element of each failing leaf."""
    lines = [f"  {line}" for line in oracle.lines]
    wrong = sorted(observation.wrong, key=lambda r: (-r.layer, r.kind))
    if not wrong:
        return lines
    methods = sorted({str(f.oracle) for f in oracle.full.values()})
    by = f", a failing one entry by entry by {' and '.join(methods)} (float64)" if methods else ""
    lines.append(f"The wrong leaves from L = {observation.num_layers} down{by}:")
    return lines + [_in_full_line(r, oracle, observation.batch_size) for r in wrong]


def _right_above(entry: int, num_layers: int) -> str:
    if entry == num_layers:
        return "."
    if entry + 1 == num_layers:
        return f"; layer {num_layers} is right."
    return f"; layers {entry + 1}..{num_layers} are right."


def _unchecked(observation: Observation) -> str:
    names = ", ".join(r.name for r in observation.not_compared)
    if not names:
        return ""
    return (
        f" Not compared: {names} (a kink within reach of every step of every direction, "
        "above); another seed, or mode='full', compares them."
    )


def _where(observation: Observation, L: int) -> str:
    entry = observation.entry_layer
    if entry is None and observation.not_compared:
        return "No compared leaf is wrong." + _unchecked(observation)
    if entry is None:
        return (
            "Every W_l and b_l is the declared cost's gradient; the candidate's own loss "
            "(loss=) is what disagrees."
        )
    wrong = [r.name for r in observation.wrong]
    return (
        f"Wrong: {', '.join(wrong)}. Backprop runs from layer L = {L} down, so the mistake "
        f"enters at layer {entry}, the outermost wrong layer"
        + _right_above(entry, L)
        + _unchecked(observation)
    )


def _partial_diagnosis(spec: Spec) -> str:
    """What a directional check leaves out of the diagnosis, and how to get it."""
    if spec.parameters <= AUTO_DIRECTIONAL_ABOVE:
        how = "rerun with mode='full' for the full diagnosis"
    else:
        how = "mode='full' gives it, every entry against autodiff"
    return (
        "  (A directional check says which leaves are wrong and where the mistake enters; "
        "the rules that name a mistake, a factor of every layer or another convention "
        f"compare the whole gradient, {spec.parameters:,} entries: {how}.)"
    )


def _seeds(count: int, seeds: Sequence[int], total: int) -> str:
    return f"{count} of {total} seeds (seeds {list(seeds)})"


def _header(
    gradient_seeds: Sequence[int],
    unchecked_seeds: Sequence[int],
    loss_seeds: Sequence[int],
    spec: Spec,
) -> str:
    total = len(spec.seeds)
    parts = []
    if gradient_seeds:
        parts.append(
            "the candidate's gradient is wrong in "
            + _seeds(len(gradient_seeds), gradient_seeds, total)
        )
    if unchecked_seeds:
        parts.append(
            ("and " if parts else "")
            + "leaves of the candidate's gradient could not be compared, at a kink, in "
            + _seeds(len(unchecked_seeds), unchecked_seeds, total)
        )
    if loss_seeds:
        verb = "and its" if parts else "the candidate's"
        parts.append(
            f"{verb} own loss (loss=) disagrees in " + _seeds(len(loss_seeds), loss_seeds, total)
        )
    return (
        f"check_backprop: {' '.join(parts)}; {spec.dtype}{_checked(spec)}, tolerance "
        f"{spec.gradient_tolerance:g} relative."
    )


def _checked(spec: Spec) -> str:
    return ", checked directionally" if spec.used_mode == "directional" else ""


def _notes(bias_forms: Sequence[str], spec: Spec) -> list[str]:
    notes = []
    if bias_forms:
        notes.append(f"The biases came back as {' and '.join(bias_forms)}, read as vectors (n_l,).")
    if spec.rows == 1:
        notes.append(
            "With N = 1 the mean and the sum over rows coincide: this batch cannot tell them apart."
        )
    return notes


def _reproduce(seed: int, spec: Spec) -> list[str]:
    return ["Reproduce:", *(f"    {line}" for line in reproduction(seed, spec))]


def failure_message(
    observation: Observation,
    diagnosis: Sequence[tuple[str, str]],
    oracle: OracleReport,
    *,
    seed: int,
    gradient_seeds: Sequence[int],
    loss_seeds: Sequence[int],
    bias_forms: Sequence[str],
    spec: Spec,
    unchecked_seeds: Sequence[int] = (),
) -> str:
    """The whole message of a failed check, read off the first failing seed."""
    notes = _notes(bias_forms, spec)
    if oracle.kind == "directional":
        # The directional report's own lines name the oracle, seed by seed.
        named: list[str] = []
        auto = _mode_note(spec, "")
        heading = f"Seed {seed}, each leaf checked directionally{f' ({auto})' if auto else ''}:"
        table = _directional_table(observation, oracle)
        partial = [_partial_diagnosis(spec)]
    else:
        named = [oracle_line([oracle], spec)]
        heading = f"Seed {seed}, layers from L = {spec.num_layers} down:"
        table, partial = _table(observation), []
    lines = [
        _header(gradient_seeds, unchecked_seeds, loss_seeds, spec),
        network_line(spec),
        *named,
        "",
        heading,
        *table,
        *notes,
        "",
        _where(observation, spec.num_layers),
        "",
        "Diagnosis:",
        *(f"  - {text} (rule: {name})." for name, text in diagnosis),
        *partial,
        "",
        *_reproduce(seed, spec),
    ]
    return "\n".join(lines)


def passed_message(
    worst: LeafReport,
    worst_seed: int,
    bias_forms: Sequence[str],
    oracles: Sequence[OracleReport],
    spec: Spec,
) -> str:
    """The message of a passed check."""
    total = len(spec.seeds)
    lines = [
        f"check_backprop: the candidate's gradient agrees in {_seeds(total, spec.seeds, total)}; "
        f"{spec.dtype}{_checked(spec)}, tolerance {spec.gradient_tolerance:g} relative; the "
        f"largest error is {worst.error:.3g} ({worst.name}, seed {worst_seed}).",
        network_line(spec),
        oracle_line(oracles, spec),
    ]
    if spec.loss is not None:
        lines.append(
            "The candidate's own loss (loss=) is the declared one, and its gradient agrees "
            "with central differences of it."
        )
    return "\n".join(lines + _notes(bias_forms, spec))


def malformed_message(problem: str, seed: int, spec: Spec) -> str:
    """The message of a result that could not be read."""
    return "\n".join(
        [
            f"check_backprop: {problem} (seed {seed}).",
            network_line(spec),
            "",
            *_reproduce(seed, spec),
        ]
    )
