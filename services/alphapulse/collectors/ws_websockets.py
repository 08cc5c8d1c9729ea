"""The ``websockets`` client behind :class:`~alphapulse.collectors.transport.WsClient`."""

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from alphapulse.collectors.transport import ClientOptions, WsClosed, WsConnectError

__all__ = ("WebsocketsClient", "open_websockets")


class WebsocketsClient:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def recv_batch(self) -> list[bytes]:
        try:
            data = await self.ws.recv(decode=False)
        except ConnectionClosed as e:
            raise WsClosed(e.rcvd.code if e.rcvd else None) from None
        return [data]

    async def send(self, message: str) -> None:
        try:
            await self.ws.send(message)
        except ConnectionClosed as e:
            raise WsClosed(e.rcvd.code if e.rcvd else None) from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.ws.close(code, reason)


async def open_websockets(url: str, options: ClientOptions) -> WebsocketsClient:
    try:
        ws = await connect(
            url,
            open_timeout=options.open_timeout_s,
            max_size=options.max_message_bytes,
            max_queue=options.max_queue,
            ping_interval=options.ping_interval_s,
            ping_timeout=options.ping_timeout_s,
            compression=None,
            close_timeout=options.close_timeout_s,
        )
    except (InvalidHandshake, InvalidURI) as e:
        raise WsConnectError(repr(e)) from e
    return WebsocketsClient(ws)
