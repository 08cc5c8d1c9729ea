"""FeedServer.publish: coalesced per loop iteration by default, written at once with ``now=True``
(the collector, which already writes once per socket read), never out of order."""

import asyncio
import socket
from pathlib import Path

from alphapulse.transport import FeedServer


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
