"""Property tests of the wire protocol: round trips, streaming, hostile bytes, fixed point, symbol ids."""

import hashlib
import itertools
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from alphapulse.protocol import (
    CELL_BYTES,
    BookLevel,
    CellAligner,
    Control,
    ControlOp,
    Exchange,
    Feed,
    FeedState,
    FixedPointError,
    Frame,
    FrameDecoder,
    FrameType,
    Gap,
    GapReason,
    Heartbeat,
    Instrument,
    ProtocolError,
    Quote,
    Side,
    SnapshotBegin,
    SnapshotEnd,
    Status,
    SymbolCollisionError,
    SymbolRegistry,
    Trade,
    bulk,
    cells_of,
    decode,
    encode,
    feed_id,
    from_fixed,
    symbol_id,
    to_decimal,
    to_fixed,
)
from alphapulse.protocol.fixed import INT64_MAX, INT64_MIN, MAX_SCALE

# No deadlines: the machine is shared, and speed is the benchmarks' business, not these tests'.
# (A decorator per test rather than a loaded profile, which would leak into every other module.)
relaxed = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

u8 = st.integers(0, 0xFF)
u32 = st.integers(0, 0xFFFF_FFFF)
u64 = st.integers(0, 0xFFFF_FFFF_FFFF_FFFF)
i64 = st.integers(INT64_MIN, INT64_MAX)
trade_ids = st.integers(0, (1 << 40) - 1)


def ascii_text(max_bytes: int) -> st.SearchStrategy[str]:
    # every ASCII character, NUL and control characters included: the layout stores a length
    return st.text(alphabet=st.characters(codec="ascii"), max_size=max_bytes)


