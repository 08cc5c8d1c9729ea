"""Request and response documents (msgspec Structs): the OpenAPI schema is generated from these.

Prices, quantities and money are exact decimal strings on the wire (``"64123.5"``), never floats.
Times are RFC 3339 (``2026-03-02T14:30:00Z``); market data also carries integer nanoseconds.
"""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from msgspec import Meta, Struct

__all__ = (
    "AccountOut",
    "BacktestEquityPoint",
    "BacktestRunDetail",
    "BacktestRunOut",
    "BacktestRunsPage",
    "BalanceIn",
    "BalanceOut",
    "BridgeTokenOut",
    "CandleOut",
    "CandlesPage",
    "ConfigOut",
    "CreateAccountIn",
    "CreateUserIn",
    "EquityPoint",
    "FeedHealthOut",
    "FeedOut",
    "FillOut",
    "FillsPage",
    "InstrumentOut",
    "LoginIn",
    "OrderIn",
    "OrderOut",
    "OrdersPage",
    "PortfolioOut",
    "PositionOut",
    "QuoteOut",
    "RevokedOut",
    "Role",
    "SessionOut",
    "StatusOut",
    "TradeOut",
    "TradesPage",
    "UpdateUserIn",
    "UserOut",
)

Role = Literal["admin", "trader", "viewer"]
Username = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{3,64}$", description="3-64 of A-Z a-z 0-9 _ . -")]
Password = Annotated[str, Meta(min_length=1, max_length=256)]
Asset = Annotated[str, Meta(pattern=r"^[A-Z0-9]{2,12}$")]
Exchange = Annotated[str, Meta(pattern=r"^[a-z0-9_-]{1,32}$", examples=["binance"])]
Symbol = Annotated[str, Meta(pattern=r"^[A-Z0-9]{1,20}-[A-Z0-9]{1,20}$", examples=["BTC-USDT"])]
PositiveId = Annotated[int, Meta(ge=1, le=2**63 - 1)]
DecimalStr = Annotated[
    str,
    Meta(
        pattern=r"^[0-9]{1,20}(\.[0-9]{1,18})?$",
        description='a non-negative decimal number as a string, e.g. "0.015"',
        examples=["0.015"],
    ),
]


# --- auth and users -------------------------------------------------------------------------


class LoginIn(Struct, forbid_unknown_fields=True):
    username: Annotated[str, Meta(min_length=1, max_length=64)]
    password: Password


class UserOut(Struct):
    id: int
    username: str
    role: Role
    disabled: bool
    created_at: datetime


class SessionOut(Struct):
    user: UserOut
    expires_at: datetime


class BridgeTokenOut(Struct):
    token: str
    expires_at: datetime
    token_type: str = "bridge"


class CreateUserIn(Struct, forbid_unknown_fields=True):
    username: Username
    password: Password
    role: Role


class UpdateUserIn(Struct, forbid_unknown_fields=True):
    """Change a user's role or disable it; either change ends the user's sessions."""

    role: Role | None = None
    disabled: bool | None = None


class RevokedOut(Struct):
    username: str
    sessions_revoked: int


class ConfigOut(Struct):
    """What the dashboard needs to know before logging in."""

    bridge_url: str
    version: str


class StatusOut(Struct):
    status: str
    checks: dict[str, str]


# --- market data ----------------------------------------------------------------------------


class InstrumentOut(Struct):
    exchange: str
    symbol: str
    price_scale: int
    qty_scale: int
    price_increment: Decimal  # the finest step the wire format carries: 10^-price_scale
    qty_increment: Decimal


class FeedOut(Struct):
    exchange: str
    symbols: list[str]


class QuoteOut(Struct):
    exchange: str
    symbol: str
    bid_price: Decimal | None
    bid_qty: Decimal | None
    ask_price: Decimal | None
    ask_qty: Decimal | None
    ts_exchange_ns: int | None
    ts_recv_ns: int


class TradeOut(Struct):
    exchange: str
    symbol: str
    trade_id: int
    side: str
    price: Decimal
    qty: Decimal
    ts_exchange_ns: int
    ts_recv_ns: int


