"""``python -m benchmarks``: the same as ``manualgrad bench``."""

import sys

from benchmarks.run import main

sys.exit(main())