trades = st.builds(Trade, u32, u32, st.sampled_from(Side), trade_ids, i64, i64, i64, i64, st.booleans(), st.booleans())
quotes = st.builds(Quote, u32, u32, i64, i64, i64, i64, i64, i64, st.booleans())
books = st.builds(
    BookLevel,
    u32,
    u32,
    st.sampled_from([Side.BUY, Side.SELL]),
    i64,
    i64,
    i64,
    i64,
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
snapshot_begins = st.builds(SnapshotBegin, u32, u32, u32, i64, i64, u64, st.booleans())
snapshot_ends = st.builds(SnapshotEnd, u32, u32, u32, i64, i64, u64, st.booleans())
instruments = st.builds(
    Instrument,
    u32,
    u32,
    st.sampled_from(Exchange),
    ascii_text(32),
    u8,
    u8,
    i64,
    i64,
    ascii_text(16),
    st.booleans(),
)
feeds = st.builds(Feed, u32, u32, st.sampled_from(Exchange), ascii_text(60), i64, st.booleans())
statuses = st.builds(Status, u32, u32, st.sampled_from(FeedState), i64, u32, i64, st.booleans())
gaps = st.builds(Gap, u32, u32, st.sampled_from(GapReason), i64, u32, u64, u64, st.booleans())
heartbeats = st.builds(Heartbeat, u32, u32, i64, st.booleans())
controls = st.builds(Control, st.sampled_from(ControlOp), u32, u32, u32, u32, i64, u32, st.booleans(), u32, i64, u32)

FRAME_STRATEGIES: dict[FrameType, st.SearchStrategy[Any]] = {
    FrameType.TRADE: trades,
    FrameType.QUOTE: quotes,
    FrameType.BOOK: books,
    FrameType.SNAPSHOT_BEGIN: snapshot_begins,
    FrameType.SNAPSHOT_END: snapshot_ends,
    FrameType.INSTRUMENT: instruments,
    FrameType.FEED: feeds,
    FrameType.STATUS: statuses,
    FrameType.GAP: gaps,
    FrameType.HEARTBEAT: heartbeats,
    FrameType.CONTROL: controls,
}
frames: st.SearchStrategy[Frame] = st.one_of(*FRAME_STRATEGIES.values())


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("ftype", list(FrameType), ids=[t.name.lower() for t in FrameType])
@relaxed
@given(data=st.data())
def test_round_trip_every_frame_type(ftype: FrameType, data: st.DataObject) -> None:
    frame = data.draw(FRAME_STRATEGIES[ftype])
    wire = encode(frame)
    assert len(wire) == cells_of(ftype) * CELL_BYTES
    assert wire[1] == ftype
    assert decode(wire) == frame
    # the same frame inside a larger buffer, at an offset
    assert decode(b"\0" * 7 + wire + b"\xff" * 5, 7) == frame


def _pieces(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    return [stream[a:b] for a, b in itertools.pairwise(points)]


@relaxed
@given(batch=st.lists(frames, max_size=24), cuts=st.lists(st.integers(0, 1 << 16), max_size=40))
def test_stream_decoder_is_indifferent_to_how_bytes_are_split(batch: list[Frame], cuts: list[int]) -> None:
    stream = b"".join(encode(f) for f in batch)
    decoder = FrameDecoder()
    out: list[Frame] = []
    for piece in _pieces(stream, cuts):
        out += decoder.feed(piece)
    assert out == batch
    assert decoder.pending_bytes == 0


@relaxed
@given(batch=st.lists(frames, max_size=24), cuts=st.lists(st.integers(0, 1 << 16), max_size=40))
def test_cell_aligner_hands_back_whole_cells_only(batch: list[Frame], cuts: list[int]) -> None:
    stream = b"".join(encode(f) for f in batch)
    aligner = CellAligner()
    out = []
    for piece in _pieces(stream, cuts):
        chunk = aligner.feed(piece)
        assert len(chunk) % CELL_BYTES == 0
        out.append(chunk)
    assert b"".join(out) == stream
    assert aligner.pending_bytes == 0


# --- hostile bytes: only the protocol's own errors -----------------------------------------------


@st.composite
def plausible_cells(draw: st.DrawFn) -> bytes:
    """Bytes that get past the first checks: mostly version 1, known types, small part indexes."""
    n = draw(st.integers(0, 4))
    out = bytearray()
    for _ in range(n):
        cell = bytearray(draw(st.binary(min_size=CELL_BYTES, max_size=CELL_BYTES)))
        cell[0] = draw(st.sampled_from([1, 1, 1, 0, 2]))
        cell[1] = draw(st.integers(0, 13))
        cell[2] = draw(st.one_of(st.integers(0, 12), u8))
        cell[3] = draw(st.sampled_from([0, 1, 2, 255]))
        out += cell
    cut = draw(st.integers(0, 50))
    return bytes(out[: len(out) - cut] if cut < len(out) else out)


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    """A valid frame with a few bytes overwritten."""
    wire = bytearray(encode(draw(frames)))
    for _ in range(draw(st.integers(1, 4))):
        wire[draw(st.integers(0, len(wire) - 1))] = draw(u8)
    return bytes(wire)


hostile = st.one_of(st.binary(max_size=300), plausible_cells(), mutated_frames())


def _only_protocol_errors(call: Any) -> Any:
    try:
        return call()
    except ProtocolError:
        return None


@relaxed
@given(data=hostile)
@example(data=b"")
@example(data=b"\x01")
@example(data=b"\x01\x02" + b"\0" * 46)  # a quote without its second cell
def test_decode_raises_only_protocol_errors(data: bytes) -> None:
    frame = _only_protocol_errors(lambda: decode(data))
    if frame is not None:
        # whatever decode accepts, encode writes back and decode reads the same again
        assert decode(encode(frame)) == frame


@relaxed
@given(data=hostile, cuts=st.lists(st.integers(0, 400), max_size=6))
def test_stream_decoder_raises_only_protocol_errors(data: bytes, cuts: list[int]) -> None:
    decoder = FrameDecoder()
    for piece in _pieces(data, cuts):
        if _only_protocol_errors(lambda p=piece: decoder.feed(p)) is None:
            break


@relaxed
@given(data=hostile)
def test_bulk_views_raise_only_protocol_errors(data: bytes) -> None:
    for view in (bulk.cells, bulk.trades, bulk.quotes):
        _only_protocol_errors(lambda v=view: v(data))
    aligned = data[: len(data) - len(data) % CELL_BYTES]
    for view in (bulk.cells, bulk.trades, bulk.quotes):
        _only_protocol_errors(lambda v=view: v(aligned))


# --- fixed point -------------------------------------------------------------------------------

scales = st.integers(0, MAX_SCALE)
PLAIN = re.compile(r"-?[0-9]+(\.[0-9]+)?")


@relaxed
@given(n=i64, scale=scales)
def test_fixed_point_is_exact_both_ways(n: int, scale: int) -> None:
    d = Decimal(n).scaleb(-scale)
    text = format(d, "f")  # plain notation: str() of a Decimal may use an exponent
    assert to_fixed(text, scale) == n
    assert to_fixed(d, scale) == n
    rendered = from_fixed(n, scale)
    assert PLAIN.fullmatch(rendered)
    assert ("." in rendered) == (scale > 0)
    assert len(rendered.partition(".")[2]) == scale
    assert Decimal(rendered) == d
    assert to_fixed(rendered, scale) == n
    assert to_decimal(n, scale) == d


@relaxed
@given(n=i64, scale=scales, zeros=st.integers(1, 30), lead=st.integers(0, 30))
def test_fixed_point_accepts_padding_zeros(n: int, scale: int, zeros: int, lead: int) -> None:
    """Binance renders every value with 8 decimals: digits beyond the scale are fine when they are zeros."""
    text = from_fixed(n, scale)
    sign, body = ("-", text[1:]) if text.startswith("-") else ("", text)
    padded = sign + "0" * lead + body + ("" if "." in body else ".") + "0" * zeros
    assert to_fixed(padded, scale) == n
    assert to_fixed(Decimal(padded), scale) == n


@relaxed
@given(n=i64, scale=st.integers(0, MAX_SCALE - 1), zeros=st.integers(0, 10), digit=st.integers(1, 9))
def test_fixed_point_refuses_nonzero_digits_beyond_scale(n: int, scale: int, zeros: int, digit: int) -> None:
    text = from_fixed(n, scale)
    text += ("" if "." in text else ".") + "0" * zeros + str(digit)
    with pytest.raises(FixedPointError):
        to_fixed(text, scale)
    with pytest.raises(FixedPointError):
        to_fixed(Decimal(text), scale)


@relaxed
@given(mantissa=st.integers(-(10**6), 10**6), exponent=st.integers(-20, 20), e=st.sampled_from("eE"), scale=scales)
@example(mantissa=1, exponent=0, e="e", scale=0)
def test_fixed_point_refuses_exponent_strings(mantissa: int, exponent: int, e: str, scale: int) -> None:
    for text in (f"{mantissa}{e}{exponent}", f"{mantissa}.5{e}{exponent:+d}"):
        with pytest.raises(FixedPointError):
            to_fixed(text, scale)


nonascii_digits = st.characters(categories=["Nd"]).filter(lambda c: not c.isascii())


@relaxed
@given(prefix=st.text("0123456789", max_size=3), digit=nonascii_digits, suffix=st.text("0123456789", max_size=3))
@example(prefix="", digit="١", suffix="")  # ARABIC-INDIC DIGIT ONE
@example(prefix="1", digit="５", suffix="")  # FULLWIDTH DIGIT FIVE
def test_fixed_point_refuses_unicode_digits(prefix: str, digit: str, suffix: str) -> None:
    for text in (prefix + digit + suffix, f"1.{prefix}{digit}{suffix}", f"-{digit}"):
        with pytest.raises(FixedPointError):
            to_fixed(text, 8)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "-",
        ".",
        "1.",
        ".5",
        "+1",
        " 1",
        "1 ",
        "1_000",
        "0x10",
        "1,5",
        "--1",
        "1.2.3",
        "nan",
        "inf",
        "−1",
        "²",
        "1e5",
    ],
)
def test_fixed_point_refuses_what_is_not_a_plain_decimal(text: str) -> None:
    with pytest.raises(FixedPointError):
        to_fixed(text, 2)


