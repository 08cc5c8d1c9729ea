"""The collectors' C primitives (``_speedups.pyx``) when they were compiled at install, else stand-ins.

Every function returns -1 for any input it does not handle, and its callers then run the pure-Python
function, which decides. The stand-ins handle nothing (always -1), so without a C compiler the
collectors run exactly their Python code: same results, about a microsecond more per message.
"""

__all__ = ("COMPILED", "digits_or_neg", "fixed_or_neg", "fixed_raw_or_neg", "kraken_crc_or_neg", "rfc3339_or_neg")

try:
    from alphapulse.collectors._speedups import (
        digits_or_neg,
        fixed_or_neg,
        fixed_raw_or_neg,
        kraken_crc_or_neg,
        rfc3339_or_neg,
    )

    COMPILED = True
except ImportError:  # built without a C compiler (the extension is optional)
    COMPILED = False

    def fixed_or_neg(text: str, scale: int) -> int:
        return -1

    def fixed_raw_or_neg(raw: object, scale: int) -> int:
        return -1

    def rfc3339_or_neg(text: str) -> int:
        return -1

    def digits_or_neg(text: str) -> int:
        return -1

    def kraken_crc_or_neg(
        ask_keys: list[int], ask_levels: dict[int, int], bid_keys: list[int], bid_levels: dict[int, int], n: int
    ) -> int:
        return -1
