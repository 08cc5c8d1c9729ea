"""What every atheris harness in this folder shares: the command line, the corpus, the seeds.

Run one as ``python e2e/fuzz/fuzz_<name>.py -max_total_time=60`` (any libFuzzer flag works). Without
a corpus directory on the command line, the harness uses ``e2e/fuzz/corpus/<name>/`` (kept out of
git) and seeds it from the venues' reference sessions and valid frames the first time. A crash
leaves ``crash-<sha1>`` in the working directory; replay it with ``python e2e/fuzz/fuzz_<name>.py
crash-<sha1>`` and turn it into a regression test (see docs/security.md).
"""

import logging
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO / "services"), str(REPO / "operator")]


# the services log every rejected message; at thousands of inputs a second that is only noise
logging.disable(logging.CRITICAL)


def fixtures_dir() -> Path:
    """The venues' reference sessions (the same lookup as the simulator and the test suite)."""
    from alphapulse.sim.replay import default_fixtures_dir

    found = default_fixtures_dir()
    if not (found / "binance" / "session.jsonl").exists():
        raise SystemExit(f"exchange fixtures not found in {found}: set ALPHAPULSE_FIXTURES_DIR to their folder")
    return found


def run(name: str, target: Callable[[bytes], None], seeds: Callable[[], Iterable[bytes]]) -> None:
    import atheris

    args = sys.argv[:]
    positional = [a for a in args[1:] if not a.startswith("-")]
    if not positional:
        args.append(str(HERE / "corpus" / name))
        positional = [args[-1]]
    if not any(a.startswith("-max_len=") for a in args):
        args.append("-max_len=65536")  # a venue's largest message (a deep book snapshot) fits; keeps the corpus small
    corpus = Path(positional[0])
    if not corpus.is_file() and (not corpus.is_dir() or not any(corpus.iterdir())):
        # a new or empty corpus directory starts from the seeds (a file argument is a crash to replay)
        corpus.mkdir(parents=True, exist_ok=True)
        for i, seed in enumerate(seeds()):
            (corpus / f"seed-{i:04d}").write_bytes(seed)
    atheris.Setup(args, target)
    atheris.Fuzz()
