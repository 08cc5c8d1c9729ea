"""The fault scenarios: break one thing under load, then measure loss, duplicates, recovery, side effects.

Every scenario has the same shape (``_run``): a baseline window, the fault (``Fault.inject``
returns when the fault is over: the process restarted, the database back), recovery (fresh
trades from every venue in the database and at a browser-like client), a short steady window,
then the market is frozen, everything in flight lands, and the audit runs.
"""

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from alphapulse.chaos.audit import GapRow, TradeAudit, TradeRow, audit_trades, percentile
from alphapulse.chaos.observer import BridgeObserver
from alphapulse.chaos.stack import ChaosStack, StackOptions
from alphapulse.protocol import symbol_id
from alphapulse.sim import Fault

__all__ = ("SCALES", "SCENARIOS", "Scale", "ScenarioResult", "run_scenario")


@dataclass(frozen=True, slots=True)
class Scale:
    rate: float  # market events per second per venue
    outage_s: float  # how long a database outage or a venue stall lasts
    baseline_s: float
    steady_s: float


SCALES = {
    "small": Scale(rate=300.0, outage_s=3.0, baseline_s=1.5, steady_s=1.0),
    "large": Scale(rate=3000.0, outage_s=30.0, baseline_s=5.0, steady_s=5.0),
}


