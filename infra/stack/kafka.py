"""The real Apache Kafka broker (KRaft, single node) from Maven Central's jars."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from infra.errors import ConfigError, PortInUse, ServiceNotReady, StackError
from infra.kafka import broker_answers
from infra.settings import Settings
from infra.stack import processes

KAFKA_DIR = Path(__file__).resolve().parent.parent / "kafka"
POM = KAFKA_DIR / "pom.xml"
LOG4J = KAFKA_DIR / "log4j.properties"


@dataclass(frozen=True)
class KafkaLayout:
    """Where the broker keeps its jars, data, config, log and PID file."""

    jars: Path
    data: Path
    config: Path
    log: Path
    pid_file: Path
    cluster_id: Path

    @classmethod
    def of(cls, settings: Settings) -> KafkaLayout:
        home = settings.home.resolve()
        # The jar cache is keyed by the pom's digest: a new pinned version fetches anew.
        pom_digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:12]
        root = home / "kafka"
        return cls(
            jars=home / "cache" / f"kafka-jars-{pom_digest}",
            data=root / "data",
            config=root / "server.properties",
            log=root / "kafka.log",
            pid_file=root / "kafka.pid",
            cluster_id=root / "cluster-id",
        )


def fetch_jars(layout: KafkaLayout) -> bool:
    """Copy the broker's runtime jars into the cache once; True if it downloaded."""
    if (layout.jars / ".complete").exists():
        return False
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ConfigError(
            "Maven (mvn) is missing; it fetches the Kafka broker's jars from Maven Central",
            hint="install it: apt-get install -y maven",
        )
    staging = layout.jars.with_name(layout.jars.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    result = subprocess.run(
        [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
         "-DincludeScope=runtime", f"-DoutputDirectory={staging}"],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise StackError(
            "Maven could not fetch the Kafka jars:\n" + (result.stdout + result.stderr)[-2000:],
            hint="check that Maven Central is reachable (mvn -v; ~/.m2/settings.xml)",
        )
    (staging / ".complete").write_text("ok")
    shutil.rmtree(layout.jars, ignore_errors=True)
    staging.rename(layout.jars)
    return True


def server_properties(settings: Settings, layout: KafkaLayout) -> str:
    host, port = settings.kafka_host_port
    controller = settings.kafka_controller_port
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{host}:{controller}",
        f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller}",
        f"advertised.listeners=PLAINTEXT://{host}:{port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={layout.data}",
        f"num.partitions={settings.ratings_partitions}",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=8",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=true",
        "",
    ])


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise ConfigError(
            "Java is missing; the Kafka broker needs Java 17 or newer",
            hint="install it: apt-get install -y openjdk-17-jre-headless",
        )
    return java


def _format_storage(java: str, layout: KafkaLayout) -> None:
    if not layout.cluster_id.exists():
        layout.cluster_id.write_text(uuid.uuid4().hex[:22])
    cluster_id = layout.cluster_id.read_text().strip()
    result = subprocess.run(
        [java, "-cp", f"{layout.jars}/*", f"-Dlog4j.configuration=file:{LOG4J}",
         "kafka.tools.StorageTool", "format", "-t", cluster_id,
         "-c", str(layout.config), "--ignore-formatted"],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise StackError(
            "formatting the Kafka data directory failed:\n" + (result.stdout + result.stderr)[-2000:],
            hint=f"remove {layout.data} to start from an empty broker",
        )


def running(settings: Settings) -> processes.ProcessRecord | None:
    return processes.running_from_pid_file(KafkaLayout.of(settings).pid_file)


def is_ready(settings: Settings, timeout_s: float = 3.0) -> bool:
    return asyncio.run(broker_answers(settings.kafka_bootstrap, timeout_s))


def start(settings: Settings) -> str:
    """Start the broker unless ours already runs; returns what happened."""
    layout = KafkaLayout.of(settings)
    existing = running(settings)
    if existing is not None:
        _wait_ready(settings, layout, existing)
        return "already up"
    host, port = settings.kafka_host_port
    if processes.port_in_use(host, port) and is_ready(settings):
        return "already up (a broker streamrec did not start)"
    for busy_port, setting in (
        (port, "STREAMREC_KAFKA_BOOTSTRAP"),
        (settings.kafka_controller_port, "STREAMREC_KAFKA_CONTROLLER_PORT"),
    ):
        if processes.port_in_use(host, busy_port):
            raise PortInUse(
                f"port {busy_port} on {host} is taken by another process; Kafka cannot listen there",
                hint=f"stop that process or choose another port with {setting}",
            )
    java = _java()
    processes.ensure_writable_dir(layout.data, "STREAMREC_HOME")
    downloaded = fetch_jars(layout)
    layout.config.write_text(server_properties(settings, layout))
    _format_storage(java, layout)
    record = processes.spawn_detached(
        [java, f"-Xmx{settings.kafka_heap}", f"-Xms{settings.kafka_heap}",
         "-XX:+UseG1GC", "-Djava.awt.headless=true",
         f"-Dlog4j.configuration=file:{LOG4J}", f"-Dkafka.logs.dir={layout.log.parent}",
         "-cp", f"{layout.jars}/*", "kafka.Kafka", str(layout.config)],
        layout.log,
    )
    processes.write_pid_file(layout.pid_file, record)
    _wait_ready(settings, layout, record)
    return "started (jars fetched)" if downloaded else "started"


def _wait_ready(
    settings: Settings, layout: KafkaLayout, record: processes.ProcessRecord
) -> None:
    deadline = time.monotonic() + settings.stack_timeout_s
    while time.monotonic() < deadline:
        if not record.is_running():
            layout.pid_file.unlink(missing_ok=True)
            raise ServiceNotReady(
                "Kafka exited while starting; its log ends:\n"
                + processes.tail(layout.log),
                hint=f"full log: {layout.log}",
            )
        if is_ready(settings, timeout_s=2.0):
            return
        time.sleep(0.5)
    processes.terminate(record, timeout_s=10.0)  # leave nothing half-started behind
    layout.pid_file.unlink(missing_ok=True)
    raise ServiceNotReady(
        f"Kafka did not answer a metadata request at {settings.kafka_bootstrap} within "
        f"{settings.stack_timeout_s:.0f} s; its log ends:\n" + processes.tail(layout.log),
        hint=f"full log: {layout.log}; raise STREAMREC_STACK_TIMEOUT_S on a slow machine",
    )


def stop(settings: Settings) -> str:
    layout = KafkaLayout.of(settings)
    record = running(settings)
    if record is None:
        return "not running"
    # A controlled shutdown flushes logs; KRaft single node takes a few seconds.
    processes.terminate(record, timeout_s=30.0)
    layout.pid_file.unlink(missing_ok=True)
    return "stopped"
