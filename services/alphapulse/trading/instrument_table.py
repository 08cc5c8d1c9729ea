"""Instruments from the database's ``instruments`` table (filled by the collectors from venue metadata).

Read once when the data client connects, before the relay's instrument frames: the table is the
record of what each venue announced, the relay the live truth. When both know a symbol they must
agree on its scales; when they do not, the symbol's frames are refused (``precision``) rather than
mis-scaled (see ``translate``).
"""

from decimal import Decimal
from typing import Any

import asyncpg

from alphapulse.errors import RetryableError
from alphapulse.protocol import Exchange, to_fixed
from alphapulse.trading.instruments import InstrumentSpec

__all__ = ("load_instrument_specs",)


def _increment(value: Any, scale: int) -> int:
    if value is None:
        return 1  # the table predates increments: one unit at the scale
    return max(1, to_fixed(Decimal(value), scale))


async def load_instrument_specs(dsn: str, timeout_s: float = 5.0) -> list[InstrumentSpec]:
    try:
        conn = await asyncpg.connect(dsn, timeout=timeout_s)
    except (OSError, asyncpg.PostgresError, TimeoutError) as e:
        raise RetryableError(f"cannot read instruments from the database: {e}") from e
    try:
        columns = {
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'instruments'"
            )
        }
        inc = ", price_increment, qty_increment" if {"price_increment", "qty_increment"} <= columns else ""
        rows = await conn.fetch(f"SELECT exchange, symbol, price_scale, qty_scale{inc} FROM instruments ORDER BY 1, 2")
    finally:
        await conn.close()
    specs = []
    for r in rows:
        try:
            exchange = Exchange[str(r["exchange"]).upper()]
        except KeyError:
            continue  # a venue this build does not trade
        ps, qs = int(r["price_scale"]), int(r["qty_scale"])
        specs.append(
            InstrumentSpec(
                exchange,
                str(r["symbol"]).upper(),
                ps,
                qs,
                _increment(r.get("price_increment") if inc else None, ps),
                _increment(r.get("qty_increment") if inc else None, qs),
                str(r["symbol"]).upper(),
            )
        )
    return specs