@dataclass(slots=True)
class ScenarioResult:
    scenario: str
    scale: str
    trades: int = 0  # trades in the database after recovery
    lost: int = 0  # trades missing with no gap recorded: must be 0
    lost_with_gap: int = 0  # trades missing where a gap row says so (what the venue/outage lost)
    gap_reasons: list[str] = field(default_factory=list)
    duplicated: int = 0  # database + client duplicates: must be 0
    client_trades: int = 0
    client_lost: int = 0  # trades missing at the client with no gap event and no reconnect
    recovery_s: float | None = None  # fault over -> fresh trades of every venue in the database
    client_recovery_s: float | None = None  # ... and at the browser-like client
    api_recovery_s: float | None = None  # API scenarios: fault over -> /readyz 200
    trading_recovery_s: float | None = None  # trading scenarios: fault over -> quotes at the restarted node
    order_recovery_s: float | None = None  # ... -> a market order sent then is filled
    while_down_outcome: str = ""  # the order sent while no node ran: filled, "rejected: <reason>" or unanswered
    orders_orphaned: int = 0  # orders open at the kill that never got a final event (cancel included)
    others: str = ""  # what should not have noticed
    others_p99_base_ms: float = 0.0
    others_p99_fault_ms: float = 0.0
    others_slowed: bool = False
    others_gaps: int = 0
    settled: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (
            self.lost == 0
            and self.client_lost == 0
            and self.duplicated == 0
            and self.recovery_s is not None
            and self.others_gaps == 0
            and self.settled
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


# A fault: breaks something, returns when it is over; the stack and the scale are its inputs.
FaultFn = Callable[[ChaosStack, Scale], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    fault: FaultFn
    # what must not notice: "db" (the writer path), "client" (the bridge path), or a venue name
    others: tuple[str, ...]
    description: str
    api: bool = False  # needs the API (and Redis) in the stack; recovery includes /readyz answering 200
    trading: bool = False  # needs the paper trading node (and Redis); paper orders open across the fault


async def _kill_restart(stack: ChaosStack, name: str) -> None:
    await stack.restart(name, kill=True)


async def _postgres_outage(stack: ChaosStack, scale: Scale) -> None:
    assert stack.proxy is not None
    await stack.proxy.cut()
    await asyncio.sleep(scale.outage_s)
    await stack.proxy.restore()


_SLOW_CLIENT_REJECTS = 'alphapulse_bridge_rejected_total{reason="slow_client"}'


async def _stall_client(stack: ChaosStack, scale: Scale) -> None:
    """Returns once the bridge has dropped the stalled client: rejected it *and* closed its socket."""
    stalled = await stack.add_observer(read=False)
    local_port = stalled.local_port
    start = time.monotonic()
    deadline = start + stack.options.slow_client_timeout_s + 60
    try:
        while time.monotonic() < deadline:
            rejected = await asyncio.to_thread(
                stack.bridge_metric, 'alphapulse_bridge_rejected_total{reason="slow_client"}'
            )
            if rejected >= 1 and local_port not in stack.bridge_peer_ports():
                stack.stalled_dropped_after_s = time.monotonic() - start
                return
            await asyncio.sleep(0.1)
    finally:
        await stalled.close()


async def _redis_outage(stack: ChaosStack, scale: Scale) -> None:
    """Redis unreachable; /readyz asked throughout: the API must say it is not ready (it cannot take orders)."""
    assert stack.redis_proxy is not None
    await stack.redis_proxy.cut()
    restore_at = time.monotonic() + scale.outage_s
    await asyncio.sleep(0.5)
    while True:  # at least one answer, however long one takes (the API's Redis check gives up after 2 s)
        stack.readyz_while_down.append(await stack.api_readyz())
        if time.monotonic() + 0.5 >= restore_at:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(max(0.0, restore_at - time.monotonic()))
    await stack.redis_proxy.restore()


def _inject(venue: str, fault: Fault, **kw: Any) -> FaultFn:
    async def go(stack: ChaosStack, scale: Scale) -> None:
        sim = stack.sims[venue]
        seconds = scale.outage_s if fault is Fault.STALL else 1.0
        n = sim.inject(fault, seconds=seconds, **kw)
        if n == 0:
            raise RuntimeError(f"{venue}: no connection to inject {fault} into")
        if fault is Fault.STALL:
            await asyncio.sleep(seconds)

    return go


def _both(fault: Fault) -> FaultFn:
    async def go(stack: ChaosStack, scale: Scale) -> None:
        for venue in stack.sims:
            await _inject(venue, fault)(stack, scale)

    return go


async def _kill_trading(stack: ChaosStack, scale: Scale) -> None:
    """kill -9 the trading node; while none runs, an order arrives on its stream; start it again."""
    await stack.kill9("trading")
    stack.trading_orders["while_down"] = await stack.submit_order(side="buy")
    await stack.procs["trading"].start()


def _restart_relay(stack: ChaosStack, scale: Scale) -> Awaitable[None]:
    return stack.restart("relay", kill=False)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "kill-collector",
            lambda st, sc: _kill_restart(st, "collector-binance"),
            ("kraken",),
            "kill -9 the Binance collector, restart it",
        ),
        Scenario("kill-relay", lambda st, sc: _kill_restart(st, "relay"), (), "kill -9 the relay, restart it"),
        Scenario("restart-relay", _restart_relay, (), "SIGTERM the relay, start it again"),
        Scenario(
            "kill-writer",
            lambda st, sc: _kill_restart(st, "writer"),
            ("client",),
            "kill -9 the database writer, restart it",
        ),
        Scenario(
            "kill-bridge",
            lambda st, sc: _kill_restart(st, "bridge"),
            ("db",),
            "kill -9 the WebSocket bridge, restart it (clients reconnect)",
        ),
        Scenario(
            "postgres-outage",
            _postgres_outage,
            ("client",),
            "PostgreSQL unreachable (connections reset, new ones refused) for the outage time",
        ),
        Scenario(
            "stall-client",
            _stall_client,
            ("db", "client"),
            "one WebSocket client stops reading until the bridge drops it",
        ),
        Scenario(
            "venue-drop",
            _inject("binance", Fault.DROP_CONNECTION),
            ("kraken",),
            "the Binance venue drops the connection",
        ),
        Scenario(
            "venue-stall",
            _inject("binance", Fault.STALL),
            ("kraken",),
            "the Binance venue goes silent for the outage time",
        ),
        Scenario(
            "skip-sequence",
            _inject("binance", Fault.SKIP_SEQUENCE),
            ("kraken",),
            "the Binance venue skips sequence numbers (depth U/u, trade ids)",
        ),
        Scenario(
            "corrupt-checksum",
            _inject("kraken", Fault.CORRUPT_CHECKSUM),
            ("binance",),
            "a Kraken book update with a wrong CRC32",
        ),
        Scenario("kill-api", lambda st, sc: _kill_restart(st, "api"), ("db", "client"),
                 "kill -9 the API, restart it (recovery: /readyz 200)", api=True),
        Scenario("redis-outage", _redis_outage, ("db", "client"),
                 "Redis unreachable for the outage time (recovery: the API's /readyz 200)", api=True),
        Scenario("kill-trading", _kill_trading, ("db", "client"),
                 "kill -9 the paper trading node holding an open order and a position, restart it "
                 "(recovery: quotes at the new node, then a filled market order)", trading=True),
        Scenario("garbage", _both(Fault.GARBAGE), (), "non-JSON garbage from both venues mid-stream"),
    )
}  # fmt: skip


