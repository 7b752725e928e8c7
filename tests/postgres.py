"""A throw-away PostgreSQL server on 127.0.0.1 for the tests of the PostgreSQL path.

Uses Debian's server binaries (package `postgresql`, which .ci/run installs). Outside CI, where
they are absent, the tests that need it are skipped with that reason; in CI they fail instead.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

from tests.helpers import free_port


def find_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


class PostgresServer:
    def __init__(self, bindir: str) -> None:
        self.bindir = bindir
        self.datadir = tempfile.mkdtemp(prefix="relay-pg-")
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            user = pwd.getpwnam("postgres")
            os.chown(self.datadir, user.pw_uid, user.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run(self.as_user + list(args), check=True, capture_output=True, cwd="/tmp")

    def start(self) -> str:
        self._run(f"{self.bindir}/initdb", "-D", self.datadir, "-U", "relay", "-A", "trust",
                  "--no-sync", "-E", "UTF8")
        self._run(f"{self.bindir}/pg_ctl", "-D", self.datadir, "-w", "-l",
                  f"{self.datadir}/log", "-o",
                  f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=off",
                  "start")
        deadline = time.time() + 30
        while time.time() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            time.sleep(0.1)
        return f"postgresql+psycopg://relay@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        try:
            self._run(f"{self.bindir}/pg_ctl", "-D", self.datadir, "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.datadir, ignore_errors=True)
