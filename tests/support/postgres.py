"""A real PostgreSQL for the tests, started by the test session itself.

The first call to `server()` (or `fresh_url()`) runs `initdb` and `pg_ctl start` in a
temporary folder, listening on a free TCP port of 127.0.0.1 with trust authentication, and
migrates a template database once. Every `fresh_url()` is then a new, migrated, empty
database (`CREATE DATABASE … TEMPLATE`, a few tens of milliseconds).

As root (here and in CI) PostgreSQL refuses to run, so the server runs as the system user
`tuneyard-pg` (created with `useradd --system` when missing) through `runuser`/`setpriv`.

API (for the contract tier, the replicas test, the benchmarks):

- `require()`: skip the calling test with the reason when no `initdb` is found, or fail it
  when `CI=true` (a real backend may not silently vanish in CI).
- `server() -> Server`: the session's server, started on first use.
- `fresh_url() -> str`: a `postgresql+psycopg://` URL of a new migrated database. Made
  during a test, it is dropped after that test (tests/conftest.py's autouse fixture calls
  `drop_since`) — or, when a scheduler thread the test left behind is still alive, at
  the end of the session; made before any test (a module fixture), at the session's end.
  Dispose the engines you make on it (psycopg warns of unclosed connections, and
  warnings are errors here).
- `fresh_engine() -> sa.Engine`: `storage.database.connect(fresh_url())`, disposed for you
  when its database is dropped.
- `Server.url(database)`, `Server.admin_url`, `Server.port`, `Server.log`.
- `stop()`: stop the server and delete its folder (tests/conftest.py calls it at session
  end; atexit too). A watchdog process stops it as well if the test process dies without
  running either (SIGKILL), so no postgres outlives a crashed run.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tuneyard.storage import database

__all__ = [
    "Server",
    "available",
    "created",
    "drop_since",
    "fresh_engine",
    "fresh_url",
    "require",
    "server",
    "stop",
]

USER = "tuneyard-pg"
"""The system user the server runs as when the tests run as root."""
_ROLE = "tuneyard"
_TEMPLATE = "tuneyard_template"
_SETTINGS = (
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=300",
    "shared_buffers=32MB",
    "listen_addresses=127.0.0.1",
)

_lock = threading.Lock()
_server: Server | None = None
_created: list[str] = []
_engines: list[tuple[str, sa.Engine]] = []
_deferred: list[sa.Engine] = []
_older_threads: set[int | None] = set()


def _binary(name: str) -> str | None:
    """A PostgreSQL program: on the PATH, else in Debian's versioned folders."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def available() -> bool:
    """Whether this machine can run a PostgreSQL server for the tests."""
    return _binary("initdb") is not None and _binary("pg_ctl") is not None


def require() -> None:
    """Skip (fail under CI=true) when PostgreSQL is not installed."""
    if available():
        return
    reason = "PostgreSQL tests need initdb and pg_ctl (not found on PATH)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must run them", pytrace=False)
    pytest.skip(reason)