async def run_scenario(
    name: str, scale_name: str = "small", stack_options: StackOptions | None = None
) -> ScenarioResult:
    scenario, scale = SCENARIOS[name], SCALES[scale_name]
    options = dataclasses.replace(
        stack_options or StackOptions(rate=scale.rate), api=scenario.api, trading=scenario.trading
    )
    async with ChaosStack(options) as stack:
        return await _run(stack, scenario, scale, scale_name)


async def _run(stack: ChaosStack, scenario: Scenario, scale: Scale, scale_name: str) -> ScenarioResult:
    result = ScenarioResult(scenario.name, scale_name, others=",".join(scenario.others) or "-")
    observer = stack.observers[0]
    db_lag: list[tuple[int, float]] = []  # (when, database lag in s) sampled throughout
    if scenario.trading:
        await _open_paper_orders(stack)
    sampler = asyncio.create_task(_sample_db_lag(stack, db_lag), name="chaos.db-lag")
    try:
        await asyncio.sleep(scale.baseline_s)
        t_fault = time.time_ns()
        await scenario.fault(stack, scale)
        t_end = time.time_ns()
        result.recovery_s, result.client_recovery_s = await _recovery(stack, observer, t_end, timeout_s=90)
        if scenario.api:
            result.api_recovery_s = await _api_recovery(stack, t_end, timeout_s=60)
        if scenario.trading:
            await _trading_recovery(stack, result, t_end, timeout_s=90)
        t_recovered = time.time_ns()
        await asyncio.sleep(scale.steady_s)
    finally:
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
    result.settled = await stack.settle()
    await asyncio.sleep(0.5)  # the client is a hop further than the database

    gaps = await stack.db_gaps()
    audit = audit_trades(await stack.db_trades(), gaps, stack.expected_last())
    client = _client_audit(observer)
    result.trades, result.lost, result.lost_with_gap = audit.trades, audit.lost_silently, audit.lost_with_gap
    result.gap_reasons = sorted({g.reason for g in gaps})
    result.duplicated = audit.duplicates + observer.duplicates()
    if scenario.trading:
        await _audit_orders(stack, result)
    result.client_trades, result.client_lost = client.trades, client.lost_silently
    _others(result, scenario, observer, db_lag, t_fault, t_recovered)
    if scenario.api and result.api_recovery_s is None:
        result.notes.append("the API never became ready again")
        result.settled = False
    if scenario.name == "redis-outage":
        _readyz_while_down(result, stack.readyz_while_down)
    if scenario.name == "stall-client":
        if stack.stalled_dropped_after_s is not None:
            after = f"{stack.stalled_dropped_after_s:.1f} s after it stopped reading"
            result.notes.append(f"stalled client dropped by the bridge {after} (4008, connection closed)")
        else:
            result.notes.append("the bridge did not close the stalled client's connection")
            result.settled = False
    return result


def _readyz_while_down(result: ScenarioResult, answers: list[tuple[int, str]]) -> None:
    statuses = [status for status, _ in answers]
    if claimed := [body for status, body in answers if status == 200]:
        result.notes.append(
            f"the API claimed to be ready while Redis was unreachable ({len(claimed)} of {len(answers)} answers "
            f"to /readyz; {claimed[0]})"
        )
        result.settled = False
    elif 503 in statuses:
        result.notes.append(f"the API reported not ready (503) while Redis was down ({len(answers)} answers)")
    else:
        result.notes.append(f"the API did not answer /readyz while Redis was down: {answers[0][1]}")
        result.settled = False


