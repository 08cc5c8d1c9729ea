"""What the three venue parsers share: the reject exception, counters, instruments, the base class.

A venue parser is pure: ``feed(message_bytes, recv_ns)`` turns one WebSocket message into frames on
its :class:`~alphapulse.collectors.output.FrameWriter` and, where the venue needs I/O (resubscribe a
book, fetch a REST snapshot, rotate the connection), appends an :class:`Action` for the connection
to carry out. Every message is validated completely before any state changes or any frame is
written, so a rejected message leaves books, sequences and de-duplication untouched. Nothing a server
sends raises out of ``feed``: failures are counted by reason and a sample is logged (rate-limited).
"""

import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar

import msgspec

from alphapulse.collectors.books import BookStore
from alphapulse.collectors.dedup import TradeDedup
from alphapulse.collectors.output import FrameWriter
from alphapulse.collectors.speedups import COMPILED, fixed_or_neg
from alphapulse.collectors.symbols import SymbolInfo, SymbolMap
from alphapulse.collectors.timestamps import TimestampError
from alphapulse.protocol import Exchange, FeedState, FixedPointError, FrameError, Instrument
from alphapulse.protocol.fixed import INT64_MAX, MAX_SCALE

__all__ = ("Action", "InstrumentSpec", "Reject", "VenueParser", "decimals_of", "fixed_str")

log = logging.getLogger(__name__)

_SAMPLE_EVERY_S = 10.0
_SAMPLE_BYTES = 300