class Server:
    """One running PostgreSQL cluster in a temporary folder."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tuneyard-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        """The server's log (read it when a test fails oddly)."""
        self.port = _free_port()
        self._prefix = _as_postgres_user(self.root)
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._start()

    @property
    def admin_url(self) -> str:
        """A URL of the `postgres` maintenance database."""
        return self.url("postgres")

    def url(self, database_name: str) -> str:
        """A SQLAlchemy URL of one database of this server."""
        return f"postgresql+psycopg://{_ROLE}@127.0.0.1:{self.port}/{database_name}"

    def _run(self, *args: str) -> None:
        subprocess.run(
            [*self._prefix, *args],
            check=True,
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "LC_ALL": "C", "TZ": "UTC"},
        )

    def _start(self) -> None:
        initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
        assert initdb and pg_ctl
        self._pg_ctl = pg_ctl
        try:
            self._run(
                initdb, "-D", str(self.data), "-U", _ROLE, "--auth=trust", "-E", "UTF8",
                "--no-sync", "--no-instructions",
            )  # fmt: skip
            options = " ".join(
                f"-c {s}" for s in (*_SETTINGS, f"unix_socket_directories={self.root}")
            )
            self._run(
                pg_ctl, "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                "-o", f"-p {self.port} {options}", "start",
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            self.stop()
            raise RuntimeError(
                f"could not start PostgreSQL: {exc.stdout.decode(errors='replace')}\n{log}"
            ) from exc
        self._watchdog = _watch(self._prefix, pg_ctl, self.data, self.root)
        admin = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {_TEMPLATE}"))
        admin.dispose()
        engine = database.connect(self.url(_TEMPLATE))
        database.migrate(engine)
        engine.dispose()

    def create_database(self) -> str:
        """A new migrated database; its name."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        self._admin(f"CREATE DATABASE {name} TEMPLATE {_TEMPLATE} STRATEGY FILE_COPY")
        return name

    def create_database_empty(self) -> str:
        """A new database with no tables (to migrate by hand); its name."""
        name = f"e_{uuid.uuid4().hex[:16]}"
        self._admin(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database, ending its connections."""
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def _admin(self, statement: str) -> None:
        engine = sa.create_engine(
            self.admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(statement))
        finally:
            engine.dispose()

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its folder."""
        if self.data.exists() and (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError, OSError):
                self._run(self._pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")
        if self._watchdog is not None and self._watchdog.stdin is not None:
            with contextlib.suppress(OSError):
                self._watchdog.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._watchdog.wait(timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)


def server() -> Server:
    """The session's server, started on first use (skips or fails as `require` does)."""
    global _server
    require()
    with _lock:
        if _server is None:
            _server = Server()
            atexit.register(stop)
        return _server


def fresh_url() -> str:
    """A `postgresql+psycopg://` URL of a new, migrated, empty database."""
    name = server().create_database()
    with _lock:
        _created.append(name)
    return server().url(name)


def fresh_engine() -> sa.Engine:
    """An engine (`storage.database.connect`) on a new migrated database; it is disposed
    when its database is dropped."""
    url = fresh_url()
    engine = database.connect(url)
    with _lock:
        _engines.append((url.rsplit("/", 1)[1], engine))
    return engine


def drop_since(mark: int) -> None:
    """Drop the databases `fresh_url` made after the first `mark` of them, disposing the
    engines `fresh_engine` made on them. While a thread the test left behind still works
    on one (a job watcher, a connection checked out), they are left to the session's end:
    disposing a pool under a thread leaks its connection."""
    with _lock:
        names, _created[mark:] = _created[mark:], []
        engines = [e for n, e in _engines if n in names]
        _engines[:] = [(n, e) for n, e in _engines if n not in names]
        current = _server
    if not names or current is None:
        return
    if not _settled(engines):
        with _lock:  # the server's folder goes at the end, these databases with it
            _deferred.extend(engines)
        return
    for engine in engines:
        engine.dispose()
    for name in names:
        current.drop_database(name)


def _settled(engines: list[sa.Engine], timeout: float = 1.0) -> bool:
    """Whether the job watchers a test started have ended and no connection of `engines`
    is checked out, waiting up to `timeout` (a watcher records its job's end a moment
    after the test saw it)."""
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread.name.startswith("tuneyard-watch-") and thread.ident not in _older_threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                return False
    while any(_checked_out(e) for e in engines):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _checked_out(engine: sa.Engine) -> int:
    pool = engine.pool
    return pool.checkedout() if isinstance(pool, sa.pool.QueuePool) else 0


def created() -> int:
    """How many databases `fresh_url` has made and not dropped (a mark for `drop_since`,
    taken when a test starts: the threads alive then are not that test's)."""
    with _lock:
        _older_threads.clear()
        _older_threads.update(t.ident for t in threading.enumerate())
        return len(_created)


def stop() -> None:
    """Stop the session's server, if one was started."""
    global _server
    with _lock:
        current, _server = _server, None
        _created.clear()
        engines = [e for _, e in _engines] + _deferred
        _deferred.clear()
        _engines.clear()
    for engine in engines:
        engine.dispose()
    if current is not None:
        current.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres_user(root: Path) -> list[str]:
    """The command prefix that runs a program as a non-root user (nothing when not root);
    `root` is handed to that user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
            check=True,
            capture_output=True,
        )
    entry = pwd.getpwnam(USER)
    os.chown(root, entry.pw_uid, entry.pw_gid)
    root.chmod(0o700)
    if shutil.which("runuser"):
        return ["runuser", "-u", USER, "--"]
    return ["setpriv", f"--reuid={USER}", f"--regid={entry.pw_gid}", "--init-groups", "--"]


_WATCHDOG = """
import subprocess, sys, shutil
sys.stdin.read()  # returns when the test process closes the pipe or dies
prefix, pg_ctl, data, root = sys.argv[1:-3], *sys.argv[-3:]
subprocess.run([*prefix, pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"],
               capture_output=True, cwd=root)
shutil.rmtree(root, ignore_errors=True)
"""


def _watch(prefix: list[str], pg_ctl: str, data: Path, root: Path) -> subprocess.Popen[bytes]:
    """A process that stops the server once the test process is gone, however it ended."""
    return subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, *prefix, pg_ctl, str(data), str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=root,
    )
