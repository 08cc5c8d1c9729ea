"""One exception tree for the whole package.

Retry policy travels with the type: a :class:`RetryableError` means "the same call may succeed
later" (a dropped connection, a server that is starting), a :class:`FatalError` means "retrying
cannot help" (a bad feed file, a symbol that does not fit its scale).
"""

__all__ = ("AlphapulseError", "ConfigError", "FatalError", "RetryableError")


class AlphapulseError(Exception):
    """Root of every error raised on purpose by AlphaPulse."""


class RetryableError(AlphapulseError):
    """Temporary: the operation may succeed if tried again (after a backoff)."""


class FatalError(AlphapulseError):
    """Permanent: retrying the same operation gives the same failure."""


class ConfigError(FatalError):
    """A setting, flag or feed file is invalid; the message says which and why."""
