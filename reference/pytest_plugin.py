"""pytest plugin: the ``check_backprop`` fixture (filled in by the checker)."""
