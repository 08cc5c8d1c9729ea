"""AlphaPulse: crypto market data and trading, Kubernetes-native.

Layers (lower never imports higher): ``protocol`` (wire format, stdlib only) -> runtime pieces
(``errors``, ``clock``, ``settings``, ``logs``, ``observability``, ``transport``, ``feeds``) ->
venues (``collectors``) -> services (``relay``, ``bridge``, ``store``, ``api``, ``trading``,
``sim``, ``bench``) -> ``cli``.
"""

__version__ = "0.1.0"
__all__ = ("__version__",)
