"""Which peers may name the client's address (``X-Forwarded-For``), and the address they name.

The API (through uvicorn) and the bridge both count per client address (logins, connections waiting
to authenticate). Behind an Ingress the TCP peer is the controller, so every browser would share one
count unless the controller is trusted to say who the client is; trusting anyone else lets a client
pick its own address. Both services read the same ``ALPHAPULSE_TRUSTED_PROXIES`` (docs/security.md,
"The client address behind the Ingress").
"""

import ipaddress
from collections.abc import Iterable
from typing import Final

from alphapulse.errors import ConfigError
from alphapulse.settings import ENV_PREFIX

__all__ = ("TrustedProxies", "parse_trusted_proxies")

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted_proxies(raw: str, *, source: str = f"{ENV_PREFIX}TRUSTED_PROXIES") -> tuple[str, ...]:
    """Comma- or space-separated IP addresses and CIDR networks, or ``*`` alone; "" trusts nobody.

    Stricter than uvicorn, which keeps any entry it cannot parse as a literal string that silently
    never matches: a typo here would leave the per-address limits shared by every user without a word.
    """
    entries = [e for e in raw.replace(",", " ").split() if e]
    if entries == ["*"]:
        return ("*",)
    out: list[str] = []
    for entry in entries:
        if entry == "*":
            raise ConfigError(f"{source}: '*' trusts every peer and cannot be combined with addresses")
        out.append(_proxy_entry(entry, source))
    return tuple(out)


def _proxy_entry(entry: str, source: str) -> str:
    try:
        if "/" not in entry:
            return str(ipaddress.ip_address(entry))
        try:
            return str(ipaddress.ip_network(entry))
        except ValueError:
            # 10.244.1.5/16: a valid network only without the host bits; say which one was meant
            network = ipaddress.ip_network(entry, strict=False)
            raise ConfigError(f"{source}: {entry!r} has host bits set; the network is {network}") from None
    except ValueError as e:
        raise ConfigError(f"{source}: {entry!r} is not an IP address or a CIDR network (e.g. 10.244.0.0/16)") from e


class TrustedProxies:
    """:func:`parse_trusted_proxies`' entries, matched against peers.

    :meth:`client` follows uvicorn's rule, so the API and the bridge agree on who a client is: the
    right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy (each proxy appends the
    address it saw, so entries to the left of it are whatever the client chose to send)."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries: Final = tuple(entries)
        self._everyone = self.entries == ("*",)
        self._networks: tuple[_Network, ...] = () if self._everyone else tuple(map(ipaddress.ip_network, self.entries))

    def __bool__(self) -> bool:
        return bool(self.entries)

    def trusts(self, address: str) -> bool:
        if self._everyone:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False  # not an address (a name, garbage): nothing to trust
        return any(ip in net for net in self._networks)

    def client(self, peer: str, forwarded_for: Iterable[str]) -> str:
        """The client's address: ``peer`` itself unless ``peer`` is trusted and forwarded for someone."""
        if not self.entries or not self.trusts(peer):
            return peer
        hops = [h.strip() for header in forwarded_for for h in header.split(",") if h.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0] if hops else peer
