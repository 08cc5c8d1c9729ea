"""The one compiled module: the collectors' hottest primitives in C (services/alphapulse/collectors/_speedups.pyx).

Everything else is configured in pyproject.toml. The extension is optional: without a C compiler the build
warns and the collectors run their pure-Python equivalents (same results, slower; `alphapulse collector`
logs which it uses).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "alphapulse.collectors._speedups",
            sources=["services/alphapulse/collectors/_speedups.pyx"],
            optional=True,
        )
    ]
)
