"""Metrics a hot path keeps as plain numbers, turned into Prometheus families at scrape time.

A ``prometheus_client`` counter increment takes a lock and several Python calls; a histogram
observation does that once per bucket it walks. On a path run for every relay read or bridge tick
that was a quarter of the relay's instructions (docs/performance.md, "Instructions per read"). A
service keeps ints and a ``PlainHistogram`` instead and registers a ``Collector`` that reads them
when ``/metrics`` is scraped (the collectors' ``CollectorMetrics`` does the same for their counters).
"""

import bisect
from collections.abc import Iterable, Mapping, Sequence

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

__all__ = ("PlainHistogram", "counter_family", "histogram_family")


class PlainHistogram:
    """Counts per bucket and a sum; ``observe`` is one C bisect and two additions."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last: above every bound
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1  # Prometheus's le: a value on a bound is in it
        self.sum += value


def histogram_family(
    name: str, documentation: str, bounds: Sequence[float], histograms: Iterable[PlainHistogram]
) -> HistogramMetricFamily:
    """One histogram family with these ``bounds`` from the histograms (summed; none: all zeros), with cumulative
    ``le`` buckets written as prometheus_client writes them."""
    bounds = tuple(bounds)
    hists = list(histograms)
    if any(h.bounds != bounds for h in hists):
        raise ValueError(f"{name}: histograms with different bounds cannot be summed")
    counts = [sum(col) for col in zip(*(h.counts for h in hists), strict=True)] if hists else [0] * (len(bounds) + 1)
    buckets, total = [], 0
    for bound, n in zip((*[repr(b) for b in bounds], "+Inf"), counts, strict=True):
        total += n
        buckets.append((bound, total))
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=sum(h.sum for h in hists))


def counter_family(name: str, documentation: str, label: str, values: Mapping[str, int]) -> CounterMetricFamily:
    """A counter family (``name`` without ``_total``) with one sample per ``label`` value."""
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, n in values.items():
        family.add_metric([value], n)
    return family
