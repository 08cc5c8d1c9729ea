"""What a venue does wrong: drops the connection, goes silent, skips sequence numbers, corrupts a
checksum, sends garbage. Anything the venue itself lost must be an explicit gap; nothing doubled."""

from alphapulse.chaos.scenarios import ScenarioResult, run_scenario


def _common(r: ScenarioResult) -> None:
    assert r.settled, r
    assert r.lost == 0 and r.client_lost == 0, f"silent loss: {r}"
    assert r.duplicated == 0, f"duplicates: {r}"
    assert r.recovery_s is not None and r.client_recovery_s is not None, r


async def test_venue_drops_the_connection() -> None:
    r = await run_scenario("venue-drop")
    _common(r)
    assert "reconnect" in r.gap_reasons, f"a dropped venue connection must be a gap: {r}"
    assert r.others_gaps == 0 and not r.others_slowed, r


async def test_venue_stalls() -> None:
    r = await run_scenario("venue-stall")
    _common(r)
    assert r.others_gaps == 0 and not r.others_slowed, r


async def test_venue_skips_sequence_numbers() -> None:
    r = await run_scenario("skip-sequence")
    _common(r)
    assert "exchange" in r.gap_reasons, f"a venue sequence skip must be an exchange gap: {r}"
    assert r.others_gaps == 0, r


async def test_venue_corrupts_a_checksum() -> None:
    r = await run_scenario("corrupt-checksum")
    _common(r)
    assert "checksum" in r.gap_reasons, f"a bad checksum must be a gap (and a resync): {r}"
    assert r.lost_with_gap == 0, f"a book resync must not cost trades: {r}"


async def test_venue_sends_garbage() -> None:
    r = await run_scenario("garbage")
    _common(r)
    assert r.lost_with_gap == 0, f"garbage must be skipped, not cost data: {r}"
    assert set(r.gap_reasons) <= {"writer_start"}, f"garbage must not look like loss: {r}"
