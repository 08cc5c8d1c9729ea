"""FeedServer.publish: coalesced per loop iteration by default, written at once with ``now=True``
(the collector, which already writes once per socket read), never out of order; and a paced
RelayClient (the writer), which reads many small writes at once instead of waking for each."""

import asyncio
import socket
from pathlib import Path

from alphapulse.protocol import pack_trade
from alphapulse.transport import FeedServer, RelayClient


async def _reader(server: FeedServer, path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(path))
    sock.setblocking(False)
    while not server.readers:  # the server exposes no event for a new reader
        await asyncio.sleep(0.001)
    return sock


def _available(sock: socket.socket) -> bytes:
    try:
        return sock.recv(1 << 16)
    except BlockingIOError:
        return b""


async def test_publish_now_writes_before_the_loop_turns_and_keeps_order(tmp_path: Path) -> None:
    path = tmp_path / "feed.sock"
    server = FeedServer(path)
    await server.start()
    sock = await _reader(server, path)
    try:
        server.publish(b"a" * 48, now=True)
        assert _available(sock) == b"a" * 48  # no await in between: written inside the call
        server.publish(b"b" * 48)  # deferred to the end of this loop iteration
        server.publish(b"c" * 48, now=True)  # must not overtake b: it joins the pending write
        assert _available(sock) == b""
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert _available(sock) == b"b" * 48 + b"c" * 48
    finally:
        sock.close()
        await server.close()


async def test_a_paced_consumer_takes_many_small_writes_in_few_reads_and_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "feed.sock"
    server = FeedServer(path)
    await server.start()
    reads: list[bytes] = []
    client = RelayClient([f"unix:{path}"], reads.append, name="paced", read_interval_s=1.0)
    task = asyncio.create_task(client.run())
    try:
        while not server.readers:  # the server exposes no event for a new reader
            await asyncio.sleep(0.001)
        cells = [pack_trade(7, seq, 1, seq, 1, 1, 100, 1) for seq in range(20)]
        for cell in cells:
            server.publish(cell, now=True)  # twenty writes, one per loop iteration
            await asyncio.sleep(0)
        while sum(map(len, reads)) < 20 * len(cells[0]):
            await asyncio.sleep(0.01)
        assert b"".join(reads) == b"".join(cells)
        assert len(reads) < 5  # woke a few times, not twenty (the first read, then whatever gathered)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.close()
