"""The ``manualgrad`` command: ``verify``, ``bench`` and ``diagnose``."""

from __future__ import annotations

import importlib
import sys

#: subcommand -> (module, one-line help); each module has main(argv) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "verify": ("manualgrad.verify", "check every algorithm against jax.grad (the main job)"),
    "bench": ("benchmarks.run", "time every algorithm against jax.grad"),
    "diagnose": ("manualgrad.diagnose", "per-layer sensitivity norms and the decay bound"),
}


def _usage() -> str:
    lines = ["usage: manualgrad {" + ",".join(COMMANDS) + "} [options]", ""]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run 'manualgrad COMMAND --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatches to a subcommand; returns its exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"manualgrad: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return module.main(rest)
