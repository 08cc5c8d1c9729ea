"""kill -9 each process in turn under load (and a clean relay restart): nothing lost silently, nothing doubled.

A writer or relay restart loses nothing at all: the writer asks each collector for what it missed
(RESUME, answered from the collector's replay ring), so its gap rows hold nothing but its very
first start (``writer_start``, written when no resume marks exist yet).

Each test starts the real processes (``alphapulse.chaos.stack``), breaks one, and audits the
database and a browser-like bridge client (``alphapulse.chaos.scenarios``). Small scale: a few
hundred market events per second per venue, each test well under 40 s.
"""

from alphapulse.chaos.scenarios import ScenarioResult, run_scenario


def _common(r: ScenarioResult) -> None:
    assert r.settled, f"not every trade the venues produced reached the database: {r}"
    assert r.lost == 0, f"{r.lost} trades missing from the database with no gap row: {r}"
    assert r.client_lost == 0, f"{r.client_lost} trades missing at the client with no gap event: {r}"
    assert r.duplicated == 0, f"{r.duplicated} trades stored or delivered twice: {r}"
    assert r.recovery_s is not None and r.client_recovery_s is not None, f"never recovered: {r}"
    assert r.trades > 0 and r.client_trades > 0


async def test_kill_9_collector_then_restart() -> None:
    r = await run_scenario("kill-collector")
    _common(r)
    # what the dead collector had not passed on is announced by the relay (the feed's new epoch)
    assert r.lost_with_gap == 0 or {"feed_lost", "sequence"} & set(r.gap_reasons), r
    assert r.others_gaps == 0 and not r.others_slowed, f"the other venue noticed: {r}"


def _recovered_everything(r: ScenarioResult) -> None:
    assert r.lost_with_gap == 0, f"{r.lost_with_gap} trades missing from the database (with a gap row): {r}"
    assert set(r.gap_reasons) <= {"writer_start"}, f"the writer recorded a loss it should have recovered: {r}"


async def test_kill_9_relay_then_restart() -> None:
    r = await run_scenario("kill-relay")
    _common(r)
    _recovered_everything(r)


async def test_relay_clean_restart() -> None:
    r = await run_scenario("restart-relay")
    _common(r)
    _recovered_everything(r)


async def test_kill_9_writer_then_restart() -> None:
    r = await run_scenario("kill-writer")
    _common(r)
    _recovered_everything(r)
    assert r.others_gaps == 0 and not r.others_slowed, f"browsers noticed a writer crash: {r}"


async def test_kill_9_bridge_then_restart() -> None:
    r = await run_scenario("kill-bridge")
    _common(r)
    assert r.lost_with_gap == 0, f"the database path lost trades because of the bridge: {r}"
    assert not r.others_slowed, f"the database path slowed down: {r}"


async def test_kill_9_trading_node_then_restart() -> None:
    r = await run_scenario("kill-trading")
    _common(r)
    assert r.lost_with_gap == 0, f"the database path lost trades because of the trading node: {r}"
    assert r.others_gaps == 0 and not r.others_slowed, f"the database or client path noticed: {r}"
    assert r.trading_recovery_s is not None, f"the restarted node never received quotes: {r}"
    assert r.order_recovery_s is not None, f"no order was filled after the restart: {r}"
    # an order sent while no node ran is read by the restarted one and answered (filled, or rejected by the
    # paper venue when it comes before the node's first price), never left without an answer
    assert r.while_down_outcome.split(":")[0] in ("filled", "rejected"), r
    # documented in docs/reliability.md: paper state lives in the node's memory only, so the order open
    # at the kill is orphaned (no final event, its cancel ignored). Persisting it would make this 0.
    assert r.orders_orphaned == 1, r