async def _sample_db_lag(stack: ChaosStack, out: list[tuple[int, float]]) -> None:
    while True:
        latest = await stack.db_latest_recv_ns()
        now = time.time_ns()
        if latest:
            out.append((now, (now - min(latest.values())) / 1e9))
        await asyncio.sleep(0.1)


async def _recovery(
    stack: ChaosStack, observer: BridgeObserver, t_end: int, timeout_s: float
) -> tuple[float | None, float | None]:
    venues = set(stack.sims)
    db_at: float | None = None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        latest = await stack.db_latest_recv_ns()
        if db_at is None and all(latest.get(v, 0) > t_end for v in venues):
            db_at = (time.time_ns() - t_end) / 1e9
        client = [observer.first_after(v, t_end) for v in venues]
        if db_at is not None and all(c is not None for c in client):
            return db_at, max((c or 0) - t_end for c in client) / 1e9
        await asyncio.sleep(0.05)
    return db_at, None


_ORDER_TIMEOUT_S = 30.0
_FINAL = frozenset({"filled", "cancelled", "rejected"})


async def _order_events(stack: ChaosStack, order_id: str) -> list[dict[str, str]]:
    return [e for e in await stack.order_events() if e.get("order_id") == order_id]


async def _final_event(stack: ChaosStack, order_id: str, timeout_s: float, wanted: frozenset[str] = _FINAL) -> str:
    """The order's first event of a ``wanted`` type ("rejected: <reason>" for rejections); "" if none in time."""
    deadline = time.monotonic() + timeout_s
    while True:
        for e in await _order_events(stack, order_id):
            if e.get("type") in wanted:
                return f"rejected: {e.get('reason')}" if e["type"] == "rejected" else e["type"]
        if time.monotonic() >= deadline:
            return ""
        await asyncio.sleep(0.05)


async def _fill_market_order(stack: ChaosStack, timeout_s: float) -> str | None:
    """A market order, again until one fills: the paper venue rejects with "no market" until the node has
    seen a price for the instrument (after its start, the first trade or quote)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        order_id = await stack.submit_order(type="market")
        outcome = await _final_event(stack, order_id, max(0.5, deadline - time.monotonic()))
        if outcome == "filled":
            return order_id
        await asyncio.sleep(0.2)
    return None


async def _open_paper_orders(stack: ChaosStack) -> None:
    """Before the fault: a resting limit order (open at the kill) and a filled market order (a position)."""
    orders = stack.trading_orders
    orders["resting"] = await stack.submit_order(type="limit", limit_price="1000")  # far under the market
    accepted = await _final_event(stack, orders["resting"], _ORDER_TIMEOUT_S, frozenset({"accepted", *_FINAL}))
    filled = await _fill_market_order(stack, _ORDER_TIMEOUT_S)
    if accepted != "accepted" or filled is None:
        raise TimeoutError(f"the trading node did not take the paper orders: {await stack.order_events()}")
    orders["filled"] = filled


async def _trading_recovery(stack: ChaosStack, result: ScenarioResult, t_end: int, timeout_s: float) -> None:
    """Fault over -> quotes reach the restarted node; -> a new market order is filled."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await stack.trading_quotes() > 0:
            result.trading_recovery_s = (time.time_ns() - t_end) / 1e9
            break
        await asyncio.sleep(0.05)
    if await _fill_market_order(stack, max(1.0, deadline - time.monotonic())) is not None:
        result.order_recovery_s = (time.time_ns() - t_end) / 1e9


