"""A Spark standalone cluster for the spark training engine: one master and one worker,
run by the installed pyspark's own launcher (``<pyspark>/bin/spark-class``), with their
logs, PID files and work directories under ``STREAMREC_HOME/spark``.

``streamrec stack up --spark`` starts it; ``stack down`` stops it when it runs; ready
when the master's web UI (``/json/``) lists an ALIVE worker. The trainer reaches it with
``STREAMREC_SPARK_MASTER=spark://127.0.0.1:<STREAMREC_SPARK_MASTER_PORT>``; its
executors run in JVMs the worker starts.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.errors import ConfigError, PortInUse, ServiceNotReady
from infra.settings import Settings
from infra.stack import processes

HOST = "127.0.0.1"
DAEMON_MEMORY = "512m"  # the master's and the worker's own heap (executors get spark_worker_memory)


@dataclass(frozen=True)
class SparkLayout:
    """Where the master and the worker keep their logs, PID files and scratch space."""

    root: Path
    master_log: Path
    master_pid: Path
    worker_log: Path
    worker_pid: Path
    work: Path  # the worker's: executors' logs and files
    scratch: Path  # shuffle files

    @classmethod
    def of(cls, settings: Settings) -> SparkLayout:
        root = settings.home.resolve() / "spark"
        return cls(root=root, master_log=root / "master.log", master_pid=root / "master.pid",
                   worker_log=root / "worker.log", worker_pid=root / "worker.pid",
                   work=root / "work", scratch=root / "scratch")


def spark_class() -> Path:
    """The installed pyspark's launcher; ConfigError when pyspark is not installed."""
    try:
        import pyspark
    except ImportError as err:
        raise ConfigError(
            "pyspark is not installed; the local Spark cluster runs the installed pyspark",
            hint="install streamrec with its spark extra: pip install -e '.[spark]' (make install does)",
        ) from err
    launcher = Path(pyspark.__file__).resolve().parent / "bin" / "spark-class"
    if not launcher.is_file():
        raise ConfigError(f"pyspark has no launcher at {launcher}",
                          hint="reinstall pyspark: pip install --force-reinstall pyspark")
    return launcher


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise ConfigError(
            "Java is missing; Spark needs Java 17 or newer",
            hint="install it: apt-get install -y openjdk-17-jre-headless",
        )
    return java


def master_state(settings: Settings, timeout_s: float = 2.0) -> dict[str, Any] | None:
    """The master's status JSON (``/json/`` of its web UI), or None when it does not answer."""
    url = f"http://{HOST}:{settings.spark_master_ui_port}/json/"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            state = json.loads(answer.read().decode())
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return state if isinstance(state, dict) else None


def is_ready(settings: Settings, timeout_s: float = 2.0) -> bool:
    """The master is ALIVE and lists an ALIVE worker."""
    state = master_state(settings, timeout_s)
    if state is None or state.get("status") != "ALIVE":
        return False
    return any(worker.get("state") == "ALIVE" for worker in state.get("workers", []))


def running(settings: Settings) -> processes.ProcessRecord | None:
    """The master we started, if it runs."""
    return processes.running_from_pid_file(SparkLayout.of(settings).master_pid)


def worker_running(settings: Settings) -> processes.ProcessRecord | None:
    return processes.running_from_pid_file(SparkLayout.of(settings).worker_pid)


def _environment(layout: SparkLayout) -> list[str]:
    # `env` execs the launcher, and the launcher execs java: the PID recorded is the JVM's.
    return ["env", f"SPARK_DAEMON_MEMORY={DAEMON_MEMORY}", f"SPARK_LOCAL_DIRS={layout.scratch}",
            f"SPARK_LOG_DIR={layout.root}", "SPARK_NO_DAEMONIZE=1"]


def start(settings: Settings) -> str:
    """Start the master and the worker unless ours run already; returns what happened."""
    layout = SparkLayout.of(settings)
    master, worker = running(settings), worker_running(settings)
    if master is not None and worker is not None:
        _wait_ready(settings, layout, [master, worker])
        return "already up"
    launcher = spark_class()
    _java()
    ports = [(settings.spark_master_port, "STREAMREC_SPARK_MASTER_PORT"),
             (settings.spark_master_ui_port, "STREAMREC_SPARK_MASTER_UI_PORT")] if master is None else []
    ports += [(settings.spark_worker_port, "STREAMREC_SPARK_WORKER_PORT"),
              (settings.spark_worker_ui_port, "STREAMREC_SPARK_WORKER_UI_PORT")]
    for port, setting in ports:
        if processes.port_in_use(HOST, port):
            raise PortInUse(
                f"port {port} on {HOST} is taken by another process; Spark cannot listen there",
                hint=f"stop that process or choose another port with {setting}",
            )
    for directory in (layout.root, layout.work, layout.scratch):
        processes.ensure_writable_dir(directory, "STREAMREC_HOME")
    started = []
    if master is None:
        master = processes.spawn_detached(
            [*_environment(layout), str(launcher), "org.apache.spark.deploy.master.Master",
             "--host", HOST, "--port", str(settings.spark_master_port),
             "--webui-port", str(settings.spark_master_ui_port)],
            layout.master_log,
        )
        processes.write_pid_file(layout.master_pid, master)
        started.append(master)
    cores = ["--cores", str(settings.spark_worker_cores)] if settings.spark_worker_cores else []
    worker = processes.spawn_detached(
        [*_environment(layout), str(launcher), "org.apache.spark.deploy.worker.Worker",
         settings.spark_cluster_url, "--host", HOST, "--port", str(settings.spark_worker_port),
         "--webui-port", str(settings.spark_worker_ui_port), "--memory", settings.spark_worker_memory,
         *cores, "--work-dir", str(layout.work)],
        layout.worker_log,
    )
    processes.write_pid_file(layout.worker_pid, worker)
    started.append(worker)
    _wait_ready(settings, layout, started)
    return "started"


def _wait_ready(settings: Settings, layout: SparkLayout, records: list[processes.ProcessRecord]) -> None:
    deadline = time.monotonic() + settings.stack_timeout_s
    while time.monotonic() < deadline:
        for record, log in zip(records, (layout.master_log, layout.worker_log)[-len(records):], strict=True):
            if not record.is_running():
                stop(settings)
                raise ServiceNotReady(
                    f"Spark's {log.stem} exited while starting; its log ends:\n" + processes.tail(log),
                    hint=f"full log: {log}",
                )
        if is_ready(settings):
            return
        time.sleep(0.5)
    stop(settings)  # leave nothing half-started behind
    raise ServiceNotReady(
        f"the Spark master at {settings.spark_cluster_url} listed no ALIVE worker within "
        f"{settings.stack_timeout_s:.0f} s; the worker's log ends:\n" + processes.tail(layout.worker_log),
        hint=f"logs: {layout.root}; raise STREAMREC_STACK_TIMEOUT_S on a slow machine",
    )


def stop(settings: Settings) -> str:
    """Stop the worker (its executors go with it), then the master."""
    layout = SparkLayout.of(settings)
    stopped = False
    for pid_file in (layout.worker_pid, layout.master_pid):
        record = processes.running_from_pid_file(pid_file)
        if record is not None:
            processes.terminate(record, timeout_s=15.0)
            stopped = True
        pid_file.unlink(missing_ok=True)
    return "stopped" if stopped else "not running"
