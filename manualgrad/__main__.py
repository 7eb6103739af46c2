"""The ``manualgrad`` command (and ``python -m manualgrad``): the tools' entry point.

``import manualgrad`` never runs this module. It is the one place in the
package that may hand over to the tools that sit outside the library:
the verification harness and reports in ``reference``, the timing in
``benchmarks``. It imports them only when their subcommand runs.
"""

from __future__ import annotations

import importlib
import sys

#: subcommand -> (module with main(argv) -> int, one-line help).
COMMANDS: dict[str, tuple[str, str]] = {
    "verify": ("reference.verify", "check every algorithm against jax.grad (the main job)"),
    "check": ("reference.checker.cli", "check your own backprop function against jax.grad"),
    "bench": ("benchmarks.run", "time every algorithm against jax.grad and its peers"),
    "decay": ("reference.decay_command", "Theorem 16: per-layer sensitivity norms and the bound"),
}

#: Earlier names of subcommands, still accepted.
ALIASES: dict[str, str] = {"diagnose": "decay"}


def _usage() -> str:
    lines = ["usage: manualgrad {" + ",".join(COMMANDS) + "} [options]", ""]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += [f"  {old:<10} the same as '{new}'" for old, new in ALIASES.items()]
    lines += ["", "Run 'manualgrad COMMAND --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatches to a subcommand.

    Args:
      argv: the arguments after the program name; None reads ``sys.argv``.

    Returns:
      The subcommand's exit code; 2 for an unknown or missing subcommand.
    """
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    name, rest = ALIASES.get(argv[0], argv[0]), argv[1:]
    if name not in COMMANDS:
        print(f"manualgrad: unknown command {argv[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