@relaxed
@given(x=st.floats(allow_nan=True, allow_infinity=True), scale=scales)
@example(x=0.1, scale=8)
@example(x=1.0, scale=0)
def test_fixed_point_refuses_floats(x: float, scale: int) -> None:
    with pytest.raises(FixedPointError):
        to_fixed(x, scale)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [True, None, b"1", 1 + 0j, [1]])
def test_fixed_point_refuses_other_types(value: object) -> None:
    with pytest.raises(FixedPointError):
        to_fixed(value, 0)  # type: ignore[arg-type]


@relaxed
@given(n=st.one_of(st.integers(min_value=INT64_MAX + 1), st.integers(max_value=INT64_MIN - 1)))
@example(n=INT64_MAX + 1)
@example(n=INT64_MIN - 1)
def test_fixed_point_refuses_values_beyond_int64(n: int) -> None:
    for value in (str(n), Decimal(n), n):
        with pytest.raises(FixedPointError):
            to_fixed(value, 0)


@relaxed
@given(n=i64.filter(lambda v: v != 0), scale=st.integers(1, MAX_SCALE))
def test_fixed_point_refuses_scaled_values_beyond_int64(n: int, scale: int) -> None:
    if INT64_MIN <= n * 10**scale <= INT64_MAX:
        assert to_fixed(n, scale) == n * 10**scale
        return
    for value in (str(n), Decimal(n), n):
        with pytest.raises(FixedPointError):
            to_fixed(value, scale)