async def _audit_orders(stack: ChaosStack, result: ScenarioResult) -> None:
    """Every order event once; what became of the order open at the kill and of the one sent meanwhile."""
    resting, while_down = stack.trading_orders["resting"], stack.trading_orders["while_down"]
    result.while_down_outcome = await _final_event(stack, while_down, 5.0) or "unanswered"
    await stack.submit_order(action="cancel", order_id=resting)
    await _final_event(stack, resting, 3.0)  # the restarted node would answer within milliseconds if it could
    events = await stack.order_events()
    # accepted/filled/cancelled/rejected come once per order (partial fills may repeat); a fill id once per order
    once = [(e.get("order_id"), e.get("type")) for e in events if e.get("type") != "partially_filled"]
    fills = [(e.get("order_id"), e["fill_id"]) for e in events if e.get("fill_id")]
    result.duplicated += len(once) - len(set(once)) + len(fills) - len(set(fills))
    final = {e.get("order_id") for e in events if e.get("type") in _FINAL}
    result.orders_orphaned = 0 if resting in final else 1
    result.notes.append(f"the order sent while no trading node ran: {result.while_down_outcome}")
    if result.orders_orphaned:
        result.notes.append(
            "the order open at the kill is orphaned: the restarted node does not know it (NautilusTrader's "
            "cache is in memory), ignores its cancel and never reports it again"
        )
    venue_ids: dict[str, set[str]] = {}
    for e in events:
        if e.get("venue_order_id"):
            venue_ids.setdefault(e["venue_order_id"], set()).add(e.get("order_id") or "")
    reused = sorted(v for v, oids in venue_ids.items() if len(oids) > 1)
    if reused:
        result.notes.append(f"the restarted node reuses venue order ids of the killed one: {', '.join(reused)}")
    if result.trading_recovery_s is None:
        result.notes.append("the restarted trading node never received quotes")
        result.settled = False
    if result.order_recovery_s is None:
        result.notes.append("no order was filled after the restart")
        result.settled = False
    if result.while_down_outcome == "unanswered":  # kept in the stream, so it must be read and answered
        result.settled = False


async def _api_recovery(stack: ChaosStack, t_end: int, timeout_s: float) -> float | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await stack.api_ready():
            return (time.time_ns() - t_end) / 1e9
        await asyncio.sleep(0.05)
    return None


def _client_audit(observer: BridgeObserver) -> TradeAudit:
    rows = [TradeRow(ex, symbol_id(ex, sym), tid, ts) for (ex, sym, tid), ts in observer.trades.items()]
    gaps = [GapRow(g.get("exchange") or "", str(g.get("reason")), int(g["ts_ns"])) for g in observer.gaps]
    return audit_trades(rows, gaps)


def _others(
    result: ScenarioResult,
    scenario: Scenario,
    observer: BridgeObserver,
    db_lag: list[tuple[int, float]],
    t_fault: int,
    t_recovered: int,
) -> None:
    """Did what should not notice the fault notice it? Latency p99 before vs during, and gaps seen."""
    if not scenario.others:
        return
    live_base: list[float] = []
    live_during: list[float] = []
    venues = [o for o in scenario.others if o not in ("db", "client")]
    if "client" in scenario.others or venues:
        wanted = set(venues) or {s.exchange for s in observer.samples}
        for s in observer.samples:
            if s.exchange in wanted:
                (live_base if s.arrived_ns < t_fault else live_during if s.arrived_ns <= t_recovered else []).append(
                    s.latency_ns / 1e6
                )
        result.others_gaps = sum(
            1 for g in observer.gaps if (g.get("exchange") or "") in wanted and t_fault <= g["ts_ns"] <= t_recovered
        )
    db_base: list[float] = []
    db_during: list[float] = []
    if "db" in scenario.others:
        for when, lag in db_lag:
            (db_base if when < t_fault else db_during if when <= t_recovered else []).append(lag * 1e3)
    result.others_p99_base_ms = round(percentile(live_base + db_base, 99), 2)
    result.others_p99_fault_ms = round(percentile(live_during + db_during, 99), 2)
    # The machine is shared: "slowed" means clearly worse, not noise. The live path (per-trade latency to
    # the client) may not lose more than 250 ms at p99; the database path's lag is batched by design (a
    # commit every ~100 ms) and a restarting process holds one of the two vCPUs for a second or two, so
    # there "slowed" starts at a second more.
    result.others_slowed = _slowed(live_base, live_during, 250) or _slowed(db_base, db_during, 1000)


def _slowed(base: list[float], during: list[float], margin_ms: float) -> bool:
    if not during:
        return False
    before = percentile(base, 99)
    return percentile(during, 99) > max(3 * before, before + margin_ms)
