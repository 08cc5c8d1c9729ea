"""Fuzz the bridge's two untrusted inputs not covered by ``test_bridge_messages.py``: the tokens
browsers present (``alphapulse.tokens.verify_token``, the one implementation behind the API that issues the
same kind) and the cells it reads from a relay (``BridgeCore.feed_cells``: the relay's TCP port is
unauthenticated, so a bridge must survive whatever arrives on it). A token is accepted or refused with
``TokenError``; cells are rendered or counted as malformed; subscribed clients always get JSON arrays."""

import base64
import json
from typing import Any

import jwt
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from alphapulse.bridge.core import BridgeCore
from alphapulse.protocol import (
    Exchange,
    Feed,
    FeedState,
    Gap,
    GapReason,
    Instrument,
    SnapshotBegin,
    SnapshotEnd,
    Status,
    encode,
    feed_id,
    pack_book,
    pack_quote,
    pack_trade,
    symbol_id,
)
from alphapulse.tokens import Principal, TokenError, issue_token, verify_token

KEY = b"k" * 64  # long enough for HS512 too (PyJWT warns below the hash length)
NOW = 1_800_000_000
GOOD = issue_token(KEY, "alice", "viewer", now_s=NOW)

claim_values = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=12)
claims = st.dictionaries(
    st.sampled_from(["sub", "role", "exp", "iat", "nbf", "aud", "iss"]) | st.text(max_size=5),
    claim_values | st.sampled_from(["viewer", "trader", "admin", "alice", NOW + 60]),
    max_size=6,
)


def _check_token(token: str) -> Principal | None:
    try:
        p = verify_token(KEY, token, now_s=NOW)
    except TokenError:
        return None
    assert p.sub and isinstance(p.sub, str)
    assert p.role in {"viewer", "trader", "admin"}
    assert p.exp_s + 5 >= NOW
    return p


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_tokens_are_refused_with_token_error(token: str) -> None:
    assert _check_token(token) is None


@settings(max_examples=300, deadline=None)
@given(claims, st.sampled_from(["HS256", "HS384", "HS512"]))
def test_signed_tokens_with_arbitrary_claims_are_checked(payload: dict[str, Any], alg: str) -> None:
    """The attacker cannot sign, but the API could be misconfigured: the bridge still checks every claim."""
    try:
        token = jwt.encode(payload, KEY, algorithm=alg)
    except (TypeError, ValueError, OverflowError):
        return  # PyJWT cannot serialise it: no such token can exist
    p = _check_token(token)
    if alg != "HS256":
        assert p is None  # HS256 only


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(GOOD) - 1), st.sampled_from("ABCxyz019-_.="))
def test_tampered_tokens_are_refused(at: int, char: str) -> None:
    tampered = GOOD[:at] + char + GOOD[at + 1 :]
    p = _check_token(tampered)
    if tampered != GOOD and p is not None:
        # base64url padding bits can change without changing the decoded bytes
        assert [base64.urlsafe_b64decode(x + "==") for x in tampered.split(".")] == [
            base64.urlsafe_b64decode(x + "==") for x in GOOD.split(".")
        ]


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=40), st.sampled_from(["viewer", "trader", "admin"]), st.integers(1, 86400))
def test_every_token_the_api_issues_is_accepted_by_the_bridge(user: str, role: str, ttl_s: int) -> None:
    """Regression: the API's tokens carry ``aud: alphapulse-bridge`` and the bridge refused them all
    ("Invalid audience"); now one implementation (``alphapulse.tokens``) issues and verifies them."""
    token = issue_token(KEY, user, role, now_s=NOW, ttl_s=ttl_s)
    assert _check_token(token) == Principal(user, role, NOW + ttl_s)


def test_alg_none_and_a_foreign_key_are_refused() -> None:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps({"sub": "a", "role": "admin", "exp": NOW + 60}).encode()).rstrip(b"=")
    assert _check_token(f"{header.decode()}.{body.decode()}.") is None
    assert _check_token(issue_token(b"x" * 32, "alice", "admin", now_s=NOW)) is None


# ---- the relay's cells ----------------------------------------------------------------------------

FID = feed_id("fuzz-feed")
SYMS = ("BTC-USDT", "ETH-USDT")
SIDS = [symbol_id(Exchange.BINANCE, s) for s in SYMS]
T0 = 1_772_461_900_000_000_000


def _frame(kind: int, i: int, scale: int) -> bytes:
    sid = SIDS[i % 2]
    match kind:
        case 0:
            return pack_trade(sid, i, i % 3, i, T0 + i, T0 + i, 65000 * 10**scale + i, 10**scale)
        case 1:
            return pack_quote(sid, i, T0 + i, T0 + i, 65000 * 10**scale, 10**scale, 65001 * 10**scale, 10**scale)
        case 2:
            return pack_book(sid, i, 1 + i % 2, T0 + i, T0 + i, 65000 * 10**scale + i, 10**scale * (i % 3), flags=8)
        case 3:
            return encode(SnapshotBegin(sid, i, 2, T0, T0))
        case 4:
            return encode(SnapshotEnd(sid, i, 2, T0, T0))
        case 5:
            return encode(Status(FID, i, FeedState(1 + i % 6), T0 + i, i))
        case 6:
            return encode(Gap(FID, i, GapReason(1 + i % 7), T0 + i, sid if i % 2 else 0, i, i))
        case _:
            return encode(Feed(FID, i, Exchange.BINANCE, "fuzz-feed", T0 + i))


class Sink:
    def __init__(self) -> None:
        self.messages = 0

    def write(self, data: bytes) -> None:
        events = orjson.loads(data)
        assert isinstance(events, list)
        assert all(isinstance(e, dict) and isinstance(e.get("type"), str) for e in events)
        self.messages += 1

    def buffered_bytes(self) -> int:
        return 0

    def close(self, code: int, reason: str) -> None:
        raise AssertionError(f"unexpected close {code} {reason}")


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 12),
    st.lists(st.integers(0, 7), max_size=40),
    st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=6),
    st.lists(st.integers(1, 8), min_size=1, max_size=10),
)
def test_mutated_relay_cells_never_break_the_bridge(
    scale: int, kinds: list[int], muts: list[tuple[int, int]], ticks: list[int]
) -> None:
    core = BridgeCore()
    sink = Sink()
    head = encode(Feed(FID, 0, Exchange.BINANCE, "fuzz-feed", T0)) + b"".join(
        encode(Instrument(sid, 0, Exchange.BINANCE, sym, scale, scale, 1, 1, sym.replace("-", "")))
        for sym, sid in zip(SYMS, SIDS, strict=True)
    )
    core.feed_cells(head)
    client = core.add_client(sink, Principal("fuzz", "viewer", 2**40))
    assert client is not None
    core.subscribe(client, "binance", SYMS, ("trades", "quotes", "book"))
    body = bytearray(b"".join(_frame(k, i, scale) for i, k in enumerate(kinds)))
    for pos, val in muts:
        if body:
            body[pos % len(body)] = val
    # feed whole cells per tick (what the relay client hands the core), mutated frames included
    cells, at = len(body) // 48, 0
    for n in ticks:
        core.feed_cells(bytes(body[at * 48 : (at + n) * 48]))
        at += n
    core.feed_cells(bytes(body[at * 48 : cells * 48]))
    core.subscribe(client, "binance", SYMS, ("trades", "quotes", "book"))  # state replay renders too
    assert sink.messages >= 1