def test_fixed_point_bounds_are_inclusive() -> None:
    assert to_fixed("9223372036854775807", 0) == INT64_MAX
    assert to_fixed("-9223372036854775808", 0) == INT64_MIN
    assert to_fixed("-92233720.36854775808", 11) == INT64_MIN
    assert to_fixed("0.000000000000000001", 18) == 1
    assert from_fixed(INT64_MIN, 18) == "-9.223372036854775808"
    assert from_fixed(-5, 3) == "-0.005"
    assert from_fixed(0, 2) == "0.00"
    assert to_fixed("-0", 4) == 0


@pytest.mark.parametrize("scale", [-1, MAX_SCALE + 1])
def test_fixed_point_refuses_scales_out_of_range(scale: int) -> None:
    with pytest.raises(FixedPointError):
        to_fixed("1", scale)


@relaxed
@given(text=st.text(max_size=40), scale=scales)
def test_fixed_point_on_any_text_returns_an_exact_int_or_refuses(text: str, scale: int) -> None:
    try:
        value = to_fixed(text, scale)
    except FixedPointError:
        return
    assert PLAIN.fullmatch(text)
    assert Decimal(text) == to_decimal(value, scale)


@pytest.mark.parametrize(
    "value",
    [
        "1" * 5000,  # int() refuses strings over 4,300 digits with ValueError
        "0." + "0" * 5000 + "1",
        "-" + "9" * 100_000,
        10**5000,  # repr() of this int in the error message raised ValueError
        -(10**5000),
        Decimal("1" * 5000),
        Decimal("1" * 5000 + "E-4990"),
        Decimal("1E+100000000"),  # built a 100-million-digit power of ten (hung)
        Decimal("1E-100000000"),
        Decimal("-7E+999999999"),
    ],
    ids=[
        "str_5000_digits",
        "str_5000_decimals",
        "str_100000_digits",
        "int_5000_digits",
        "int_minus_5000_digits",
        "decimal_5000_digits",
        "decimal_5000_digits_4990_decimals",
        "decimal_exp_plus_1e8",
        "decimal_exp_minus_1e8",
        "decimal_exp_plus_1e9",
    ],
)
def test_fixed_point_refuses_huge_inputs_with_its_own_error(value: str | Decimal | int) -> None:
    """Regression: these raised ValueError (or ran for minutes) instead of FixedPointError."""
    with pytest.raises(FixedPointError):
        to_fixed(value, 8)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0" * 5000 + "1", 100_000_000),
        ("1." + "0" * 5000, 100_000_000),
        (Decimal("0E+100000000"), 0),
        (Decimal("0E-100000000"), 0),
        (Decimal("1" + "0" * 5000 + "E-5000"), 100_000_000),
        (Decimal("-1.00000000000000000000"), -100_000_000),
        (Decimal("12E+3"), 1_200_000_000_000),
    ],
    ids=[
        "leading_zeros",
        "trailing_zeros",
        "zero_exp_plus",
        "zero_exp_minus",
        "decimal_trailing_zeros",
        "negative",
        "exp",
    ],
)
def test_fixed_point_accepts_long_but_exact_inputs(value: str | Decimal, expected: int) -> None:
    assert to_fixed(value, 8) == expected


# --- symbol and feed ids -----------------------------------------------------------------------

# Pinned: these ids are the contract between processes and machines; changing them breaks every consumer.
KNOWN_IDS = [
    (Exchange.KRAKEN, "BTC-USD", 0xEF8F3DBD),
    (Exchange.COINBASE, "BTC-USD", 0xE6B903B9),
    (Exchange.BINANCE, "BTC-USDT", 0xBA59F470),
    (Exchange.BINANCE, "ETH-USDT", 0x9AF533B3),
]
KNOWN_FEED_IDS = [("binance-spot", 0x0B9B07DE), ("kraken-spot", 0x658A2FA7), ("coinbase-spot", 0x87557737)]
# Found by brute force (first collision among kraken:T{i}-USD, i < 100,000): see the test below.
COLLIDING = ("T29705-USD", "T79880-USD", 0x9DAC2181)


