"""Whose X-Forwarded-For is believed, and the client address it yields (the API's and the bridge's rule)."""

import pytest

from alphapulse.proxies import TrustedProxies


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "client"),
    [
        # trusting nobody: the TCP peer, whatever the header says
        ((), "10.244.1.7", ["198.51.100.1"], "10.244.1.7"),
        # a peer that is not a trusted proxy cannot name anyone
        (("10.244.0.0/16",), "192.0.2.9", ["198.51.100.1"], "192.0.2.9"),
        # the proxy appends the address it saw: the right-most entry that is not a proxy is the client
        (("10.244.0.0/16",), "10.244.1.7", ["203.0.113.99, 198.51.100.1"], "198.51.100.1"),
        # two proxies in a row, and the header split over two lines
        (("10.244.0.0/16",), "10.244.1.7", ["198.51.100.1", "10.244.3.3"], "198.51.100.1"),
        # every entry a proxy: the left-most (uvicorn's choice too)
        (("10.244.0.0/16",), "10.244.1.7", ["10.244.9.9, 10.244.3.3"], "10.244.9.9"),
        # no header from a trusted peer: the peer
        (("10.244.0.0/16",), "10.244.1.7", [], "10.244.1.7"),
        # "*" trusts every entry too: the left-most, whatever the client wrote (uvicorn's "*" as well)
        (("*",), "192.0.2.9", ["garbage, 198.51.100.1"], "garbage"),
        # an entry that is no address is nobody to skip
        (("10.244.1.7",), "10.244.1.7", ["not-an-ip"], "not-an-ip"),
        (("fd00::/8",), "fd00::5", ["2001:db8::1"], "2001:db8::1"),
    ],
)
def test_client_address(trusted: tuple[str, ...], peer: str, forwarded: list[str], client: str) -> None:
    assert TrustedProxies(trusted).client(peer, forwarded) == client


def test_trusting_nobody_is_falsy() -> None:
    assert not TrustedProxies(())
    assert TrustedProxies(("*",))
