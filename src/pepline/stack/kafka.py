"""Apache Kafka, KRaft mode (one combined broker/controller), from Maven Central jars.

Kafka 3.9.1 is pinned: it still accepts every old protocol version, so aiokafka speaks to it
without negotiation surprises (Kafka 4.x dropped them). ``tests/integration/test_kafka.py``
proves the round trip with the aiokafka the project locks.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

from pepline.stack.base import tcp_open
from pepline.stack.config import StackConfig, cache_dir
from pepline.stack.process import ManagedProcess, StartError

__all__ = ["KAFKA_VERSION", "Kafka", "install_kafka"]

KAFKA_VERSION = "3.9.1"
POM = Path(__file__).with_name("kafka") / "pom.xml"

LOG4J = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=WARN
log4j.logger.org.apache.kafka.common.utils.AppInfoParser=INFO
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
"""


def install_kafka() -> Path:
    """Resolve the broker's runtime jars into the cache once; return the libs folder."""
    libs = cache_dir() / f"kafka-{KAFKA_VERSION}" / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise StartError("Kafka needs `mvn` and `java` on PATH (Debian: maven, default-jdk)")
    libs.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={libs}",
            f"-Dkafka.version={KAFKA_VERSION}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise StartError(f"mvn could not assemble Kafka {KAFKA_VERSION}:\n{result.stdout[-3000:]}")
    marker.write_text(KAFKA_VERSION)
    return libs


class Kafka:
    name = "kafka"
    start_timeout = 90.0

    def install(self) -> None:
        install_kafka()

    def address(self, cfg: StackConfig) -> str:
        return f"{cfg.host}:{cfg.ports.kafka}"

    def _properties(self, cfg: StackConfig, data: Path) -> str:
        p = cfg.ports
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@{cfg.host}:{p.kafka_controller}",
                f"listeners=PLAINTEXT://{cfg.host}:{p.kafka},CONTROLLER://{cfg.host}:{p.kafka_controller}",
                f"advertised.listeners=PLAINTEXT://{cfg.host}:{p.kafka}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"log.dirs={data}",
                "num.partitions=4",
                # A single node: internal topics with one replica, no rebalance delay.
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=true",
                "log.retention.hours=24",
                "log.cleaner.dedupe.buffer.size=8388608",
                "",
            ]
        )

    def start(self, cfg: StackConfig) -> ManagedProcess:
        libs = install_kafka()
        home = cfg.service_dir(self.name)
        data = home / "data"
        props = home / "server.properties"
        props.write_text(self._properties(cfg, data))
        (home / "log4j.properties").write_text(LOG4J)
        java = [
            "java",
            "-Xms256m",
            "-Xmx768m",
            "-XX:+UseG1GC",
            f"-Dlog4j.configuration=file:{home / 'log4j.properties'}",
            "-cp",
            f"{libs}/*",
        ]
        if not (data / "meta.properties").exists():
            fmt = subprocess.run(
                [
                    *java,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    str(uuid.uuid4()),
                    "-c",
                    str(props),
                    "--ignore-formatted",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if fmt.returncode != 0:
                raise StartError(f"kafka storage format failed:\n{fmt.stdout}\n{fmt.stderr}")
        proc = ManagedProcess(
            name=self.name,
            argv=[*java, "kafka.Kafka", str(props)],
            log=cfg.logs / "kafka.log",
            record=cfg.run / "kafka.json",
        )
        proc.start()
        return proc

    def healthy(self, cfg: StackConfig) -> bool:
        if not tcp_open(cfg.host, cfg.ports.kafka):
            return False
        return _metadata_ok(self.address(cfg))


def _metadata_ok(bootstrap: str) -> bool:
    """A real Kafka exchange: the broker answers a metadata request as a ready broker does."""
    import asyncio
    import concurrent.futures

    from aiokafka.admin import AIOKafkaAdminClient

    async def probe() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            cluster = await admin.describe_cluster()
            return bool(cluster.get("brokers"))
        finally:
            await admin.close()

    def run() -> bool:
        try:
            return asyncio.run(asyncio.wait_for(probe(), timeout=5))
        except Exception:
            return False

    # Its own thread and loop: the caller may itself be inside a running event loop
    # (an async pytest fixture), where asyncio.run would refuse to start.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()
