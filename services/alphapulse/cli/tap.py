"""``alphapulse tap``: print the frames on the relay socket or one feed socket (the tcpdump of the feed)."""

import argparse
import sys
from typing import Any

from alphapulse.cli._common import add_sock_dir_flag


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "tap",
        help="print decoded frames from the relay or a feed socket",
        description="Reads the relay socket (or one feed's socket with --feed) and prints each frame: one JSON "
        "object per line with --json, a readable line otherwise. Stops after --count frames or after --timeout "
        "seconds without a frame.",
    )
    add_sock_dir_flag(p)
    p.add_argument("--feed", help="read this feed's socket directly instead of the relay")
    p.add_argument("--relay", metavar="unix:PATH|tcp:HOST:PORT", help="relay endpoint (default the relay socket)")
    p.add_argument("--count", type=int, default=0, help="stop after N frames (default: no limit)")
    p.add_argument("--timeout", type=float, default=0.0, help="stop after SECONDS without a frame (default: never)")
    p.add_argument("--type", action="append", dest="types", help="only frames of this type (repeatable)")
    p.add_argument("--symbol", action="append", dest="symbols", help="only this normalized symbol (repeatable)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    import orjson

    from alphapulse.errors import ConfigError
    from alphapulse.framejson import FrameRenderer
    from alphapulse.protocol import FrameDecoder, FrameError
    from alphapulse.settings import feed_socket_path, relay_socket_path, sock_dir
    from alphapulse.transport import parse_endpoint

    directory = sock_dir(args.sock_dir)
    if args.relay:
        endpoint = parse_endpoint(args.relay)
    elif args.feed:
        endpoint = parse_endpoint(f"unix:{feed_socket_path(directory, args.feed)}")
    else:
        endpoint = parse_endpoint(f"unix:{relay_socket_path(directory)}")
    renderer = FrameRenderer()
    decoder = FrameDecoder()
    types = set(args.types or [])
    symbols = set(args.symbols or [])
    out = sys.stdout

    async def main() -> int:
        try:
            if endpoint.kind == "unix":
                reader, writer = await asyncio.open_unix_connection(endpoint.path)
            else:
                reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
        except OSError as e:
            raise ConfigError(f"cannot connect to {endpoint}: {e.strerror or e}") from e
        printed = 0
        try:
            while True:
                try:
                    data = await (
                        asyncio.wait_for(reader.read(1 << 16), args.timeout) if args.timeout else reader.read(1 << 16)
                    )
                except TimeoutError:
                    return 0
                if not data:
                    print(f"tap: {endpoint} closed the connection", file=sys.stderr)
                    return 0
                try:
                    frames = decoder.feed(data)
                except FrameError as e:
                    print(f"tap: invalid frame from {endpoint}: {e}", file=sys.stderr)
                    return 1
                for frame in frames:
                    doc = renderer.render(frame)
                    if (types and doc["type"] not in types) or (symbols and doc.get("symbol") not in symbols):
                        continue
                    out.write(orjson.dumps(doc).decode() + "\n" if args.json else renderer.line(frame) + "\n")
                    printed += 1
                    if args.count and printed >= args.count:
                        return 0
                out.flush()
        finally:
            out.flush()
            writer.close()

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 130
