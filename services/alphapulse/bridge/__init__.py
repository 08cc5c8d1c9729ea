"""The frontend bridge: relay frames → compact JSON over WebSocket for browsers (docs/bridge.md)."""

from alphapulse.bridge.core import BridgeCore, BridgeLimits
from alphapulse.bridge.messages import ClientMessageError, CloseCode, parse_client_message
from alphapulse.bridge.metrics import BridgeMetrics
from alphapulse.bridge.server import BridgeServer
from alphapulse.tokens import Principal, TokenError, issue_token, require_secret, verify_token

__all__ = (
    "BridgeCore",
    "BridgeLimits",
    "BridgeMetrics",
    "BridgeServer",
    "ClientMessageError",
    "CloseCode",
    "Principal",
    "TokenError",
    "issue_token",
    "parse_client_message",
    "require_secret",
    "verify_token",
)
