"""``python -m reference.checker FILE.py:FUNCTION ...``: the ``manualgrad check`` command."""

import sys

from reference.checker.cli import main

if __name__ == "__main__":
    sys.exit(main())
