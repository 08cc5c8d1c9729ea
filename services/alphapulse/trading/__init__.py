"""NautilusTrader on the AlphaPulse feed: the live data client, the trading node, strategies, backtests.

Importing this package does not import NautilusTrader (≈1 s); the modules that need it do.
"""
