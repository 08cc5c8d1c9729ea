"""Storage fixtures: one fresh database per test, on plain PostgreSQL and on TimescaleDB.

``pg_server`` is parametrized: ``postgres`` is the machine's server on 127.0.0.1:5432 (no
extension); ``timescaledb`` is a private cluster (started once per session from the system's
PostgreSQL binaries, as the embedded server does) with the extension preloaded, because loading
it needs ``shared_preload_libraries`` and a restart we must not inflict on the shared server.
"""

import asyncio
import os
import sys
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # relay_harness, beside this folder

from alphapulse.store.embedded import embedded_postgres, find_pg_bin
from alphapulse.store.migrate import migrate

SYSTEM_PG = os.environ.get("ALPHAPULSE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def timescaledb_installed() -> bool:
    try:
        share = find_pg_bin().parent / "share"
    except Exception:
        return False
    candidates = [share / "extension", Path("/usr/share/postgresql") / find_pg_bin().parent.name / "extension"]
    return any((c / "timescaledb.control").exists() for c in candidates)


class _ClusterThread(threading.Thread):
    """Holds an embedded cluster open on its own loop for the whole session."""

    def __init__(self, directory: Path, settings: dict[str, str]) -> None:
        super().__init__(name="test.timescaledb-cluster", daemon=True)
        self.directory = directory
        self.settings = settings
        self.url: str | None = None
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self._stopping = threading.Event()

    def run(self) -> None:
        async def hold() -> None:
            async with embedded_postgres(self.directory, database="postgres", settings=self.settings) as url:
                self.url = url
                self.ready.set()
                while not self._stopping.is_set():
                    await asyncio.sleep(0.05)

        try:
            asyncio.run(hold())
        except BaseException as e:
            self.error = e
        finally:
            self.ready.set()

    def stop(self) -> None:
        self._stopping.set()
        self.join(60)


@pytest.fixture(scope="session")
def timescale_server() -> Iterator[str]:
    if not timescaledb_installed():
        pytest.skip("TimescaleDB is not installed for the local PostgreSQL: run .ci/install-timescaledb")
    with tempfile.TemporaryDirectory(prefix="ap-tsdb-", dir="/tmp") as d:
        os.chmod(d, 0o755)  # the server runs unprivileged and must reach its folder
        cluster = _ClusterThread(
            Path(d),
            {"shared_preload_libraries": "timescaledb", "fsync": "off", "timescaledb.telemetry_level": "off"},
        )
        cluster.start()
        cluster.ready.wait(120)
        if cluster.url is None:
            raise RuntimeError(f"TimescaleDB cluster did not start: {cluster.error!r}")
        try:
            yield cluster.url
        finally:
            cluster.stop()


@pytest.fixture(params=["postgres", "timescaledb"])
def pg_server(request: pytest.FixtureRequest) -> str:
    if request.param == "timescaledb":
        url: str = request.getfixturevalue("timescale_server")
        return url
    return SYSTEM_PG


def _with_db(admin_url: str, name: str) -> str:
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture
async def database_url(pg_server: str) -> AsyncIterator[str]:
    """A fresh, empty database on the parametrized server, dropped afterwards."""
    name = f"ap_test_store_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _with_db(pg_server, name)
    finally:
        admin = await asyncpg.connect(pg_server)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def migrated_url(database_url: str) -> str:
    await migrate(database_url)
    return database_url
