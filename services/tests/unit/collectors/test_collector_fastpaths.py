"""The collectors' hot-path shortcuts give exactly what the general code gives."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alphapulse.collectors.output import FrameWriter
from alphapulse.collectors.parsing import Reject, fixed_str
from alphapulse.collectors.transport import resolve_client
from alphapulse.errors import ConfigError
from alphapulse.protocol import Exchange, FixedPointError, FrameError, TradeFlag, pack_trade, to_fixed


@given(
    symbol_id=st.integers(0, 2**32 - 1),
    seq=st.integers(0, 2**40),
    side=st.sampled_from([1, 2]),
    trade_id=st.integers(0, (1 << 40) - 1),
    ts=st.integers(0, 2**62),
    price=st.integers(-(2**63), 2**63 - 1),
    qty=st.integers(-(2**63), 2**63 - 1),
    snapshot=st.booleans(),
)
def test_writer_trade_packs_the_same_bytes_as_the_protocol(
    symbol_id: int, seq: int, side: int, trade_id: int, ts: int, price: int, qty: int, snapshot: bool
) -> None:
    w = FrameWriter(1, Exchange.KRAKEN, "t", 0)
    w.seq = seq
    w.trade(symbol_id, side, trade_id, ts, ts + 1, price, qty, snapshot)
    flags = int(TradeFlag.SNAPSHOT) if snapshot else 0
    assert bytes(w.buf) == pack_trade(symbol_id, seq, side, trade_id, ts, ts + 1, price, qty, flags)
    assert w.seq == seq + 1


def test_writer_trade_rejects_a_trade_id_beyond_40_bits() -> None:
    w = FrameWriter(1, Exchange.KRAKEN, "t", 0)
    with pytest.raises(FrameError):
        w.trade(1, 1, 1 << 40, 0, 0, 1, 1)
    assert not w.buf and w.seq == 0


@given(st.text(alphabet="0123456789.-+eE_ \u0661\u00b2", max_size=12), st.integers(0, 12))
def test_fixed_str_accepts_exactly_plain_decimals(text: str, scale: int) -> None:

    plain = re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", text) is not None
    try:
        value = fixed_str(text, scale, "x", positive=False)
    except Reject:
        if plain:  # plain but inexact at this scale, or beyond int64: the protocol refuses it too
            with pytest.raises(FixedPointError):
                to_fixed(text, scale)
        return
    assert plain
    assert value == to_fixed(text, scale)


def test_ws_client_setting() -> None:
    assert resolve_client("websockets") == "websockets"
    assert resolve_client(" PICOWS ") == "picows"
    with pytest.raises(ConfigError):
        resolve_client("aiohttp")
