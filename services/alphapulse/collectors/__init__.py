"""Exchange collectors: venue WebSocket messages in, exact frames out on the feed socket.

``kraken``, ``coinbase`` and ``binance`` are pure parsers of the same shape; ``connection`` is the
shared WebSocket life cycle; ``service`` wires one ExchangeFeed to its feed socket.
"""
