"""A Postgres cluster of streamrec's own (initdb + pg_ctl) from Debian's packages.

The cluster listens on the host and port of ``STREAMREC_DATABASE_URL`` and gets that
URL's role (with CREATEDB, so tests can make throw-away databases) and database.
As root, the server runs as the unprivileged ``postgres`` user.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from infra.errors import ConfigError, PortInUse, ServiceNotReady, StackError
from infra.settings import Settings
from infra.stack import processes

RUN_AS = "postgres"  # the Debian package's system user


@dataclass(frozen=True)
class PostgresLayout:
    data: Path
    socket_dir: Path
    log: Path
    pid_file: Path

    @classmethod
    def of(cls, settings: Settings) -> PostgresLayout:
        root = settings.home.resolve() / "postgres"
        # Unix socket paths are limited to ~107 bytes, so the socket lives in a short
        # directory of its own rather than under a possibly deep STREAMREC_HOME.
        tag = hashlib.sha256(str(root).encode()).hexdigest()[:10]
        return cls(
            data=root / "data",
            socket_dir=Path(tempfile.gettempdir()) / f"streamrec-pg-{tag}",
            log=root / "postgres.log",
            pid_file=root / "postgres.pid",
        )


def _as_root() -> bool:
    return os.geteuid() == 0


def _owner_prefix() -> list[str]:
    return ["runuser", "-u", RUN_AS, "--"] if _as_root() else []


def find_bin_dir(settings: Settings) -> Path | None:
    """The directory holding initdb and pg_ctl: the setting, Debian's newest, or PATH."""
    if settings.postgres_bin_dir is not None:
        return settings.postgres_bin_dir if (settings.postgres_bin_dir / "pg_ctl").exists() else None
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).resolve().parent if on_path else None


def install_server(settings: Settings) -> Path:
    """Install Debian's ``postgresql`` package (root only) and return its bin dir."""
    if not _as_root():
        raise ConfigError(
            "the PostgreSQL server is not installed and only root can install it",
            hint="run `sudo apt-get install -y postgresql`, or set STREAMREC_POSTGRES_BIN_DIR",
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "postgresql"]):
        result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            raise StackError(
                f"`{' '.join(argv)}` failed:\n{(result.stdout + result.stderr)[-2000:]}",
                hint="install the postgresql package by hand, then run `streamrec stack up` again",
            )
    bin_dir = find_bin_dir(settings)
    if bin_dir is None:
        raise StackError("postgresql was installed but pg_ctl was not found",
                         hint="set STREAMREC_POSTGRES_BIN_DIR to the directory holding pg_ctl")
    return bin_dir


def _prepare_dir(path: Path, mode: int) -> None:
    processes.ensure_writable_dir(path, "STREAMREC_HOME")
    os.chmod(path, mode)
    if _as_root():
        shutil.chown(path, RUN_AS, RUN_AS)
        probe = subprocess.run([*_owner_prefix(), "test", "-w", str(path)], check=False)
        if probe.returncode != 0:
            raise ConfigError(
                f"the {RUN_AS} user cannot write {path} (a parent directory is closed to it)",
                hint="point STREAMREC_HOME at a directory every user can traverse, e.g. under /tmp",
            )


def _run(argv: list[str], what: str, layout: PostgresLayout) -> None:
    result = subprocess.run([*_owner_prefix(), *argv], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ServiceNotReady(
            f"{what} failed:\n{(result.stdout + result.stderr)[-1500:]}\nits log ends:\n"
            + processes.tail(layout.log),
            hint=f"full log: {layout.log}",
        )


def running(settings: Settings) -> processes.ProcessRecord | None:
    return processes.running_from_pid_file(PostgresLayout.of(settings).pid_file)


def is_ready(settings: Settings, timeout_s: int = 3) -> bool:
    try:
        with psycopg.connect(settings.database_url, connect_timeout=timeout_s) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def start(settings: Settings) -> str:
    layout = PostgresLayout.of(settings)
    if running(settings) is not None:
        _ensure_role_and_database(settings, layout)
        return "already up"
    db = settings.database
    if processes.port_in_use(db.host, db.port):
        if is_ready(settings):
            return "already up (a server streamrec did not start)"
        raise PortInUse(
            f"port {db.port} on {db.host} is taken by another process; Postgres cannot listen there",
            hint="stop that process or choose another port in STREAMREC_DATABASE_URL",
        )
    bin_dir = find_bin_dir(settings) or install_server(settings)
    _prepare_dir(layout.data.parent, 0o755)
    _prepare_dir(layout.data, 0o700)
    _prepare_dir(layout.socket_dir, 0o755)
    if not (layout.data / "PG_VERSION").exists():
        _run([str(bin_dir / "initdb"), "-D", str(layout.data), "-U", "postgres",
              "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale"],
             "initdb", layout)
    if _as_root():
        layout.log.touch()
        shutil.chown(layout.log, RUN_AS, RUN_AS)
    # Commit timestamps let the benchmarks time when a list became visible (bench.realtime).
    options = (f"-p {db.port} -k {layout.socket_dir} -c listen_addresses={db.host} "
               "-c max_connections=200 -c shared_buffers=256MB -c track_commit_timestamp=on")
    _run([str(bin_dir / "pg_ctl"), "-D", str(layout.data), "-l", str(layout.log),
          "-w", "-t", str(int(settings.stack_timeout_s)), "-o", options, "start"],
         "pg_ctl start", layout)
    postmaster_pid = int((layout.data / "postmaster.pid").read_text().split()[0])
    processes.write_pid_file(layout.pid_file, processes.record_process(postmaster_pid))
    _ensure_role_and_database(settings, layout)
    return "started"


def _ensure_role_and_database(settings: Settings, layout: PostgresLayout) -> None:
    db = settings.database
    conninfo = f"host={layout.socket_dir} port={db.port} user=postgres dbname=postgres"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        role_exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (db.user,)).fetchone()
        verb = "ALTER" if role_exists else "CREATE"
        conn.execute(sql.SQL("{} ROLE {} LOGIN CREATEDB PASSWORD {}").format(
            sql.SQL(verb), sql.Identifier(db.user), sql.Literal(db.password or None)))
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db.name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(db.name), sql.Identifier(db.user)))


def stop(settings: Settings) -> str:
    layout = PostgresLayout.of(settings)
    record = running(settings)
    if record is None:
        return "not running"
    bin_dir = find_bin_dir(settings)
    if bin_dir is not None:
        subprocess.run([*_owner_prefix(), str(bin_dir / "pg_ctl"), "-D", str(layout.data),
                        "-m", "fast", "-w", "-t", "30", "stop"],
                       capture_output=True, check=False)
    processes.terminate(record, timeout_s=10.0)  # no-op once pg_ctl has stopped it
    layout.pid_file.unlink(missing_ok=True)
    return "stopped"
