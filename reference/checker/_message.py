"""The failure message: the table of leaves, where the mistake enters, the diagnosis."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reference.checker._arguments import Spec
from reference.checker.observations import Observation
from reference.checker.rules import diagnose, format_factor

__all__ = ["failure_message", "reproduction"]


def _table(observation: Observation, shapes: Mapping[str, tuple[int, ...]]) -> list[str]:
    lines = ["  leaf   shape       rel. error   worst element: expected vs got"]
    for r in sorted(observation.leaves, key=lambda r: (-r.layer, r.kind)):
        status = "ok" if r.ok else "WRONG"
        line = f"  {r.name:<6} {shapes[r.name]!s:<11} {r.error:<10.3g}  {status}"
        if not r.ok:
            line += f"  {list(r.index)}: expected {r.expected:.6g}, got {r.got:.6g}"
            if r.factor is not None:
                line += f"  (got = {format_factor(r.factor, observation.batch_size)} x expected)"
        lines.append(line)
    return lines


def reproduction(seed: int, spec: Spec) -> list[str]:
    """Code that rebuilds the inputs of ``seed`` and the expected gradient."""
    acts = spec.describe_activations()
    call = (
        f"theta, X, Y = reference.draw_case({seed}, activations={acts}, "
        f"cost={spec.cost.name!r}, dims={spec.dims}, batch_size={spec.batch_size}, "
        f"dtype={spec.dtype!r})"
    )
    lines = ["import jax, manualgrad, reference"]
    if spec.dtype == "float64":
        lines.append('jax.config.update("jax_enable_x64", True)')
    return [
        *lines,
        call,
        f"# that is: key_theta, key_x, key_y = jax.random.split(jax.random.PRNGKey({seed}), 3)",
        f"#          theta = manualgrad.init_params(key_theta, {spec.dims}, {acts}, "
        f"dtype={spec.dtype!r})",
        f"expected = reference.grad(theta, X, Y, {acts}, {spec.cost.name!r})",
        "got = candidate(theta, X, Y)",
    ]


def _right_above(entry: int, num_layers: int) -> str:
    if entry == num_layers:
        return "."
    if entry + 1 == num_layers:
        return f"; layer {num_layers} is right."
    return f"; layers {entry + 1}..{num_layers} are right."


def failure_message(
    observation: Observation,
    *,
    seed: int,
    failing_seeds: Sequence[int],
    shapes: Mapping[str, tuple[int, ...]],
    spec: Spec,
) -> str:
    """The whole message of a failed check, read off the first failing seed."""
    entry = observation.entry_layer
    wrong = [r.name for r in observation.wrong]
    lines = [
        f"check_backprop: the candidate's gradient is wrong in {len(failing_seeds)} of "
        f"{len(spec.seeds)} seeds (seeds {list(failing_seeds)}); {spec.dtype}, "
        f"tolerance {spec.tolerance:g} relative.",
        f"Network: dims {spec.dims}, activations {spec.describe_activations()}, cost "
        f"{spec.cost.name!r}, a batch of N = {spec.batch_size} rows; the loss is the SUM "
        f"of the rows' losses.",
        "",
        f"Seed {seed}, layers from L = {spec.num_layers} down:",
        *_table(observation, shapes),
        "",
        f"Wrong: {', '.join(wrong)}. Backprop runs from layer L = {spec.num_layers} down, "
        f"so the mistake enters at layer {entry}, the outermost wrong layer"
        + _right_above(entry, spec.num_layers),
        "",
        "Diagnosis:",
        *(f"  - {text} (rule: {name})." for name, text in diagnose(observation)),
        "",
        "Reproduce:",
        *(f"    {line}" for line in reproduction(seed, spec)),
    ]
    return "\n".join(lines)
