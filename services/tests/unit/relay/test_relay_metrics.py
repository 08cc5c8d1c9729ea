"""The relay's hot-path metrics: plain counts read at scrape time, exposed as prometheus_client would."""

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from alphapulse.relay import metrics
from alphapulse.relay.core import FeedTrack
from alphapulse.relay.server import Relay, _Consumer


def samples(text: str, family: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        if f.name == family
        for s in f.samples
        if not s.name.endswith("_created")
    }


def test_the_latency_histogram_is_the_relays_reads() -> None:
    relay = Relay(Path("/nonexistent-relay-metrics-test"))
    relay.latency.observe(3e-6)
    relay.latency.observe(0.5)
    collector = metrics._HotPath()
    collector.relays.add(relay)
    registry = CollectorRegistry()
    registry.register(collector)
    got = samples(generate_latest(registry).decode(), "alphapulse_relay_latency_seconds")
    assert got[("alphapulse_relay_latency_seconds_bucket", (("le", "5e-06"),))] == 1.0
    assert got[("alphapulse_relay_latency_seconds_bucket", (("le", "+Inf"),))] == 2.0
    assert got[("alphapulse_relay_latency_seconds_sum", ())] == pytest.approx(0.500003)


def test_cells_in_and_out_are_read_from_the_relay_at_scrape_time() -> None:
    relay = Relay(Path("/nonexistent-relay-metrics-test"))
    relay.feeds["/x/kraken.sock"] = FeedTrack(source="kraken", name="kraken-spot", cells_in=29)
    relay.feeds["/x/other.sock"] = FeedTrack(source="other", cells_in=3)  # no name yet: its socket's
    collector = metrics._HotPath()
    collector.relays.add(relay)
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    assert samples(text, "alphapulse_relay_frames_in") == {
        ("alphapulse_relay_frames_in_total", (("feed", "kraken-spot"),)): 29.0,
        ("alphapulse_relay_frames_in_total", (("feed", "other"),)): 3.0,
    }
    relay.feeds["/x/kraken.sock"].cells_in += 1
    assert 'alphapulse_relay_frames_in_total{feed="kraken-spot"} 30.0' in generate_latest(registry).decode()

    consumer = _Consumer(relay, "unix")
    consumer.connection_made(_Transport())  # type: ignore[arg-type]
    consumer.deliver(relay.feeds["/x/kraken.sock"], b"\x01" * 96)
    assert samples(generate_latest(registry).decode(), "alphapulse_relay_frames_out") == {
        ("alphapulse_relay_frames_out_total", (("consumer", consumer.name),)): 2.0
    }
    consumer.connection_lost(None)  # a consumer gone: its series goes with it
    assert samples(generate_latest(registry).decode(), "alphapulse_relay_frames_out") == {}


class _Transport:
    def write(self, data: bytes) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str) -> None:
        return None
