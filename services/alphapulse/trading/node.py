"""Our entry point around NautilusTrader's ``TradingNode``: the relay data client, paper execution
per venue (NautilusTrader's sandbox, registered in code: as an ImportableConfig it crashes, gotcha 7),
real venue adapters only when the strategy file asks for them explicitly.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig
from nautilus_trader.adapters.sandbox.factory import SandboxLiveExecClientFactory
from nautilus_trader.config import (
    ImportableStrategyConfig,
    InstrumentProviderConfig,
    LiveExecEngineConfig,
    LoggingConfig,
    RoutingConfig,
    TradingNodeConfig,
)
from nautilus_trader.live.config import LiveExecClientConfig
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.identifiers import ClientId
from nautilus_trader.trading.config import StrategyFactory
from nautilus_trader.trading.strategy import Strategy

from alphapulse.protocol import Exchange
from alphapulse.trading.audit import AuditTrail, AuditTrailConfig
from alphapulse.trading.config import TradeSpec, VenueSpec
from alphapulse.trading.gateway import OrderGateway, OrderGatewayConfig
from alphapulse.trading.live_client import RelayDataClientConfig, RelayLiveDataClientFactory

__all__ = ("build_node", "running_node")

log = logging.getLogger(__name__)

DATA_CLIENT = "ALPHAPULSE"


def _exec_config(v: VenueSpec) -> tuple[LiveExecClientConfig, type]:
    if v.mode == "paper":
        return (
            SandboxExecutionClientConfig(
                venue=v.exchange.name,
                starting_balances=list(v.starting_balances),
                account_type=v.account_type,
                oms_type=v.oms_type,
                book_type=v.book_type,
            ),
            SandboxLiveExecClientFactory,
        )
    # real execution: parse_trade_spec has already demanded `live: true` and keys from the environment
    if v.exchange == Exchange.BINANCE:
        from nautilus_trader.adapters.binance.common.enums import BinanceEnvironment  # noqa: PLC0415 - real adapters load only when asked for
        from nautilus_trader.adapters.binance.config import BinanceExecClientConfig  # noqa: PLC0415 - real adapters load only when asked for
        from nautilus_trader.adapters.binance.factories import BinanceLiveExecClientFactory  # noqa: PLC0415 - real adapters load only when asked for

        env = BinanceEnvironment.TESTNET if v.testnet else BinanceEnvironment.LIVE
        return (
            BinanceExecClientConfig(api_key=v.api_key, api_secret=v.api_secret, environment=env),
            BinanceLiveExecClientFactory,
        )
    from nautilus_trader.adapters.kraken.config import KrakenExecClientConfig  # noqa: PLC0415 - real adapters load only when asked for
    from nautilus_trader.adapters.kraken.factories import KrakenLiveExecClientFactory  # noqa: PLC0415 - real adapters load only when asked for

    return KrakenExecClientConfig(api_key=v.api_key, api_secret=v.api_secret), KrakenLiveExecClientFactory


def build_node(
    spec: TradeSpec,
    *,
    strategies: Sequence[Strategy] = (),
    loop: asyncio.AbstractEventLoop | None = None,
    sock_dir: str | None = None,
    log_level: str | None = None,
) -> TradingNode:
    """A built (not yet running) node: relay data client, one execution client per venue, strategies."""
    data_config = RelayDataClientConfig(
        relays=spec.relays,
        sock_dir=sock_dir,
        instruments_dsn=spec.instruments_database_url,
        instrument_provider=InstrumentProviderConfig(load_all=True),
        routing=RoutingConfig(default=True, venues=frozenset(v.name for v in Exchange)),
    )
    exec_configs = {v.exchange.name: _exec_config(v) for v in spec.venues}
    node = TradingNode(
        config=TradingNodeConfig(
            trader_id=spec.trader_id,
            logging=LoggingConfig(log_level=log_level or spec.log_level, log_colors=False),
            exec_engine=LiveExecEngineConfig(reconciliation=False),  # paper venues have nothing to reconcile
            data_clients={DATA_CLIENT: data_config},
            exec_clients={name: cfg for name, (cfg, _) in exec_configs.items()},
            timeout_connection=10.0,
            timeout_disconnection=2.0,
            timeout_post_stop=0.5,
        ),
        loop=loop,
    )
    for s in spec.strategies:
        node.trader.add_strategy(
            StrategyFactory.create(
                ImportableStrategyConfig(
                    strategy_path=s.path, config_path=s.resolved_config_path, config=dict(s.config)
                )
            )
        )
    if spec.orders.enabled:
        o = spec.orders
        gateway_config = OrderGatewayConfig(
            strategy_id="OrderGateway-API", redis_url=o.redis_url, stream=o.stream, events=o.events, group=o.group
        )
        node.trader.add_strategy(OrderGateway(gateway_config))
    if spec.audit:
        node.trader.add_actor(
            AuditTrail(AuditTrailConfig(redis_url=spec.orders.redis_url, stream=spec.orders.audit_stream))
        )
    for strategy in strategies:
        node.trader.add_strategy(strategy)
    node.add_data_client_factory(DATA_CLIENT, RelayLiveDataClientFactory)
    for name, (_, factory) in exec_configs.items():
        node.add_exec_client_factory(name, factory)
    node.build()
    engine = node.kernel.data_engine
    client = engine._clients[ClientId(DATA_CLIENT)]  # a readonly Cython attribute
    client.hand_directly_to(engine)  # market data skips the engine's queue (see the method)
    return node


@contextlib.asynccontextmanager
async def running_node(node: TradingNode) -> AsyncIterator[TradingNode]:
    """Run a built node on the current loop until the block exits; then stop it (without closing the loop)."""
    task = asyncio.ensure_future(node.run_async())
    try:
        while not node.trader.is_running:
            if task.done():
                # NautilusTrader's kernel installs its own SIGINT/SIGTERM handlers: a stop signal during
                # start-up ends run_async() without an error. A real failure raises here.
                task.result()
                log.warning("the trading node stopped while starting (a stop signal?)")
                break
            await asyncio.sleep(0.01)
        yield node
    finally:
        with contextlib.suppress(Exception):
            await node.stop_async()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
