"""docs/protocol.md agrees with the code: every byte table, the enum values, the ids and the example.

Each layout table in the page is preceded by ``<!-- layout: NAME -->``; its (offset, size, type)
rows must be exactly the code's ``struct`` format, and each named field must hold that field's
value in the encoded golden frames.
"""

import json
import re
import struct
from enum import IntEnum
from pathlib import Path

import pytest

from alphapulse.protocol import (
    CELL_BYTES,
    ControlOp,
    Exchange,
    FeedState,
    Frame,
    FrameType,
    GapReason,
    Side,
    decode,
    encode,
    feed_id,
    symbol_id,
    wire,
)
from alphapulse.protocol.frames import type_mask

DOC = Path(__file__).resolve().parents[4] / "docs" / "protocol.md"
TEXT = DOC.read_text()

LAYOUTS: dict[str, struct.Struct] = {
    "HEADER": wire.HEADER,
    **{t.name: s for t, s in wire.CELL.items() for t in [FrameType(t)]},
    "INSTRUMENT_0": wire.INSTRUMENT_0,
    "INSTRUMENT_1": wire.INSTRUMENT_1,
    "FEED_0": wire.FEED_0,
    "FEED_1": wire.FEED_1,
}
TYPE_NAMES = {"B": "u8", "I": "u32", "Q": "u64", "q": "i64", "x": "pad", "s": "bytes"}
Row = tuple[int, int, str, str]


def expand(layout: struct.Struct) -> list[tuple[int, int, str]]:
    """(offset, size, type) per field of a little-endian struct format; a pad or string run is one field."""
    fmt = layout.format
    assert fmt.startswith("<")
    out: list[tuple[int, int, str]] = []
    offset = 0
    for count_text, code in re.findall(r"(\d*)([A-Za-z])", fmt[1:]):
        count = int(count_text or 1)
        if code in "xs":
            out.append((offset, count, TYPE_NAMES[code]))
            offset += count
            continue
        size = struct.calcsize("<" + code)
        for _ in range(count):
            out.append((offset, size, TYPE_NAMES[code]))
            offset += size
    assert offset == layout.size
    return out


def doc_tables() -> dict[str, list[Row]]:
    tables: dict[str, list[Row]] = {}
    for match in re.finditer(r"<!-- layout: (\w+) -->\n((?:\|.*\n)+)", TEXT):
        rows: list[Row] = []
        for line in match.group(2).splitlines()[2:]:  # skip the heading and the alignment row
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows.append((int(cells[0]), int(cells[1]), cells[2], cells[3]))
        assert match.group(1) not in tables, f"layout {match.group(1)} documented twice"
        tables[match.group(1)] = rows
    return tables


TABLES = doc_tables()


def test_every_layout_is_documented_once() -> None:
    assert set(TABLES) == set(LAYOUTS)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_table_matches_struct(name: str) -> None:
    documented = [(offset, size, kind) for offset, size, kind, _ in TABLES[name]]
    assert documented == expand(LAYOUTS[name])


@pytest.mark.parametrize("name", sorted(set(LAYOUTS) - {"HEADER"}))
def test_every_cell_table_starts_with_the_header(name: str) -> None:
    header = [(o, s, k) for o, s, k, _ in TABLES["HEADER"]]
    assert [(o, s, k) for o, s, k, _ in TABLES[name][:6]] == header
    assert sum(size for _, size, _, _ in TABLES[name]) == CELL_BYTES


# field name in a table -> (frame attribute, which cell) where the two differ
ALIASES: dict[str, dict[str, str]] = {"QUOTE": {"price": "bid_price", "qty": "bid_qty"}}
READ = {"u8": "<B", "u32": "<I", "u64": "<Q", "i64": "<q"}


def _golden_frames() -> list[Frame]:
    """The valid golden vectors, decoded (test_protocol_vectors pins decode against their fields)."""
    frames = []
    for line in (Path(__file__).with_name("golden_frames.jsonl")).read_text().splitlines():
        doc = json.loads(line)
        if "hex" in doc:
            text = re.sub(r"\b([0-9a-f]{2})\*(\d+)", lambda m: m.group(1) * int(m.group(2)), doc["hex"])
            frames.append(decode(bytes.fromhex(text.replace("|", " "))))
    return frames


