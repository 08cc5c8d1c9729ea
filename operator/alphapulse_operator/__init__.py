"""The ExchangeFeed operator: one collector Deployment per ExchangeFeed, placed on relay nodes.

Layers, lowest first: ``settings`` (built once from the environment), ``naming`` (names and
labels), ``rendering`` (pure: feed → desired children), ``observing`` (pure: children →
status), ``kubeclient`` (a small async HTTP client for the API server), ``reconciling`` (the
one idempotent ensure-and-observe pass), ``handlers`` (thin kopf bindings). Run it with
``kopf run --standalone --all-namespaces -m alphapulse_operator.handlers``.
"""

__all__ = ()
