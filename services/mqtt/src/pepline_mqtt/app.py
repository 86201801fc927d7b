"""Wire the MQTT adapter: settings → broker source + router + Kafka emitter + probes."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from prometheus_client import Gauge

from pepline_mqtt.client import MqttOptions, MqttSource
from pepline_mqtt.config import load_config
from pepline_mqtt.pipeline import STAGE, Pipeline, PipelineMetrics
from pepline_mqtt.router import Router
from pepline_mqtt.settings import MqttSettings
from pepline_shared.emitter import Emitter, EmitterMetrics
from pepline_shared.health import HealthServer
from pepline_shared.logging import get_logger
from pepline_shared.transport import TransportError
from pepline_shared.transport.kafka import KafkaProducer

__all__ = ["mqtt_options", "run"]

log = get_logger("pepline.mqtt")


def mqtt_options(s: MqttSettings) -> MqttOptions:
    return MqttOptions(
        host=s.mqtt_host,
        port=s.mqtt_port,
        client_id=s.mqtt_client_id,
        username=s.mqtt_username,
        password=s.mqtt_password.get_secret_value() if s.mqtt_password else None,
        protocol=s.mqtt_protocol,
        keepalive=s.mqtt_keepalive,
        session_expiry=s.mqtt_session_expiry,
        receive_maximum=s.mqtt_receive_maximum,
        reconnect_min=s.mqtt_reconnect_min,
        reconnect_max=max(s.mqtt_reconnect_min, s.mqtt_reconnect_max),
        tls=s.mqtt_tls,
        ca_file=s.mqtt_ca_file,
        cert_file=s.mqtt_cert_file,
        key_file=s.mqtt_key_file,
        tls_insecure=s.mqtt_tls_insecure,
    )


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first; True if it was."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def _started_producer(s: MqttSettings, stop: asyncio.Event) -> KafkaProducer | None:
    """A started Kafka producer, retrying while Kafka is unreachable; None if stopped first."""
    delay = 0.5
    while not stop.is_set():
        producer = KafkaProducer(s.kafka.bootstrap, client_id=s.kafka.client_id)
        try:
            await producer.start()
        except TransportError as exc:
            log.warning("kafka_unreachable", error=str(exc), retry_in=delay)
            with contextlib.suppress(Exception):
                await producer.stop()
            if await _wait(stop, delay):
                return None
            delay = min(delay * 2, 10.0)
            continue
        return producer
    return None


async def run(
    s: MqttSettings, stop: asyncio.Event | None = None, *, ready: asyncio.Event | None = None
) -> None:
    """Run the adapter until ``stop`` is set (or SIGINT/SIGTERM).

    ``ready`` is set once Kafka is connected and the broker accepted the subscriptions, i.e.
    from when on a message published to a subscribed topic is the adapter's responsibility.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    config = load_config(s.mqtt_config)
    secret = s.owntracks_secret.get_secret_value() if s.owntracks_secret else None
    router = Router(config, s.limits, owntracks_secret=secret)
    metrics = PipelineMetrics()
    source = MqttSource(mqtt_options(s), config.subscriptions())
    Gauge(
        "pepline_mqtt_connected", "1 while connected to the MQTT broker", registry=metrics.registry
    ).set_function(lambda: float(source.connected))
    health = HealthServer(s.http_host, s.http_port, registry=metrics.registry)
    health.add_check("mqtt", lambda: source.ready)
    await health.start()
    producer: KafkaProducer | None = None
    emitter: Emitter | None = None
    try:
        producer = await _started_producer(s, stop)
        if producer is None:
            return
        emitter = Emitter(
            producer,
            s.topics.raw,
            s.topics.dlq,
            STAGE,
            metrics=EmitterMetrics(registry=metrics.registry),
        )
        health.add_check("kafka", lambda: emitter is not None and emitter.kafka_ok)
        await emitter.start()
        await source.start()
        log.info(
            "mqtt_adapter_started",
            broker=f"{s.mqtt_host}:{s.mqtt_port}",
            subscriptions=list(source.subscriptions),
            devices=len(config.devices),
            topic=s.topics.raw,
        )
        if ready is not None:
            ready_task = asyncio.create_task(_set_when(source, ready))
        pipeline = Pipeline(
            source,
            router,
            emitter,
            metrics,
            batch_size=s.batch_size,
            sweep_interval=s.sweep_interval,
        )
        try:
            await pipeline.run(stop)
        finally:
            if ready is not None:
                ready_task.cancel()
    finally:
        await source.stop()
        if emitter is not None:
            await emitter.stop()
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()
        await health.stop()
        log.info("mqtt_adapter_stopped")


async def _set_when(source: MqttSource, ready: asyncio.Event) -> None:
    await source.wait_subscribed()
    ready.set()
