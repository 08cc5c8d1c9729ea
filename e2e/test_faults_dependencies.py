"""PostgreSQL unreachable under load, and one WebSocket client that stops reading."""

from alphapulse.chaos.scenarios import run_scenario


async def test_postgres_outage_spools_then_catches_up_without_loss() -> None:
    r = await run_scenario("postgres-outage")
    assert r.settled and r.lost == 0 and r.lost_with_gap == 0, f"the writer lost rows across an outage: {r}"
    assert r.duplicated == 0, r
    assert r.recovery_s is not None, r
    assert r.others_gaps == 0 and not r.others_slowed, f"browsers noticed the database outage: {r}"
    assert r.client_lost == 0, r


async def test_a_stalled_client_is_dropped_and_nobody_else_notices() -> None:
    r = await run_scenario("stall-client")
    assert any("dropped by the bridge" in n for n in r.notes), f"the bridge did not drop the stalled client: {r}"
    assert r.settled and r.lost == 0 and r.lost_with_gap == 0 and r.duplicated == 0, r
    assert r.client_lost == 0, f"the reading client lost trades because another stalled: {r}"
    assert r.others_gaps == 0 and not r.others_slowed, f"a stalled client slowed the others: {r}"


async def test_kill_9_api_then_restart() -> None:
    r = await run_scenario("kill-api")
    assert r.api_recovery_s is not None, f"the API did not come back: {r}"
    assert r.settled and r.lost == 0 and r.lost_with_gap == 0 and r.duplicated == 0, r
    assert r.others_gaps == 0 and not r.others_slowed, f"the market data path noticed an API crash: {r}"


async def test_redis_outage_makes_the_api_unready_then_ready() -> None:
    r = await run_scenario("redis-outage")
    assert any("not ready (503)" in n for n in r.notes), f"the API claimed readiness without Redis: {r}"
    assert r.api_recovery_s is not None, f"the API did not recover after Redis came back: {r}"
    assert r.settled and r.lost == 0 and r.lost_with_gap == 0 and r.duplicated == 0, r
    assert r.others_gaps == 0 and not r.others_slowed, f"the market data path noticed a Redis outage: {r}"
