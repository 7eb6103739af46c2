"""``python -m manualgrad``: the same as the ``manualgrad`` command."""

import sys

from manualgrad._cli import main

sys.exit(main())
