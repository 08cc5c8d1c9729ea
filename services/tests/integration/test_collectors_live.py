"""The real collector over real WebSockets and its real feed socket: sessions, gaps, kills, garbage, rotation."""

import asyncio
import itertools
import json
from pathlib import Path

import pytest
from collector_live_harness import (
    FAST,
    PATHS,
    expected_trades,
    feed_for,
    read_lines,
    rest_routes,
    running,
)
from venue_server import VenueServer

from alphapulse.collectors.kraken import KrakenParser, kraken_checksum
from alphapulse.collectors.output import FrameWriter
from alphapulse.collectors.symbols import SymbolMap
from alphapulse.collectors.transport import CLIENTS
from alphapulse.protocol import (
    BookLevel,
    Control,
    ControlOp,
    Exchange,
    Feed,
    FeedState,
    Gap,
    GapReason,
    Instrument,
    SnapshotEnd,
    Status,
    Trade,
    from_fixed,
    to_decimal,
)

VENUES = ("kraken", "coinbase", "binance")
KRAKEN_HEARTBEAT = b'{"channel":"heartbeat"}'


@pytest.fixture(autouse=True, params=CLIENTS)
def ws_client(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs with each WebSocket client (ALPHAPULSE_WS_CLIENT)."""
    name: str = request.param
    monkeypatch.setenv("ALPHAPULSE_WS_CLIENT", name)
    return name


def n_trades(n: int):  # type: ignore[no-untyped-def]
    return lambda frames: sum(isinstance(f, Trade) for f in frames) >= n


@pytest.mark.parametrize("venue", VENUES)
async def test_session_over_a_websocket_gives_the_expected_trades(
    fixtures_dir: Path, sock_dir: Path, venue: str
) -> None:
    lines = read_lines(fixtures_dir / venue / "session.jsonl")
    expected = expected_trades(fixtures_dir, venue)
    async with VenueServer(lines, rest=rest_routes(fixtures_dir, venue)) as server:
        feed = feed_for(fixtures_dir, venue, server.url(PATHS[venue]), server.rest_url if server.rest else None)
        async with running(feed, sock_dir) as (collector, reader):
            server.gate.set()
            await reader.wait_for(n_trades(len(expected)))
            await asyncio.sleep(0.1)  # nothing more may come
            assert reader.trades() == expected
            frames = reader.frames
            assert isinstance(frames[0], Feed) and frames[0].name == feed.name
            first_market = next(i for i, f in enumerate(frames) if isinstance(f, (Trade, BookLevel)))
            assert {f.symbol for f in frames[:first_market] if isinstance(f, Instrument)} == set(feed.symbols)
            states = [f.state for f in frames if isinstance(f, Status)]
            assert FeedState.SUBSCRIBED in states
            assert not any(isinstance(f, Gap) for f in frames)
            assert collector.parser.stats.errors == {}
            seqs = [f.seq for f in frames[1:]]
            assert all(b > a for a, b in itertools.pairwise(seqs)), "the feed sequence only grows"


@pytest.mark.parametrize("venue", VENUES)
async def test_gap_session_gives_a_gap_frame(fixtures_dir: Path, sock_dir: Path, venue: str) -> None:
    lines = read_lines(fixtures_dir / venue / "gap_session.jsonl")
    reason = {"kraken": GapReason.CHECKSUM, "coinbase": GapReason.EXCHANGE, "binance": GapReason.EXCHANGE}[venue]
    async with VenueServer(lines, rest=rest_routes(fixtures_dir, venue)) as server:
        feed = feed_for(fixtures_dir, venue, server.url(PATHS[venue]), server.rest_url if server.rest else None)
        async with running(feed, sock_dir) as (_collector, reader):
            server.gate.set()
            await reader.wait_for(lambda fs: any(isinstance(f, Gap) and f.reason == reason for f in fs))
            gap_at = next(i for i, f in enumerate(reader.frames) if isinstance(f, Gap))
            status = reader.frames[gap_at + 1]
            assert isinstance(status, Status) and status.state == FeedState.RESYNCING


async def test_killed_server_gives_status_and_gap_then_a_clean_reconnect(fixtures_dir: Path, sock_dir: Path) -> None:
    lines = read_lines(fixtures_dir / "kraken" / "session.jsonl")
    expected = expected_trades(fixtures_dir, "kraken")
    half = len(lines) // 2
    # the first connection dies halfway; the second replays the whole session (trades seen twice)
    async with VenueServer(lines, lines_for=lambda i: lines[:half] if i == 0 else lines) as server:
        feed = feed_for(fixtures_dir, "kraken", server.url("/v2"))
        async with running(feed, sock_dir) as (collector, reader):
            server.gate.set()
            await asyncio.wait_for(server.done.wait(), 10)
            await asyncio.sleep(0.1)
            server.kill()
            await reader.wait_for(n_trades(len(expected)))
            await asyncio.sleep(0.1)
            frames = reader.frames
            down = next(i for i, f in enumerate(frames) if isinstance(f, Status) and f.state == FeedState.DISCONNECTED)
            gap = frames[down + 1]
            assert isinstance(gap, Gap) and gap.reason == GapReason.RECONNECT and gap.symbol_id == 0
            after = [f.state for f in frames[down:] if isinstance(f, Status)]
            assert after[:4] == [
                FeedState.DISCONNECTED,
                FeedState.CONNECTING,
                FeedState.CONNECTED,
                FeedState.SUBSCRIBED,
            ]
            assert reader.trades() == expected, "no trade lost, none twice"
            assert collector.metrics.reconnects == 1
            assert len(server.conns) == 2


@pytest.mark.parametrize("venue", VENUES)
async def test_malformed_messages_are_counted_and_skipped(fixtures_dir: Path, sock_dir: Path, venue: str) -> None:
    session = read_lines(fixtures_dir / venue / "session.jsonl")
    bad = read_lines(fixtures_dir / venue / "malformed.jsonl")
    index = json.loads((fixtures_dir / venue / "malformed_index.json").read_text())
    lines = session[:60] + [b for b in bad if b] + session[60:]  # an empty WebSocket frame is sent too, below
    lines = session[:60] + bad + session[60:]
    expected = expected_trades(fixtures_dir, venue)
    async with VenueServer(lines, rest=rest_routes(fixtures_dir, venue)) as server:
        feed = feed_for(fixtures_dir, venue, server.url(PATHS[venue]), server.rest_url if server.rest else None)
        async with running(feed, sock_dir) as (collector, reader):
            server.gate.set()
            await reader.wait_for(n_trades(len(expected)))
            await asyncio.sleep(0.1)
            assert reader.trades() == expected
            rejected = sum(1 for e in index if e["expect"] in ("reject", "error"))
            samples = collector.registry.collect()
            counted = sum(
                s.value
                for m in samples
                if m.name == "alphapulse_collector_parse_errors"
                for s in m.samples
                if s.name.endswith("_total")
            )
            assert counted == rejected
            assert not any(isinstance(f, Gap) for f in reader.frames)
            assert len(server.conns) == 1, "garbage never costs the connection"


def kraken_reference(fixtures_dir: Path, lines: list[bytes]) -> KrakenParser:
    smap = SymbolMap(Exchange.KRAKEN, ["BTC-USD", "ETH-USD", "SOL-USD"])
    parser = KrakenParser(FrameWriter(1, Exchange.KRAKEN, "ref", 0), smap)
    parser.on_connect()
    for line in lines:
        parser.feed(line, 0)
        parser.out.flush()
    return parser


def kraken_snapshot(parser: KrakenParser) -> bytes:
    spec = parser.instruments["BTC/USD"]
    book = parser.books.get(spec.info.symbol_id)
    ps, qs = spec.price_scale, spec.qty_scale

    def levels(side):  # type: ignore[no-untyped-def]
        return ",".join(f'{{"price":{from_fixed(p, ps)},"qty":{from_fixed(q, qs)}}}' for p, q in side)

    return (
        f'{{"channel":"book","type":"snapshot","data":[{{"symbol":"BTC/USD","bids":[{levels(book.bids)}],'
        f'"asks":[{levels(book.asks)}],"checksum":{kraken_checksum(book)},"timestamp":"2026-03-02T14:30:30.000000Z"}}]}}'
    ).encode()


async def _book_via_snapshot_request(reader, sid: int) -> list[BookLevel]:  # type: ignore[no-untyped-def]
    start = len(reader.frames)
    reader.send(Control(ControlOp.SNAPSHOT, symbol_id=sid, request_id=77))
    await reader.wait_for(lambda fs: any(isinstance(f, SnapshotEnd) and f.request_id == 77 for f in fs[start:]))
    return [f for f in reader.frames[start:] if isinstance(f, BookLevel) and f.snapshot]


async def test_kraken_checksum_mismatch_resyncs_to_the_correct_book(fixtures_dir: Path, sock_dir: Path) -> None:
    session = read_lines(fixtures_dir / "kraken" / "session.jsonl")
    gap_lines = read_lines(fixtures_dir / "kraken" / "gap_session.jsonl")

    def on_message(conn, msg: str) -> list[bytes]:  # type: ignore[no-untyped-def]
        # a book subscribe after the first: answer with the book as it stands now (gap line k >= 169 = session k + 1)
        if '"channel":"book"' in msg and '"subscribe"' in msg and conn.sent > 10:
            upto = conn.sent + 1 if conn.sent >= 169 else conn.sent
            return [kraken_snapshot(kraken_reference(fixtures_dir, session[:upto]))]
        return []

    async with VenueServer(gap_lines, delay_s=0.002, on_message=on_message, idle_line=KRAKEN_HEARTBEAT) as server:
        feed = feed_for(fixtures_dir, "kraken", server.url("/v2"))
        async with running(feed, sock_dir) as (collector, reader):
            server.gate.set()
            await asyncio.wait_for(server.done.wait(), 15)
            await reader.wait_for(
                lambda fs: any(
                    isinstance(f, Status) and f.state == FeedState.SUBSCRIBED
                    for f in fs[next((i for i, f in enumerate(fs) if isinstance(f, Gap)), len(fs)) :]
                )
            )
            await asyncio.sleep(0.2)
            assert collector.parser.stats.checksum_failures == 1
            reference = kraken_reference(fixtures_dir, session)
            spec = reference.instruments["BTC/USD"]
            want = [(to_decimal(p, 1), to_decimal(q, 8)) for p, q in reference.books.get(spec.info.symbol_id).bids]
            levels = await _book_via_snapshot_request(reader, spec.info.symbol_id)
            got = [(to_decimal(f.price, 1), to_decimal(f.qty, 8)) for f in levels if f.side == 1]
            assert got == want and len(levels) == 20


async def test_binance_broken_chain_resyncs_to_the_correct_book(fixtures_dir: Path, sock_dir: Path) -> None:
    meta = json.loads((fixtures_dir / "binance" / "session_meta.json").read_text())
    gap_lines = read_lines(fixtures_dir / "binance" / "gap_session.jsonl")
    routes = rest_routes(fixtures_dir, "binance")
    first_depth = routes["/api/v3/depth"]
    final = meta["final_book_BTCUSDT"]
    last_u = max(json.loads(x)["data"]["u"] for x in gap_lines if b"depthUpdate" in x)
    server_ref: list[VenueServer] = []

    def depth(target: str) -> bytes:
        # the first answer is the recorded snapshot; once the stream broke, the book as it ends
        if sum("/api/v3/depth" in r for r in server_ref[0].rest_requests) <= 1:
            return first_depth(target)
        return json.dumps({"lastUpdateId": last_u, "bids": final["bids"], "asks": final["asks"]}).encode()

    routes["/api/v3/depth"] = depth
    async with VenueServer(gap_lines, rest=routes) as server:
        server_ref.append(server)
        feed = feed_for(fixtures_dir, "binance", server.url("/stream"), server.rest_url)
        async with running(feed, sock_dir) as (collector, reader):
            server.gate.set()
            await asyncio.wait_for(server.done.wait(), 15)
            await reader.wait_for(lambda fs: sum(isinstance(f, SnapshotEnd) for f in fs) >= 2)
            sid = collector.parser.instruments["BTCUSDT"].info.symbol_id
            levels = await _book_via_snapshot_request(reader, sid)
            got = {
                "bids": [[from_fixed(f.price, 2), from_fixed(f.qty, 5)] for f in levels if f.side == 1],
                "asks": [[from_fixed(f.price, 2), from_fixed(f.qty, 5)] for f in levels if f.side == 2],
            }
            norm = {k: [[str(float(p)), str(float(q))] for p, q in v] for k, v in final.items()}
            assert {k: [[str(float(p)), str(float(q))] for p, q in v] for k, v in got.items()} == norm
            assert any(isinstance(f, Gap) and f.reason == GapReason.EXCHANGE for f in reader.frames)


async def test_binance_rotation_overlaps_without_gap_or_duplicate(fixtures_dir: Path, sock_dir: Path) -> None:
    lines = read_lines(fixtures_dir / "binance" / "session.jsonl")
    lines = [x for x in lines if b"serverShutdown" not in x]  # rotation by the clock alone here
    expected = expected_trades(fixtures_dir, "binance")
    settings = FAST.__class__(
        **{**{k: getattr(FAST, k) for k in FAST.__slots__}, "rotate_after_s": 2.0, "overlap_max_s": 1.0}
    )
    async with VenueServer(lines, rest=rest_routes(fixtures_dir, "binance")) as server:
        feed = feed_for(fixtures_dir, "binance", server.url("/stream"), server.rest_url)
        async with running(feed, sock_dir, settings=settings) as (collector, reader):
            server.gate.set()
            await reader.wait_for(n_trades(len(expected)))
            for _ in range(100):
                if collector.connection is not None and collector.connection.rotations >= 1:
                    break
                await asyncio.sleep(0.05)
            assert collector.connection is not None and collector.connection.rotations == 1
            await asyncio.sleep(0.3)
            assert len(server.conns) >= 2
            assert reader.trades() == expected
            assert not any(isinstance(f, Gap) for f in reader.frames)
            assert not any(isinstance(f, Status) and f.state == FeedState.DISCONNECTED for f in reader.frames)


async def test_binance_server_shutdown_event_rotates(fixtures_dir: Path, sock_dir: Path) -> None:
    lines = read_lines(fixtures_dir / "binance" / "session.jsonl")
    expected = expected_trades(fixtures_dir, "binance")
    async with VenueServer(lines, rest=rest_routes(fixtures_dir, "binance")) as server:
        feed = feed_for(fixtures_dir, "binance", server.url("/stream"), server.rest_url)
        settings = FAST.__class__(**{**{k: getattr(FAST, k) for k in FAST.__slots__}, "rotate_after_s": 3600.0})
        async with running(feed, sock_dir, settings=settings) as (collector, reader):
            server.gate.set()
            await reader.wait_for(n_trades(len(expected)))
            for _ in range(100):
                if collector.connection is not None and collector.connection.rotations >= 1:
                    break
                await asyncio.sleep(0.05)
            assert collector.connection is not None and collector.connection.rotations >= 1
            assert reader.trades() == expected
            assert not any(isinstance(f, Gap) for f in reader.frames)


async def test_a_silent_connection_is_stale_and_replaced(fixtures_dir: Path, sock_dir: Path) -> None:
    lines = read_lines(fixtures_dir / "kraken" / "session.jsonl")
    expected = expected_trades(fixtures_dir, "kraken")
    settings = FAST.__class__(**{**{k: getattr(FAST, k) for k in FAST.__slots__}, "idle_timeout_s": 0.5})
    async with VenueServer(lines) as server:  # no heartbeats after the session: the venue went quiet
        feed = feed_for(fixtures_dir, "kraken", server.url("/v2"))
        async with running(feed, sock_dir, settings=settings) as (_collector, reader):
            server.gate.set()
            await reader.wait_for(
                lambda fs: sum(isinstance(f, Status) and f.state == FeedState.SUBSCRIBED for f in fs) >= 2
            )
            states = [f.state for f in reader.frames if isinstance(f, Status)]
            first = states.index(FeedState.SUBSCRIBED)
            # the reader attaches while the collector starts: one that comes late gets the state current
            # then first (the feed's hello), so the start may be cut short, never reordered
            assert states[:first] in ([FeedState.CONNECTING, FeedState.CONNECTED], [FeedState.CONNECTED], [])
            assert states[first : first + 4] == [
                FeedState.SUBSCRIBED,
                FeedState.STALE,
                FeedState.DISCONNECTED,
                FeedState.CONNECTING,
            ]
            assert any(isinstance(f, Gap) and f.reason == GapReason.RECONNECT for f in reader.frames)
            assert reader.trades() == expected


async def test_late_reader_gets_state_first_and_metrics_are_served(fixtures_dir: Path, sock_dir: Path) -> None:
    import httpx
    from collector_live_harness import FeedReader

    from alphapulse.settings import feed_socket_path

    lines = read_lines(fixtures_dir / "binance" / "session.jsonl")
    expected = expected_trades(fixtures_dir, "binance")
    async with VenueServer(lines, rest=rest_routes(fixtures_dir, "binance")) as server:
        feed = feed_for(fixtures_dir, "binance", server.url("/stream"), server.rest_url)
        async with running(feed, sock_dir, metrics_host="127.0.0.1", metrics_port=0) as (collector, reader):
            server.gate.set()
            await reader.wait_for(n_trades(len(expected)))
            late = FeedReader()
            await late.connect(feed_socket_path(sock_dir, feed.name))
            try:
                await late.wait_for(lambda fs: len(fs) >= 5)
                head = late.frames[:5]
                assert isinstance(head[0], Feed) and head[0].replay
                assert all(isinstance(f, Instrument) and f.replay for f in head[1:4])
                assert isinstance(head[4], Status) and head[4].replay and head[4].state == FeedState.SUBSCRIBED
            finally:
                await late.close()
            assert collector.metrics_server is not None
            base = f"http://127.0.0.1:{collector.metrics_server.port}"
            async with httpx.AsyncClient() as client:
                text = (await client.get(f"{base}/metrics")).text
                health = await client.get(f"{base}/healthz")
            assert health.status_code == 200
            for name in (
                "alphapulse_collector_messages_total",
                "alphapulse_collector_frames_total",
                "alphapulse_collector_reconnects_total",
                "alphapulse_collector_connected",
                "alphapulse_collector_socket_latency_seconds_bucket",
                "alphapulse_collector_exchange_latency_seconds_bucket",
                "alphapulse_collector_replay_ring_bytes",
                "alphapulse_collector_replay_ring_cells",
                "alphapulse_collector_resumes_total",
            ):
                assert name in text, name
            assert 'alphapulse_collector_frames_total{feed="it-binance",type="trade"} 151.0' in text
            assert 'alphapulse_collector_connected{feed="it-binance"} 1.0' in text
