"""atheris: what a browser sends the bridge. ``parse_client_message`` (text or binary, any bytes) may
only raise ``ClientMessageError`` with a 4000/1003 close code; the token of an ``auth`` message goes
through ``verify_token``, which may only raise ``TokenError``.

``python e2e/fuzz/fuzz_bridge_messages.py -max_total_time=60``
"""

from collections.abc import Iterator

import atheris
from fuzz_common import run

with atheris.instrument_imports(include=["alphapulse", "jwt"]):
    from alphapulse.bridge.messages import Auth, ClientMessage, ClientMessageError, CloseCode, parse_client_message
    from alphapulse.tokens import TokenError, issue_token, verify_token

KEY = b"k" * 32
NOW = 1_800_000_000


def target(data: bytes) -> None:
    raw: str | bytes = data
    if data[:1] == b"T":  # most browsers send text; keep both paths alive
        raw = data[1:].decode("utf-8", "replace")
    try:
        msg: ClientMessage | None = parse_client_message(raw)
    except ClientMessageError as e:
        assert e.code in (CloseCode.BAD_MESSAGE, CloseCode.UNSUPPORTED_DATA), e.code  # noqa: PT017
        msg = None
    if isinstance(msg, Auth):
        try:
            p = verify_token(KEY, msg.token, now_s=NOW)
        except TokenError:
            return
        assert p.role in ("viewer", "trader", "admin")


def seeds() -> Iterator[bytes]:
    token = issue_token(KEY, "alice", "viewer", now_s=NOW)
    yield b'T{"op":"auth","token":"' + token.encode() + b'","id":1}'
    yield b'T{"op":"subscribe","exchange":"binance","symbols":["BTC-USDT","eth-usdt"],"channels":["trades"],"id":2}'
    yield b'T{"op":"unsubscribe","exchange":"kraken","symbols":["BTC-USD"],"id":"x"}'
    yield b'T{"op":"ping","id":"keepalive"}'
    yield b'{"op":"ping"}'


if __name__ == "__main__":
    run("bridge_messages", target, seeds)
