"""The Litestar REST API: auth, market data history, portfolio, paper trading, backtest results.

``create_app(settings)`` builds the application; ``serve(settings, host, port)`` runs it under
uvicorn. Everything reads PostgreSQL (``DATABASE_URL``) and Redis (``REDIS_URL``); see docs/api.md.
"""
