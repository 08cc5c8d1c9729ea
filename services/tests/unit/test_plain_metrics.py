"""Plain-number metrics read at scrape time: the text a scrape gets is what prometheus_client's own
metrics give for the same observations."""

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from alphapulse.bridge.metrics import BridgeMetrics
from alphapulse.plain_metrics import PlainHistogram, histogram_family

BOUNDS = (2e-6, 5e-6, 1e-5, 2.5e-5, 1e-4, 0.025, 0.1, 2.0)


def samples(registry: CollectorRegistry, family: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(generate_latest(registry).decode())
        if f.name == family
        for s in f.samples
        if not s.name.endswith("_created")
    }


class _One(Collector):
    def __init__(self, *hists: PlainHistogram) -> None:
        self.hists = hists

    def collect(self) -> "list[Metric]":
        return [histogram_family("x_seconds", "x", BOUNDS, self.hists)]


@pytest.mark.parametrize("split", [1, 2])
def test_a_plain_histogram_scrapes_as_prometheus_clients_own(split: int) -> None:
    values = [1e-6, 2e-6, 3e-6, 1e-5, 2.4e-5, 0.0002, 0.025, 0.1, 1.5, 7.0]  # on bounds, between, above all
    theirs_registry = CollectorRegistry()
    theirs = Histogram("x_seconds", "x", buckets=BOUNDS, registry=theirs_registry)
    ours = [PlainHistogram(BOUNDS) for _ in range(split)]  # split: two histograms summed into one family
    for i, v in enumerate(values):
        theirs.observe(v)
        ours[i % split].observe(v)
    ours_registry = CollectorRegistry()
    ours_registry.register(_One(*ours))
    assert samples(ours_registry, "x_seconds") == samples(theirs_registry, "x_seconds")


def test_histograms_with_different_bounds_are_not_summed() -> None:
    with pytest.raises(ValueError, match="different bounds"):
        histogram_family("x", "x", (1.0,), [PlainHistogram((1.0,)), PlainHistogram((2.0,))])


def test_the_bridges_per_tick_metrics_are_read_at_scrape_time() -> None:
    registry = CollectorRegistry()
    m = BridgeMetrics(registry)
    m.messages_out += 41
    m.send_latency.observe(0.0003)
    assert samples(registry, "alphapulse_bridge_messages_out") == {("alphapulse_bridge_messages_out_total", ()): 41.0}
    latency = samples(registry, "alphapulse_bridge_send_latency_seconds")
    assert latency[("alphapulse_bridge_send_latency_seconds_count", ())] == 1.0
    assert latency[("alphapulse_bridge_send_latency_seconds_bucket", (("le", "0.0004"),))] == 1.0
    assert latency[("alphapulse_bridge_send_latency_seconds_bucket", (("le", "0.0002"),))] == 0.0
