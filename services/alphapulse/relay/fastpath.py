"""The relay's two per-read checks: in C (``_fastpath.pyx``) when it was compiled at install, else here.

Both work on whole cells and keep no state; the C versions give exactly what these give, for every input
(the tests check both on the same inputs), so without a C compiler the relay behaves the same, a little
slower per read.
"""

import functools

from alphapulse.protocol.wire import CELL_BYTES, SEQ_MOD

__all__ = ("COMPILED", "live_run_next_seq", "live_run_next_seq_py", "select_cells", "select_cells_py")


def live_run_next_seq_py(chunk: bytes, next_seq: int, version: int, plain_types: bytes, replay_flag: int) -> int:
    """The feed's next sequence number after ``chunk`` if it is a run of plain live cells (``version``,
    a type marked in the 256-byte table ``plain_types``, no ``replay_flag``) whose numbers continue
    ``next_seq`` (-1: any start); -1 otherwise. Why the first and last cells suffice: ``core.ingest_fast``."""
    n = len(chunk) // CELL_BYTES
    if not n or len(plain_types) != 256:
        return -1
    # whole-buffer byte operations (C speed even here): a version count, a type table, a flag scan
    if chunk[0::CELL_BYTES].count(version) != n or 0 in chunk[1::CELL_BYTES].translate(plain_types):
        return -1
    if chunk[2::CELL_BYTES].translate(None, _flags_without(replay_flag)):
        return -1
    first = int.from_bytes(chunk[8:12], "little")
    last = int.from_bytes(chunk[len(chunk) - CELL_BYTES + 8 : len(chunk) - CELL_BYTES + 12], "little")
    if (next_seq >= 0 and first != next_seq) or (last - first) % SEQ_MOD != n - 1:
        return -1
    return (last + 1) % SEQ_MOD


@functools.cache
def _flags_without(flag: int) -> bytes:
    return bytes(f for f in range(256) if not f & flag)


def select_cells_py(chunk: bytes, base: int, by_symbol: dict[int, int], any_symbol: int, keyed: int) -> bytes:
    """The cells of ``chunk`` a consumer keeps: a cell of type t passes if bit t is in ``base``, or, for
    the ``keyed`` types, in its symbol's mask in ``by_symbol`` (symbol id -> type mask), or, for the
    others, in ``any_symbol``. Returns ``chunk`` itself when every cell passes."""
    keys = memoryview(chunk).cast("I")[1::12].tolist()
    kept: list[int] = []
    for i, ftype in enumerate(chunk[1::CELL_BYTES]):
        bit = 1 << ftype
        if bit & base or (by_symbol.get(keys[i], 0) if bit & keyed else any_symbol) & bit:
            kept.append(i)
    if len(kept) * CELL_BYTES == len(chunk):
        return chunk
    return b"".join([chunk[i * CELL_BYTES : (i + 1) * CELL_BYTES] for i in kept])


try:
    from alphapulse.relay._fastpath import live_run_next_seq, select_cells

    COMPILED = True
except ImportError:  # built without a C compiler (the extension is optional)
    COMPILED = False
    live_run_next_seq = live_run_next_seq_py
    select_cells = select_cells_py
