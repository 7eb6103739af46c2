"""``manualgrad verify``: every algorithm of manualgrad against the reference, as one table.

A tool that sees both sides: it runs manualgrad's public algorithms and
judges them with :mod:`reference`.

* :mod:`reference.verify.matrix`: what is checked, the cells and networks.
* :mod:`reference.verify.engine`: runs the cells, one XLA program per activation.
* :mod:`reference.verify.report`: the tables, the failures and the JSON.
* :mod:`reference.verify.cli`: the command line, :func:`main`.
"""

from reference.verify.cli import main, parse_selection

__all__ = ["main", "parse_selection"]
