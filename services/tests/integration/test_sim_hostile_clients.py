"""Whatever a client sends, the simulator answers or ignores it and keeps serving."""

import json
import logging
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_testkit import recv_all
from websockets.asyncio.client import connect

from alphapulse.sim import simulator

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_keys = {
    "kraken": ("method", "params", "req_id", "channel", "symbol", "depth", "snapshot"),
    "coinbase": ("type", "channel", "product_ids"),
    "binance": ("method", "params", "id"),
}


def _payloads(venue: str, seed: int) -> list[str]:
    """Junk shaped like the venue's requests: right keys, wrong values, plus raw garbage."""
    rng = random.Random(seed)
    example = settings(max_examples=1, suppress_health_check=list(HealthCheck))
    out: list[str] = ["", "{", "[]", "null", '"x"', "\x00\xff", "{" * 500, json.dumps([{}] * 50)]

    @example
    @given(st.dictionaries(st.sampled_from(_keys[venue]), _json, max_size=5), st.text(max_size=30))
    def collect(obj: dict[str, object], text: str) -> None:
        out.append(json.dumps(obj))
        out.append(text)

    for _ in range(60):
        collect()
    rng.shuffle(out)
    return out


@pytest.mark.parametrize("venue", ["kraken", "coinbase", "binance"])
async def test_random_requests_never_break_the_server(venue: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="alphapulse.sim")
    options = {"subscribe_timeout_s": 30.0} if venue == "coinbase" else {}
    async with simulator(venue, rate=0, **options) as sim:
        url = sim.ws_url + ("?streams=btcusdt@trade" if venue == "binance" else "")
        async with connect(url, max_size=None) as ws:
            for payload in _payloads(venue, seed=7):
                await ws.send(payload)
            await recv_all(ws, idle_s=0.3)
            # still a working venue afterwards
            if venue == "kraken":
                await ws.send('{"method":"ping","req_id":99}')
            elif venue == "coinbase":
                await ws.send('{"type":"subscribe","product_ids":["BTC-USD"],"channel":"ticker"}')
            else:
                await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":99}')
            replies = [json.loads(m) for m in await recv_all(ws, idle_s=0.3)]
        assert replies
        assert not [r for r in caplog.records if "request handling failed" in r.getMessage()]