class Reject(Exception):  # noqa: N818 - a control-flow signal, not an error to report upward
    """The message is invalid; ``reason`` is the metric label (a short snake_case word)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Action:
    """I/O a parser asks the connection to perform: resubscribe_book, fetch_snapshot, rotate."""

    kind: str
    natives: tuple[str, ...] = ()


@dataclass(slots=True)
class InstrumentSpec:
    info: SymbolInfo
    price_scale: int
    qty_scale: int
    price_increment: int
    qty_increment: int

    def frame(self, exchange: Exchange) -> Instrument:
        return Instrument(
            self.info.symbol_id,
            0,
            exchange,
            self.info.symbol,
            self.price_scale,
            self.qty_scale,
            self.price_increment,
            self.qty_increment,
            self.info.native,
        )


def decimals_of(increment: str | Decimal) -> int:
    """Decimal places of a tick/step: ``"0.01000000"`` -> 2, ``1e-08`` -> 8, ``"1"`` -> 0."""
    d = Decimal(increment) if isinstance(increment, str) else increment
    if not d.is_finite() or d <= 0:
        raise ValueError(f"increment {increment!r} must be a positive number")
    exponent = d.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


_POW10 = tuple(10**i for i in range(MAX_SCALE + 1))
_CACHE_MAX = 65536
# per scale, text -> value: prices and sizes repeat a lot, and a dict hit (~50 ns) beats any parse
_FIXED_CACHE: tuple[dict[str, int], ...] = tuple({} for _ in range(MAX_SCALE + 1))


def _fixed_str_py(text: str, scale: int, what: str, *, positive: bool = True) -> int:
    """A venue decimal string at ``scale``, exactly; rejects (never rounds) anything inexact, negative or,
    with ``positive``, zero. Same rules as :func:`alphapulse.protocol.to_fixed`, without a sign, and cached."""
    cache = _FIXED_CACHE[scale]
    value = cache.get(text)
    if value is None:
        whole, dot, frac = text.partition(".")
        # ASCII digits only, both sides of the dot (no sign, exponent, "_" or space, which int() takes);
        # str methods: ~3x cheaper than the regex on a cache miss
        if not (text.isascii() and whole.isdigit() and (frac.isdigit() or not dot)):
            raise Reject("bad_number", f"{what} {text[:40]!r} is not a plain unsigned decimal")
        n = len(frac)
        if n > scale:
            if frac[scale:].strip("0"):
                raise Reject("bad_number", f"{what} {text[:40]!r} has more than {scale} decimals")
            frac, n = frac[:scale], scale
        value = int(whole + frac) * _POW10[scale - n]
        if value > INT64_MAX:
            raise Reject("bad_number", f"{what} {text[:40]!r} does not fit in int64 at scale {scale}")
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[text] = value
    if positive and value == 0:
        raise Reject("non_positive", f"{what} {text!r}")
    return value


if COMPILED:

    def fixed_str(text: str, scale: int, what: str, *, positive: bool = True) -> int:
        """A venue decimal string at ``scale``, exactly; rejects (never rounds) anything inexact, negative or,
        with ``positive``, zero. The C function takes the plain case; the Python one decides the rest."""
        value = fixed_or_neg(text, scale)
        if value < 0:
            return _fixed_str_py(text, scale, what, positive=positive)
        if positive and value == 0:
            raise Reject("non_positive", f"{what} {text!r}")
        return value

else:
    fixed_str = _fixed_str_py


@dataclass(slots=True)
class ParseStats:
    messages: dict[str, int] = field(default_factory=dict)  # by kind: trade, quote, book, heartbeat, control, other
    errors: dict[str, int] = field(default_factory=dict)  # by reason
    checksum_failures: int = 0
    last_sample_s: dict[str, float] = field(default_factory=dict)


class VenueParser:
    """Base of the three venue parsers; subclasses implement ``_handle`` and the subscribe messages."""

    exchange: ClassVar[Exchange]

    def __init__(
        self,
        writer: FrameWriter,
        symbols: SymbolMap,
        *,
        channels: tuple[str, ...] = ("trades", "quotes", "book"),
        depth: int = 10,
        max_book_levels: int = 5000,
    ) -> None:
        self.out = writer
        self.symbols = symbols
        self.channels = channels
        self.depth = depth
        self.books = BookStore(max_book_levels)
        self.dedup = TradeDedup()
        self.instruments: dict[str, InstrumentSpec] = {}  # by venue spelling
        self.stats = ParseStats()
        self.actions: list[Action] = []
        self.subscribed = False  # the venue acknowledged a subscription on the current connection
        self.now_ns = time.time_ns  # replaced by the service with its clock

    # -- the one entry point ----------------------------------------------------------------------
    def feed(self, data: bytes | str, recv_ns: int) -> None:
        try:
            self._handle(data, recv_ns)
        except Reject as e:
            self._count_error(e.reason, data, e.detail)
        except msgspec.ValidationError as e:
            self._count_error("schema", data, str(e))
        except msgspec.DecodeError as e:
            self._count_error("invalid_json", data, str(e))
        except FixedPointError as e:
            self._count_error("bad_number", data, str(e))
        except TimestampError as e:
            self._count_error("bad_timestamp", data, str(e))
        except FrameError as e:
            self._count_error("out_of_range", data, str(e))
        except (RecursionError, MemoryError, ValueError, TypeError, KeyError, IndexError) as e:
            # a bug of ours or an input nobody anticipated: count it and carry on, never crash the feed
            self._count_error("unexpected", data, f"{type(e).__name__}: {e}")

    def _handle(self, data: bytes | str, recv_ns: int) -> None:
        raise NotImplementedError

    # -- connection life cycle ------------------------------------------------------------------------
    def on_connect(self) -> None:
        """A new connection: per-connection venue state starts over (books rebuild from new snapshots)."""
        self.subscribed = False

    def on_disconnect(self) -> None:
        """The connection dropped: books are no longer maintained until their next snapshot."""
        for book in self.books:
            book.clear()

    def url(self) -> str:
        raise NotImplementedError

    def subscribe_messages(self) -> list[str]:
        raise NotImplementedError

    def resubscribe_book_messages(self, natives: tuple[str, ...]) -> list[str]:
        return []

    def is_control(self, data: bytes | str) -> bool:
        """A message that is not market data (acks): never proof that two connections overlap."""
        return False

    # -- helpers ---------------------------------------------------------------------------------------
    def count(self, kind: str) -> None:
        self.stats.messages[kind] = self.stats.messages.get(kind, 0) + 1

    def set_instrument(self, spec: InstrumentSpec) -> None:
        self.instruments[spec.info.native] = spec
        self.out.instrument(spec.frame(self.exchange))

    def instrument(self, native: str) -> InstrumentSpec:
        spec = self.instruments.get(native)
        if spec is None:
            if native in self.symbols.by_native:
                raise Reject("no_instrument", f"no scales known yet for {native[:40]!r}")
            raise Reject("unknown_symbol", f"{native[:40]!r} is not subscribed by this feed")
        return spec

    def resync(self, natives: tuple[str, ...], ts_ns: int) -> None:
        """Drop the books of ``natives`` and ask the connection to resubscribe them."""
        for native in natives:
            spec = self.instruments.get(native)
            if spec is not None:
                self.books.get(spec.info.symbol_id).clear()
                self.out.status(FeedState.RESYNCING, ts_ns, spec.info.symbol_id)
        self.actions.append(Action("resubscribe_book", natives))

    def _count_error(self, reason: str, data: bytes | str, detail: str) -> None:
        stats = self.stats
        stats.errors[reason] = stats.errors.get(reason, 0) + 1
        now = time.monotonic()
        if now - stats.last_sample_s.get(reason, -_SAMPLE_EVERY_S) >= _SAMPLE_EVERY_S:
            stats.last_sample_s[reason] = now
            sample = data[:_SAMPLE_BYTES]
            log.warning(
                "rejected a %s message (%s): %s; sample: %r",
                self.exchange.name.lower(),
                reason,
                detail[:200],
                sample,
                extra={"reason": reason, "bytes": len(data)},
            )
