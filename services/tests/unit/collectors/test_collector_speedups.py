"""The C primitives (collectors/_speedups.pyx) never disagree with the pure-Python functions they speed up.

Each C function returns -1 for whatever it does not handle and the Python function then decides; so the
property to hold is: the C result is -1 or exactly the Python value, and the Python function accepted it.
"""

import datetime
import subprocess
import sys
import zlib
from pathlib import Path

import msgspec
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from alphapulse.collectors import speedups
from alphapulse.collectors.books import Book
from alphapulse.collectors.coinbase import _trade_id
from alphapulse.collectors.kraken import CHECKSUM_LEVELS, _num
from alphapulse.collectors.parsing import Reject, _fixed_str_py
from alphapulse.collectors.timestamps import TimestampError, _parse_rfc3339_ns_py
from alphapulse.protocol.frames import TRADE_ID_MAX

NUMBERISH = st.text(alphabet="0123456789.-+eE_ 0\u0660\u00b2", max_size=24)
STAMPISH = st.text(alphabet="0123456789-:.TZz+ \u0660", min_size=18, max_size=32)


def py_fixed(text: str, scale: int) -> int | None:
    try:
        return _fixed_str_py(text, scale, "x", positive=False)
    except Reject:
        return None


def py_stamp(text: str) -> int | None:
    try:
        return _parse_rfc3339_ns_py(text)
    except TimestampError:
        return None


def test_the_install_compiled_them() -> None:
    # The extension is optional at build time; this suite is where a silent fallback would show.
    assert speedups.COMPILED, "collectors/_speedups.pyx was not built: install a C compiler, then `pip install -e .`"


@given(NUMBERISH, st.integers(0, 18))
@example("9223372036854775807", 0)
@example("9223372036854775808", 0)
@example("922337203.68547758079", 10)
@example("5.0", 0)
@example("0.123456780", 8)
@example("\ud800", 8)
def test_fixed_agrees_with_python(text: str, scale: int) -> None:
    fast, slow = speedups.fixed_or_neg(text, scale), py_fixed(text, scale)
    assert fast in (-1, slow)


@given(st.integers(0, 10**6), st.text("0123456789", max_size=8), st.integers(8, 12))  # fits int64
def test_fixed_takes_every_plain_decimal_within_the_scale(whole: int, frac: str, scale: int) -> None:
    text = f"{whole}.{frac}" if frac else str(whole)
    assert speedups.fixed_or_neg(text, scale) == py_fixed(text, scale) != -1


@given(NUMBERISH, st.integers(0, 18))
def test_raw_json_numbers_agree_with_python(text: str, scale: int) -> None:
    fast = speedups.fixed_raw_or_neg(msgspec.Raw(text.encode("utf-8", "surrogatepass")), scale)
    assert fast in (-1, py_fixed(text, scale))


def test_kraken_numbers_keep_their_python_errors() -> None:
    assert _num(msgspec.Raw(b"90000.5"), 1, "price") == 900005
    assert _num(msgspec.Raw(b"1e-08"), 8, "qty") == 1  # exponent: the Python path
    assert _num(msgspec.Raw(b"0.0"), 8, "qty", positive=False) == 0
    with pytest.raises(Reject, match="non_positive"):
        _num(msgspec.Raw(b"0.0"), 8, "qty")
    with pytest.raises(Reject, match="bad_number"):
        _num(msgspec.Raw(b"0.123456789"), 8, "qty")


@given(STAMPISH)
@example("2024-02-29T23:59:60.123456789Z")
@example("2023-02-29T00:00:00Z")
@example("2026-03-02T14:30:00.Z")
@example("2026-03-02T14:30:00.1234567890Z")
@example("2201-01-01T00:00:00Z")
def test_timestamps_agree_with_python(text: str) -> None:
    fast = speedups.rfc3339_or_neg(text)
    assert fast in (-1, py_stamp(text))


@given(st.datetimes(datetime.datetime(1970, 1, 1), datetime.datetime(2200, 12, 31)), st.integers(0, 9))
def test_timestamps_are_taken_in_c(dt: datetime.datetime, digits: int) -> None:
    text = dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{dt.microsecond:06d}999"[: digits + 1] if digits else "") + "Z"
    assert speedups.rfc3339_or_neg(text) == py_stamp(text) != -1


