"""Named dependencies handlers declare: ``ctx: Ctx``, ``principal: CurrentUser``, ``market: Market``."""

from litestar.di import NamedDependency

from alphapulse.api.auth import Principal
from alphapulse.api.context import ApiContext
from alphapulse.api.marketdata import MarketData

__all__ = ("Ctx", "CurrentUser", "Market")

Ctx = NamedDependency[ApiContext]
CurrentUser = NamedDependency[Principal]
Market = NamedDependency[MarketData]
