"""A real PostgreSQL server for the record's tests and its benchmark
(`benchmarks.record`): Debian's `postgresql`
(installed by .ci/run), a new cluster made with initdb in a temporary
directory, started with pg_ctl on a free loopback port, and stopped at the
end of the session. As root, the server runs as the `postgres` user
(initdb refuses root).

Each test gets a database of its own (`database()`); `stop()` and
`start()` are for the fault tests (a server stopped under load).

Where the binaries are missing the tests that need them are skipped, except
under CI (the `CI` variable), where that is an error: CI installs them.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

from tests.conftest import free_port


def binaries() -> Path | None:
    """The newest installed server's bin directory (Debian's layout)."""
    found = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")]
    found.sort(key=lambda path: int(path.parts[4]))  # /usr/lib/postgresql/<major>/bin
    return found[-1].parent if found else None


class PostgresServer:
    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.home = Path(tempfile.mkdtemp(prefix="heart-pg-"))
        self.data = self.home / "data"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            shutil.chown(self.home, self.user)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, text=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1"
        log = str(self.home / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: clients are disconnected, the server shuts down cleanly;
        `immediate`: the server is killed, as by a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new, empty database; its DSN."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn(), autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return self.dsn(name)

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.home, ignore_errors=True)
