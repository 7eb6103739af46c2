"""What reference's commands share: usage errors, and loading the user's code from FILE.py:NAME."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any


class UsageError(Exception):
    """A bad command line; a command's main() prints it and exits with status 2."""


class Parser(argparse.ArgumentParser):
    """An argument parser that raises UsageError instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def split_target(target: str, *, example: str) -> tuple[str, str]:
    """("FILE.py" or "package.module", "NAME") from "FILE.py:NAME" or "package.module:NAME"."""
    where, sep, name = target.rpartition(":")
    if not sep or not where or not name:
        raise UsageError(f"{target!r}: expected FILE.py:NAME or module:NAME, e.g. {example}")
    return where, name


def load_module(where: str) -> ModuleType:
    """Imports a file (its directory first on the path, for its own imports) or a module.

    Raises:
      UsageError: no such file or module.
    """
    if where.endswith(".py"):
        file = Path(where)
        if not file.is_file():
            raise UsageError(f"no file {file}")
        spec = importlib.util.spec_from_file_location(f"_manualgrad_user_{file.stem}", file)
        if spec is None or spec.loader is None:
            raise UsageError(f"{file}: not a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(file.resolve().parent))
        try:
            spec.loader.exec_module(module)
        finally:
            sys.path.pop(0)
        return module
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as error:
        raise UsageError(f"no module {where!r} ({error})") from None


def attribute(module: ModuleType, name: str, where: str) -> Any:
    """``module.name``, or a UsageError listing the public names the module does define."""
    if not hasattr(module, name):
        defined = sorted(n for n in vars(module) if not n.startswith("_"))
        raise UsageError(f"{where} defines no {name!r}; it defines {', '.join(defined) or 'none'}")
    return getattr(module, name)
