"""The relay's per-read checks in C (relay/_fastpath.pyx) give exactly what their Python originals give."""

import random
import subprocess
import sys

from hypothesis import example, given, settings
from hypothesis import strategies as st

from alphapulse.protocol import CELL_BYTES, VERSION, FrameType, pack_trade
from alphapulse.protocol.wire import FLAG_REPLAY, SEQ_MOD
from alphapulse.relay import fastpath
from alphapulse.relay.core import _PLAIN_TYPES, _SYMBOL_KEYED_BITS

# a cell: (version, type, flags, symbol key, seq)
CELLS = st.lists(
    st.tuples(
        st.sampled_from([VERSION, VERSION, VERSION, 0, 255]),
        st.one_of(st.sampled_from(list(FrameType)), st.integers(0, 255)),
        st.sampled_from([0, 0, 0, FLAG_REPLAY, 1, FLAG_REPLAY | 1, 255]),
        st.sampled_from([0, 7, 8, 2**32 - 1]),
        st.one_of(st.just(None), st.integers(0, SEQ_MOD - 1)),  # None: the previous cell's seq + 1
    ),
    max_size=24,
)


def chunk_of(cells: list[tuple[int, int, int, int, int | None]], start: int) -> bytes:
    out = bytearray()
    seq = start
    for version, ftype, flags, key, explicit in cells:
        seq = explicit if explicit is not None else seq
        cell = bytearray(pack_trade(1, seq, 1, seq, 1, 1, 1, 1))
        cell[0], cell[1], cell[2] = version, ftype, flags
        cell[4:8] = key.to_bytes(4, sys.byteorder)
        cell[8:12] = seq.to_bytes(4, "little")
        out += cell
        seq = (seq + 1) % SEQ_MOD
    return bytes(out)


def test_the_install_compiled_it() -> None:
    # a C compiler is part of the documented set-up (README); without one this is the failure to read
    assert fastpath.COMPILED, "relay/_fastpath.pyx was not built: install a C compiler, then `pip install -e .`"


@settings(max_examples=400, deadline=None)
@given(cells=CELLS, start=st.sampled_from([0, 5, SEQ_MOD - 2]), next_seq=st.sampled_from([-1, 0, 5, SEQ_MOD - 2, 9]))
@example(cells=[(VERSION, FrameType.TRADE, 0, 7, None)] * 3, start=SEQ_MOD - 2, next_seq=SEQ_MOD - 2)  # wraps
@example(cells=[], start=0, next_seq=-1)
def test_the_sequence_check_agrees_with_python(
    cells: list[tuple[int, int, int, int, int | None]], start: int, next_seq: int
) -> None:
    chunk = chunk_of(cells, start)
    args = (chunk, next_seq, VERSION, _PLAIN_TYPES, FLAG_REPLAY)
    assert fastpath.live_run_next_seq(*args) == fastpath.live_run_next_seq_py(*args)


def test_the_sequence_check_takes_a_plain_run_and_refuses_each_kind_of_break() -> None:
    cells = [(VERSION, FrameType.TRADE, 0, 7, None)] * 4
    for check in (fastpath.live_run_next_seq, fastpath.live_run_next_seq_py):
        plain = chunk_of(cells, SEQ_MOD - 2)
        assert check(plain, SEQ_MOD - 2, VERSION, _PLAIN_TYPES, FLAG_REPLAY) == 2  # across the wrap
        assert check(plain, -1, VERSION, _PLAIN_TYPES, FLAG_REPLAY) == 2  # the feed's first read
        assert check(plain, 3, VERSION, _PLAIN_TYPES, FLAG_REPLAY) == -1  # does not continue the feed
        skipped = chunk_of([*cells[:2], (VERSION, FrameType.TRADE, 0, 7, 40), cells[3]], 0)
        assert check(skipped, 0, VERSION, _PLAIN_TYPES, FLAG_REPLAY) == -1
        for at, value in ((0, VERSION + 1), (1, FrameType.STATUS), (1, FrameType.CONTROL), (2, FLAG_REPLAY)):
            bad = bytearray(plain)
            bad[2 * CELL_BYTES + at] = value
            assert check(bytes(bad), SEQ_MOD - 2, VERSION, _PLAIN_TYPES, FLAG_REPLAY) == -1, (at, value)


@settings(max_examples=400, deadline=None)
@given(
    cells=CELLS,
    base=st.integers(0, 2**32 - 1),
    by_symbol=st.dictionaries(st.sampled_from([7, 8, 9, 2**32 - 1]), st.integers(0, 2**32 - 1), max_size=3),
    any_symbol=st.integers(0, 2**32 - 1),
)
def test_the_filter_agrees_with_python(
    cells: list[tuple[int, int, int, int, int | None]], base: int, by_symbol: dict[int, int], any_symbol: int
) -> None:
    chunk = chunk_of(cells, 0)
    args = (chunk, base, by_symbol, any_symbol, _SYMBOL_KEYED_BITS)
    got, want = fastpath.select_cells(*args), fastpath.select_cells_py(*args)
    assert got == want
    if want is chunk:
        assert got is chunk  # everything kept: the same object, no copy


def test_the_filter_keeps_the_subscribed_symbols_cells_in_order() -> None:
    rng = random.Random(7)
    cells = [(VERSION, FrameType.TRADE, 0, rng.choice([7, 8]), None) for _ in range(40)]
    chunk = chunk_of(cells, 0)
    for select in (fastpath.select_cells, fastpath.select_cells_py):
        kept = select(chunk, 0, {7: 1 << FrameType.TRADE}, 0, _SYMBOL_KEYED_BITS)
        want = [chunk[i * CELL_BYTES : (i + 1) * CELL_BYTES] for i, c in enumerate(cells) if c[3] == 7]
        assert kept == b"".join(want) and 0 < len(want) < 40


def test_without_the_c_module_the_relay_uses_python() -> None:
    # the fallback a machine without a C compiler runs: the Python originals, picked at import
    code = (
        "import sys; sys.modules['alphapulse.relay._fastpath'] = None\n"
        "from alphapulse.relay import fastpath\n"
        "print(fastpath.COMPILED, fastpath.select_cells is fastpath.select_cells_py,"
        " fastpath.live_run_next_seq is fastpath.live_run_next_seq_py)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["False", "True", "True"]
