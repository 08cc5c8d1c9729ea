"""Names and labels of the children an ExchangeFeed owns.

Names are deterministic (never ``generateName``), so every retry of a reconcile addresses the
same objects; selectors use only labels that never change for a feed, because a Deployment's
selector is immutable.
"""

__all__ = (
    "CONFIG_HASH_ANNOTATION",
    "FEED_FILE",
    "FEED_LABEL",
    "GROUP",
    "PLURAL",
    "VERSION",
    "child_labels",
    "collector_name",
    "selector_labels",
)

GROUP = "alphapulse.io"
VERSION = "v1alpha1"
PLURAL = "exchangefeeds"
FEED_LABEL = "alphapulse.io/feed"
CONFIG_HASH_ANNOTATION = "alphapulse.io/config-hash"
FEED_FILE = "feed.yaml"
MANAGED_BY = "alphapulse-operator"


def collector_name(feed: str) -> str:
    """Name of the collector Deployment and ConfigMap (feed names: DNS labels, at most 60 chars)."""
    return f"collector-{feed}"


def selector_labels(feed: str) -> dict[str, str]:
    return {"app.kubernetes.io/component": "collector", FEED_LABEL: feed}


def child_labels(feed: str, exchange: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "alphapulse",
        "app.kubernetes.io/instance": feed,
        "app.kubernetes.io/part-of": "alphapulse",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "alphapulse.io/exchange": exchange,
        **selector_labels(feed),
    }
