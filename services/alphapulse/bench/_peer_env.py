"""Where the peer benchmarks find cryptofeed: its own Python 3.13 environment, which ``make peer`` builds
(cryptofeed is AGPL: never a dependency of AlphaPulse). ``ALPHAPULSE_CRYPTOFEED_PYTHON`` points elsewhere."""

import os
from pathlib import Path

__all__ = ("CRYPTOFEED_PYTHON",)

_REPO = Path(__file__).resolve().parents[3]
CRYPTOFEED_PYTHON = Path(os.environ.get("ALPHAPULSE_CRYPTOFEED_PYTHON", _REPO / ".venv-cryptofeed" / "bin" / "python"))
