"""Example strategies, written as templates to copy: each is one small class with its config.

- :mod:`~alphapulse.trading.strategies.spread`: watches one asset on several venues and buys on the
  cheaper venue when the cross-venue spread beats fees; sells back when it closes.
- :mod:`~alphapulse.trading.strategies.ema_reversion`: a mean-reversion taker on one market that
  buys when the mid falls far enough below its EMA and sells when it comes back above.

Both run unchanged live (``alphapulse trade``) and in backtests (``alphapulse backtest``).
"""