class TradesPage(Struct):
    items: list[TradeOut]
    next_cursor: str | None


class CandleOut(Struct):
    ts: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    notional: Decimal
    trades: int


class CandlesPage(Struct):
    exchange: str
    symbol: str
    interval: str
    items: list[CandleOut]
    next_cursor: str | None


class FeedHealthOut(Struct):
    exchange: str
    symbol: str
    status: Literal["live", "stale", "down", "unknown"]
    last_trade_age_s: float | None
    trades_per_s_1m: float
    latency_p50_ms_1m: float | None
    latency_p99_ms_1m: float | None
    gaps_1h: int | None  # gaps recorded for this exchange in the last hour (None: no gaps table)
    last_feed_event: str | None  # newest feed_events kind for this exchange (connected, disconnected, ...)
    last_feed_event_age_s: float | None


# --- portfolio ------------------------------------------------------------------------------


class BalanceIn(Struct, forbid_unknown_fields=True):
    asset: Asset
    amount: DecimalStr


class CreateAccountIn(Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(pattern=r"^[A-Za-z0-9 _.-]{1,64}$")]
    owner: Username
    base_currency: Asset = "USDT"
    balances: Annotated[list[BalanceIn], Meta(max_length=50)] = []


class AccountOut(Struct):
    id: int
    name: str
    owner: str
    kind: str
    base_currency: str
    created_at: datetime


class BalanceOut(Struct):
    asset: str
    amount: Decimal
    price: Decimal | None
    value: Decimal | None


class PositionOut(Struct):
    exchange: str
    symbol: str
    qty: Decimal
    avg_price: Decimal
    mark_price: Decimal | None
    unrealised_pnl: Decimal
    realised_pnl: Decimal
    fees: Decimal


class PortfolioOut(Struct):
    account: AccountOut
    balances: list[BalanceOut]
    positions: list[PositionOut]
    equity: Decimal
    realised_pnl: Decimal
    unrealised_pnl: Decimal
    fees: Decimal
    unpriced_assets: list[str]


class EquityPoint(Struct):
    ts: datetime
    equity: Decimal
    realised_pnl: Decimal
    unrealised_pnl: Decimal


# --- trading --------------------------------------------------------------------------------


class OrderIn(Struct, forbid_unknown_fields=True):
    account_id: PositiveId
    exchange: Exchange
    symbol: Symbol
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"]
    quantity: DecimalStr
    limit_price: DecimalStr | None = None
    time_in_force: Literal["gtc", "ioc", "fok"] = "gtc"
    client_order_id: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] | None = None


class OrderOut(Struct):
    id: uuid.UUID
    account_id: int
    client_order_id: str | None
    exchange: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    quantity: Decimal
    limit_price: Decimal | None
    status: str
    reject_reason: str | None
    filled_qty: Decimal
    avg_fill_price: Decimal | None
    fees: Decimal
    created_at: datetime
    updated_at: datetime
    cancel_requested_at: datetime | None


class OrdersPage(Struct):
    items: list[OrderOut]
    next_cursor: str | None


class FillOut(Struct):
    id: int
    order_id: uuid.UUID
    fill_id: str
    account_id: int
    exchange: str
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str | None
    liquidity: str | None
    ts: datetime


class FillsPage(Struct):
    items: list[FillOut]
    next_cursor: str | None


# --- backtests ------------------------------------------------------------------------------


class BacktestRunOut(Struct):
    """One backtest run as the backtester recorded it (PnL and statistics are floats there)."""

    run_id: str
    created_at: datetime
    name: str | None
    pnl: float | None
    fees: float | None
    fills: int | None
    orders: int | None
    max_drawdown: float | None
    events: int | None
    elapsed_s: float | None
    fingerprint: str | None


class BacktestRunDetail(BacktestRunOut):
    config: dict[str, object] = {}
    stats: dict[str, object] = {}
    start_ns: int | None = None
    end_ns: int | None = None
    catalog: str | None = None


class BacktestRunsPage(Struct):
    items: list[BacktestRunOut]
    next_cursor: str | None


class BacktestEquityPoint(Struct):
    ts_ns: int
    pnl: float
