"""Benchmarks behind ``alphapulse bench NAME``: each module ``NAME.py`` defines ``run(args) -> dict``
(the DESIGN.md JSON shape) and optionally ``add_arguments(parser)``."""