@pytest.mark.parametrize(("exchange", "symbol", "sid"), KNOWN_IDS)
def test_symbol_ids_are_pinned(exchange: Exchange, symbol: str, sid: int) -> None:
    assert symbol_id(exchange, symbol) == sid
    # the same for any spelling of the exchange and the symbol's case
    assert symbol_id(exchange.name.title(), symbol.lower()) == sid


@pytest.mark.parametrize(("name", "fid"), KNOWN_FEED_IDS)
def test_feed_ids_are_pinned(name: str, fid: int) -> None:
    assert feed_id(name) == fid


def _blake2b32(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "little")


@relaxed
@given(exchange=st.sampled_from(Exchange), symbol=st.text(max_size=20), name=st.text(max_size=20))
def test_ids_are_blake2b_32_of_the_canonical_text(exchange: Exchange, symbol: str, name: str) -> None:
    assert symbol_id(exchange, symbol) == (_blake2b32(f"{exchange.name.lower()}:{symbol.upper()}") or 1)
    assert feed_id(name) == (_blake2b32(f"feed:{name}") or 1)
    assert 1 <= symbol_id(exchange, symbol) <= 0xFFFF_FFFF


def test_id_zero_is_reserved(monkeypatch: pytest.MonkeyPatch) -> None:
    """No real name is known to hash to 0 (one in 2**32), so the hash is replaced for this one test."""

    class ZeroDigest:
        def __init__(self, data: bytes, digest_size: int) -> None:
            assert digest_size == 4

        def digest(self) -> bytes:
            return b"\0\0\0\0"

    monkeypatch.setattr(hashlib, "blake2b", ZeroDigest)  # symbols.py looks it up per call
    assert symbol_id(Exchange.KRAKEN, "BTC-USD") == 1
    assert feed_id("x") == 1


def _first_collision(limit: int) -> tuple[str, str, int] | None:
    seen: dict[int, str] = {}
    for i in range(limit):
        symbol = f"T{i}-USD"
        sid = symbol_id(Exchange.KRAKEN, symbol)
        if sid in seen:
            return seen[sid], symbol, sid
        seen[sid] = symbol
    return None


def test_brute_force_finds_a_real_collision() -> None:
    """32-bit ids collide: among 100,000 names one pair is expected (birthday bound); here is ours."""
    assert _first_collision(100_000) == COLLIDING


def test_registry_refuses_a_real_collision() -> None:
    first, second, sid = COLLIDING
    registry = SymbolRegistry()
    assert registry.register(Exchange.KRAKEN, first) == sid
    with pytest.raises(SymbolCollisionError, match=second):
        registry.register(Exchange.KRAKEN, second)
    assert registry.lookup(sid) == (Exchange.KRAKEN, first)
    assert len(registry) == 1


def test_registry_accepts_the_same_pair_again_in_any_case() -> None:
    registry = SymbolRegistry()
    sid = registry.register(Exchange.BINANCE, "btc-usdt")
    assert registry.register(Exchange.BINANCE, "BTC-USDT") == sid == 0xBA59F470
    assert registry.lookup(sid) == (Exchange.BINANCE, "BTC-USDT")
    assert registry.lookup(0) is None
    assert len(registry) == 1


def test_registry_checks_announced_instruments() -> None:
    registry = SymbolRegistry()
    registry.check(0xEF8F3DBD, Exchange.KRAKEN, "BTC-USD")
    assert registry.lookup(0xEF8F3DBD) == (Exchange.KRAKEN, "BTC-USD")
    with pytest.raises(SymbolCollisionError):
        registry.check(0xEF8F3DBD, Exchange.COINBASE, "BTC-USD")  # announced under someone else's id
    first, second, sid = COLLIDING
    registry.check(sid, Exchange.KRAKEN, first)
    with pytest.raises(SymbolCollisionError):
        registry.check(sid, Exchange.KRAKEN, second)  # the right id, but already taken


def test_stream_decoder_bounds_its_pending_bytes() -> None:
    """A reader with a small bound (the feed socket uses 64 cells) refuses to buffer more than that."""
    decoder = FrameDecoder(max_pending_bytes=40)
    assert decoder.feed(b"\x01\x0a" + b"\0" * 30) == []
    with pytest.raises(ProtocolError):
        decoder.feed(b"\0" * 10)
