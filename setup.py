"""The compiled modules: the collectors' hottest primitives (services/alphapulse/collectors/_speedups.pyx)
and the relay's per-read checks (services/alphapulse/relay/_fastpath.pyx), in C.

Everything else is configured in pyproject.toml. Both extensions are optional: without a C compiler the build
warns and the services run their pure-Python equivalents (same results, slower; `alphapulse collector` and
`alphapulse relay` log which they use).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "alphapulse.collectors._speedups",
            sources=["services/alphapulse/collectors/_speedups.pyx"],
            optional=True,
        ),
        Extension(
            "alphapulse.relay._fastpath",
            sources=["services/alphapulse/relay/_fastpath.pyx"],
            optional=True,
        ),
    ]
)