def _layouts_of(frame: Frame) -> list[tuple[str, int]]:
    ftype = FrameType(encode(frame)[1])
    if ftype in (FrameType.INSTRUMENT, FrameType.FEED):
        return [(f"{ftype.name}_0", 0), (f"{ftype.name}_1", CELL_BYTES)]
    return [(ftype.name, 0)]


def test_documented_fields_hold_the_frame_values() -> None:
    """Read each named numeric field at its documented offset in encoded golden frames."""
    checked: dict[str, int] = {}
    for frame in _golden_frames():
        wire_bytes = encode(frame)
        for layout, base in _layouts_of(frame):
            for offset, _size, kind, field in TABLES[layout]:
                attr = ALIASES.get(layout, {}).get(field, field)
                if kind not in READ or not hasattr(frame, attr):
                    continue
                value = struct.unpack_from(READ[kind], wire_bytes, base + offset)[0]
                expected = int(getattr(frame, attr))
                if attr == "seq":
                    expected = (expected + base // CELL_BYTES) % (1 << 32)
                assert value == expected, f"{layout}.{field} at offset {offset}"
                checked[layout] = checked.get(layout, 0) + 1
    assert set(checked) == set(LAYOUTS) - {"HEADER"}


def _doc_enum_table(enum_name: str) -> dict[str, int]:
    match = re.search(rf"\| `{enum_name}` \|.*\n\|[-|: ]+\n((?:\|.*\n)+)", TEXT)
    assert match, enum_name
    rows = {}
    for line in match.group(1).splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = int(cells[1])
    return rows


@pytest.mark.parametrize("enum", [FrameType, Exchange, Side, FeedState, GapReason, ControlOp])
def test_enum_tables_match(enum: type[IntEnum]) -> None:
    assert _doc_enum_table(enum.__name__) == {m.name: m.value for m in enum}


def test_type_mask_column_matches() -> None:
    for line in TEXT.splitlines():
        m = re.match(r"\| `(\w+)` \| (\d+) \| (\d) \| (symbol|feed) id \| `(0x[0-9a-f]+)` \|", line)
        if m:
            ftype = FrameType[m.group(1)]
            assert int(m.group(5), 16) == type_mask(ftype)
            assert int(m.group(3)) == wire.CELLS.get(ftype, 1)


def test_documented_ids_match_the_derivation() -> None:
    rows = re.findall(r"\| `(\w+):([\w-]+)` \| `(0x[0-9a-f]{8})` \| `([0-9a-f ]+)` \|", TEXT)
    assert len(rows) >= 6
    for prefix, name, hex_id, wire_bytes in rows:
        expected = feed_id(name) if prefix == "feed" else symbol_id(prefix, name)
        assert int(hex_id, 16) == expected
        assert bytes.fromhex(wire_bytes) == expected.to_bytes(4, "little")


def test_worked_example_is_the_golden_trade() -> None:
    from alphapulse.protocol import Exchange as Ex
    from alphapulse.protocol import Trade

    match = re.search(r"```\n([0-9a-f]{96})\n```", TEXT)
    assert match
    wire_bytes = bytes.fromhex(match.group(1))
    trade = decode(wire_bytes)
    assert trade == Trade(
        symbol_id(Ex.KRAKEN, "BTC-USD"),
        0x01020304,
        Side.BUY,
        78187493530,
        1_700_000_000_123_456_789,
        1_700_000_000_124_000_000,
        654321,
        1234567,
    )
    dump = re.search(r"offset  bytes +field\n((?:[0-9a-f]{2} .*\n)+)", TEXT)
    assert dump
    rebuilt = b"".join(bytes.fromhex(line[8:35]) for line in dump.group(1).splitlines())
    assert rebuilt == wire_bytes


def test_python_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), {})