@given(st.text(alphabet="0123456789.-+ \u0660", max_size=20))
@example("00000000000001")  # fits, but longer than any real id: the rule refuses it
@example("1099511627775")
@example("1099511627776")
def test_trade_ids_follow_the_rule(text: str) -> None:
    rule = text.isdigit() and text.isascii() and len(text) <= 13 and int(text) <= TRADE_ID_MAX
    try:
        got: int | None = _trade_id(text)
    except Reject:
        got = None
    assert got == (int(text) if rule else None)


INT64_MAX = (1 << 63) - 1
LEVELS = st.dictionaries(st.integers(0, INT64_MAX), st.integers(1, INT64_MAX), max_size=30)


def py_kraken_crc(book: Book, n: int) -> int:
    """Kraken's documented checksum, spelled out: the top asks then the top bids, "{price}{qty}" each."""
    text = "".join(f"{p}{q}" for p, q in book.asks.top(n)) + "".join(f"{p}{q}" for p, q in book.bids.top(n))
    return zlib.crc32(text.encode())


@given(LEVELS, LEVELS, st.integers(0, 25))
@example({}, {}, CHECKSUM_LEVELS)
@example({0: 1, INT64_MAX: INT64_MAX}, {INT64_MAX - 1: 10**18}, CHECKSUM_LEVELS)
def test_the_kraken_checksum_agrees_with_its_definition(asks: dict[int, int], bids: dict[int, int], n: int) -> None:
    book = Book(1)
    for price, qty in asks.items():
        book.asks.set(price, qty)
    for price, qty in bids.items():
        book.bids.set(price, qty)
    a, b = book.asks, book.bids
    assert speedups.kraken_crc_or_neg(a.keys, a.levels, b.keys, b.levels, n) == py_kraken_crc(book, n)


def test_the_kraken_checksum_leaves_what_it_cannot_render_to_python() -> None:
    crc = speedups.kraken_crc_or_neg
    assert crc([5], {5: 1}, [], {}, 26) == -1  # past the C buffer's 25 levels a side
    assert crc([5], {5: 1}, [], {}, -1) == -1
    assert crc([5], {5: -1}, [], {}, 10) == -1  # negative: never in a book, not rendered the same way
    assert crc([1 << 63], {1 << 63: 1}, [], {}, 10) == -1  # past int64
    assert crc([5], {5: 1}, [-7], {7: 2}, 10) == zlib.crc32(b"5172")  # bids keyed by -price, as BookSide keeps them


_RUN_SESSIONS = """
import hashlib, sys
from pathlib import Path
if sys.argv[1] == "blocked":
    sys.modules["alphapulse.collectors._speedups"] = None  # as if built without a C compiler
sys.path.insert(0, sys.argv[3])
from collector_harness import Harness, read_lines
from alphapulse.collectors import speedups
fixtures = Path(sys.argv[2])
digest, size = hashlib.sha256(), 0
for venue in ("kraken", "coinbase", "binance"):
    for name in ("session.jsonl", "gap_session.jsonl", "malformed.jsonl"):
        h = Harness(fixtures, venue)
        h.feed(read_lines(fixtures / venue / name))
        digest.update(b"".join(h.published))
        size += sum(map(len, h.published))
        digest.update(repr(sorted(h.parser.stats.errors.items())).encode())
print(speedups.COMPILED, digest.hexdigest(), size)
"""


def test_without_the_c_module_every_session_gives_the_same_bytes(fixtures_dir: Path) -> None:
    """The fallback is what runs where no C compiler was found: it must publish exactly the same frames."""
    here = str(Path(__file__).parent)
    runs = {
        mode: subprocess.run(
            [sys.executable, "-c", _RUN_SESSIONS, mode, str(fixtures_dir), here],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout.split()
        for mode in ("compiled", "blocked")
    }
    assert runs["compiled"][0] == "True"
    assert runs["blocked"][0] == "False"
    assert runs["compiled"][1:] == runs["blocked"][1:]
    assert int(runs["compiled"][2]) > 100_000  # the sessions' thousands of frames, not an empty run
