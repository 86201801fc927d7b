"""The MQTT adapter against a real Mosquitto (per-device accounts and ACLs) and real Kafka.

The broker here is the adapter's own (started on free ports, auth on, the ACL generated from
the mapping file by ``pepline_mqtt.acl``), because the session broker of the stack is
anonymous. Devices publish with their own accounts, as phones and sensors would; what the
adapter made of it is read back from Kafka.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import socket
import ssl
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
import yaml
from aiokafka import AIOKafkaConsumer
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr

from pepline.stack.config import Ports, StackConfig, free_port
from pepline.stack.mosquitto import auth_files, mqtt_connack, write_auth
from pepline.stack.process import ManagedProcess
from pepline.stack.stack import Stack, StartError
from pepline.stack.tls import ServerCertificate, server_certificate
from pepline_mqtt import owntracks
from pepline_mqtt.acl import acl_entries
from pepline_mqtt.app import run
from pepline_mqtt.config import load_config
from pepline_mqtt.settings import MqttSettings
from pepline_shared.dlq import DeadLetter, decode_dead_letter
from pepline_shared.events import Event, GeoLocation, PhysicalLocation, SensorReading
from pepline_shared.settings import KafkaSettings, Topics
from pepline_shared.wire import decode_event

pytestmark = pytest.mark.integration

ALICE, BOB = "alice@pepline.test", "bob@pepline.test"
ALICE_IRK = "irk:4a1f0e29c8d6b7a5e3f2019c8b7d6e5f"
OWNTRACKS_KEY = "alice's owntracks passphrase"
MAX_PAYLOAD = 4096
TIMEOUT = 20.0

MAPPING: dict[str, Any] = {
    "adapter_user": "pepline-mqtt",
    "devices": [
        {
            "id": "alice-phone",
            "user": ALICE,
            "mqtt_user": "alice-phone",
            "topics": ["owntracks/alice/phone/#"],
            "aliases": [ALICE_IRK],
            "owntracks_secret": OWNTRACKS_KEY,
        },
        {"id": "bob-phone", "user": BOB, "topics": ["owntracks/bob/phone/#"]},
        {"id": "hr-bob", "user": BOB, "topics": ["sensors/hr-bob/#"]},
        {
            "id": "study-sensor",
            "user": BOB,
            "mqtt_user": "zigbee2mqtt",
            "topics": ["zigbee2mqtt/study-sensor"],
        },
    ],
    "owntracks": {"places": {"Office": {"area": "Office", "building": "HQ"}}},
    "room_presence": {
        "min_dwell": 0,
        "rooms": {
            "kitchen": {"building": "Home", "floor": "0", "room": "Kitchen"},
            "study": {"building": "Home", "floor": "1", "room": "Study"},
        },
        "nodes": [
            {"mqtt_user": "espresense-kitchen", "room": "kitchen"},
            {"mqtt_user": "espresense-study", "room": "study"},
        ],
    },
    "sensors": [
        {
            "topic": "sensors/{device}/heart",
            "time_field": "ts",
            "user_field": "user",
            "readings": [
                {"sensor": "heart_rate", "field": "bpm", "type": "integer", "unit": "bpm"}
            ],
        },
        {
            "topic": "zigbee2mqtt/{device}",
            "readings": [
                {"sensor": "motion", "field": "occupancy", "type": "boolean", "required": False},
                {"sensor": "sequence", "field": "seq", "type": "integer", "required": False},
            ],
        },
    ],
}


@dataclass
class Broker:
    """Our own authenticated Mosquitto, and the password of every account on it."""

    stack: Stack
    passwords: dict[str, str]
    mapping: Path

    @property
    def cfg(self) -> StackConfig:
        return self.stack.cfg


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    home = tmp_path_factory.mktemp("mqtt-acl")
    mapping = home / "mapping.yaml"
    mapping.write_text(yaml.safe_dump(MAPPING))
    entries: dict[str, tuple[str, ...]] = dict(acl_entries(load_config(mapping)))
    # An account the mapping doesn't know, allowed to write anywhere under owntracks/: a
    # shared bridge or a mistake in the ACL. The adapter must still refuse what it sends.
    entries["legacy-bridge"] = ("write owntracks/#",)
    passwords = {user: uuid.uuid4().hex for user in entries}
    stack = Stack(StackConfig(state_dir=home / "stack", ports=Ports.free()))
    write_auth(stack.cfg, {user: (passwords[user], rules) for user, rules in entries.items()})
    try:
        stack.up(["mosquitto"])
    except StartError as exc:
        pytest.fail(f"could not start the authenticated mosquitto: {exc}", pytrace=False)
    try:
        yield Broker(stack, passwords, mapping)
    finally:
        stack.down()


# ---- devices ------------------------------------------------------------------------------


class Device:
    """A device's MQTT client (MQTT 3.1.1, as OwnTracks and most sensors speak it)."""

    def __init__(
        self,
        broker: Broker,
        account: str,
        *,
        persistent: bool = False,
        port: int | None = None,
        ca: Path | None = None,
    ) -> None:
        self.connected = threading.Event()
        self.client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"{account}-{uuid.uuid4().hex[:8]}",
            clean_session=not persistent,
            protocol=paho.MQTTv311,
        )
        self.client.username_pw_set(account, broker.passwords[account])
        if ca is not None:
            self.client.tls_set(ca_certs=str(ca))
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_: self.connected.clear()
        self.host = broker.cfg.host
        self.port = port or broker.cfg.ports.mqtt

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            self.connected.set()

    def start(self) -> Device:
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        assert self.connected.wait(TIMEOUT), "device could not connect"
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, payload: bytes | dict[str, Any], *, wait: bool = True) -> None:
        """Publish at QoS 1; ``wait``: connected first, and until the broker's PUBACK.

        Without ``wait`` a message published while disconnected is queued by paho and sent
        when it reconnects (what a phone's app does while the broker is away).
        """
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        if wait:
            assert self.connected.wait(TIMEOUT), "device could not reconnect"
        info = self.client.publish(topic, raw, qos=1)
        if wait:
            info.wait_for_publish(TIMEOUT)
            assert info.is_published(), f"no PUBACK for {topic}"


@contextmanager
def device(broker: Broker, account: str, **kw: Any) -> Iterator[Device]:
    d = Device(broker, account, **kw).start()
    try:
        yield d
    finally:
        d.stop()


# ---- the adapter and Kafka ----------------------------------------------------------------


def settings(broker: Broker, bootstrap: str, protocol: str = "5") -> MqttSettings:
    tag = uuid.uuid4().hex[:8]
    return MqttSettings(
        mqtt_config=broker.mapping,
        mqtt_host=broker.cfg.host,
        mqtt_port=broker.cfg.ports.mqtt,
        mqtt_username="pepline-mqtt",
        mqtt_password=SecretStr(broker.passwords["pepline-mqtt"]),
        mqtt_client_id=f"pepline-mqtt-{tag}",
        mqtt_protocol="3.1.1" if protocol == "3.1.1" else "5",
        mqtt_reconnect_min=1,
        mqtt_reconnect_max=1,
        kafka=KafkaSettings(bootstrap=bootstrap),
        topics=Topics(raw=f"mqtt-raw-{tag}", dlq=f"mqtt-dlq-{tag}"),
        http_host="127.0.0.1",
        http_port=0,
        max_payload_bytes=MAX_PAYLOAD,
        max_age=3600,
        sweep_interval=0.5,
    )


@asynccontextmanager
async def adapter(s: MqttSettings) -> AsyncIterator[asyncio.Task[None]]:
    """The adapter running; entered once the broker accepted its subscriptions."""
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run(s, stop, ready=ready))
    waiter = asyncio.create_task(ready.wait())
    try:
        done, _ = await asyncio.wait(
            {task, waiter}, timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            task.result()  # raises what killed it
            pytest.fail("the adapter stopped before it was ready")
        if waiter not in done:
            pytest.fail("the adapter did not subscribe in time")
        yield task
    finally:
        waiter.cancel()
        stop.set()
        await asyncio.wait_for(task, 30)


async def read(
    bootstrap: str, topic: str, done: Callable[[list[Any]], bool], *, timeout: float = TIMEOUT
) -> list[Any]:
    """Records of ``topic`` from the start until ``done(records)``, then to its very end.

    The adapter writes in the order messages arrived and waits for each write, so whatever
    it wrote before the records ``done`` waited for is in Kafka too — possibly in another
    partition (another user's key): reading on to the end of every partition gets it all.
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"read-{uuid.uuid4().hex[:8]}",
        metadata_max_age_ms=500,
    )
    await consumer.start()
    got: list[Any] = []

    async def fetch() -> None:
        batch = await consumer.getmany(timeout_ms=200)
        got.extend(r for records in batch.values() for r in records)

    try:
        async with asyncio.timeout(timeout):
            while not done(got):
                await fetch()
            end = await consumer.end_offsets(list(consumer.assignment()))
            while any([await consumer.position(tp) < offset for tp, offset in end.items()]):
                await fetch()
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return got


async def events(bootstrap: str, topic: str, want: int, **kw: Any) -> list[Event]:
    records = await read(bootstrap, topic, lambda got: len(got) >= want, **kw)
    return [decode_event(r.key, r.value, r.headers) for r in records]


async def dead_letters(bootstrap: str, topic: str, want: int, **kw: Any) -> list[DeadLetter]:
    records = await read(bootstrap, topic, lambda got: len(got) >= want, **kw)
    return [decode_dead_letter(r.value) for r in records]


def lat(event: Event) -> float | None:
    assert isinstance(event.data, GeoLocation), event
    return event.data.lat


def reading(record: Any) -> SensorReading:
    event = decode_event(record.key, record.value, record.headers)
    assert event.subject == BOB, event
    assert isinstance(event.data, SensorReading), event
    return event.data


def tst() -> int:
    return int(datetime.now(UTC).timestamp())


def location(lat: float, at: int, **extra: Any) -> dict[str, Any]:
    return {
        "_type": "location",
        "lat": lat,
        "lon": 4.89,
        "acc": 12,
        "tst": at,
        "tid": "ap",
        **extra,
    }


# ---- tests --------------------------------------------------------------------------------


async def test_each_format_becomes_the_right_normalized_event(
    broker: Broker, kafka_bootstrap: str
) -> None:
    s = settings(broker, kafka_bootstrap)
    now = tst()
    async with adapter(s):
        with device(broker, "alice-phone") as phone:
            phone.publish("owntracks/alice/phone", location(52.1, now - 5, vel=36, cog=90))
            phone.publish(
                "owntracks/alice/phone/event",
                {
                    "_type": "transition",
                    "event": "enter",
                    "desc": "Office",
                    "t": "c",
                    "lat": 52.35,
                    "lon": 4.91,
                    "tst": now - 4,
                    "wtst": 1700000000,
                },
            )
            phone.publish(
                "owntracks/alice/phone/waypoint",
                {
                    "_type": "waypoint",
                    "desc": "Office",
                    "lat": 52.35,
                    "lon": 4.91,
                    "rad": 100,
                    "tst": 1700000000,
                },
            )
            secret = json.dumps(location(52.2, now - 3)).encode()
            phone.publish(
                "owntracks/alice/phone",
                {"_type": "encrypted", "data": owntracks.encrypt(secret, OWNTRACKS_KEY)},
            )
            phone.publish("owntracks/alice/phone", {"_type": "lwt", "tst": now - 2})
        with device(broker, "espresense-kitchen") as node:
            node.publish(
                f"espresense/devices/{ALICE_IRK}/kitchen",
                {"id": ALICE_IRK, "rssi": -70, "distance": 1.4},
            )
        with device(broker, "hr-bob") as strap:
            strap.publish("sensors/hr-bob/heart", {"bpm": 72, "ts": now - 1})
        with device(broker, "zigbee2mqtt") as z2m:
            z2m.publish(
                "zigbee2mqtt/study-sensor", {"occupancy": True, "battery": 100, "linkquality": 96}
            )
            # A refused message last: once its dead letter is in Kafka, so is anything the
            # adapter wrote before it (see read()).
            z2m.publish("zigbee2mqtt/study-sensor", b"sentinel")
        letters = await dead_letters(kafka_bootstrap, s.topics.dlq, 1)
        got = await events(kafka_bootstrap, s.topics.raw, 6)

    by = {(e.source, e.type): e for e in got}
    assert len(got) == 6, [(e.source, e.type) for e in got]
    geos = [e for e in got if e.type == "org.pepline.geoloc.v1"]
    assert [(e.subject, lat(e)) for e in geos] == [(ALICE, 52.1), (ALICE, 52.2)]
    first = geos[0].data
    assert isinstance(first, GeoLocation)
    assert (first.speed, first.bearing, first.accuracy) == (10.0, 90, 12)
    assert geos[0].time == datetime.fromtimestamp(now - 5, UTC)
    places = [e for e in got if e.type == "org.pepline.physloc.v1"]
    assert {p.data for p in places} == {
        PhysicalLocation(area="Office", building="HQ"),
        PhysicalLocation(building="Home", floor="0", room="Kitchen"),
    }
    assert all(p.subject == ALICE for p in places)
    heart = by[("/pepline/mqtt/hr-bob", "org.pepline.sensor.v1")]
    assert (heart.subject, heart.data) == (
        BOB,
        SensorReading(sensor="heart_rate", value=72, unit="bpm", device="hr-bob"),
    )
    motion = by[("/pepline/mqtt/study-sensor", "org.pepline.sensor.v1")]
    assert (motion.subject, motion.data) == (
        BOB,
        SensorReading(sensor="motion", value=True, device="study-sensor"),
    )
    # The waypoint and the lwt are understood and mean no event: nothing else was refused.
    assert [(d.reason, d.payload) for d in letters] == [("invalid_json", b"sentinel")]


async def test_a_device_publishing_for_another_user_is_refused(
    broker: Broker, kafka_bootstrap: str
) -> None:
    s = settings(broker, kafka_bootstrap)
    now = tst()
    async with adapter(s):
        with device(broker, "bob-phone") as bob:
            # The broker: Bob's account may not write Alice's topic (PUBACKed, then dropped).
            bob.publish("owntracks/alice/phone", location(10.0, now - 9))
            # The adapter: on his own topic, Bob's phone claims Alice's.
            bob.publish(
                "owntracks/bob/phone", location(11.0, now - 8, topic="owntracks/alice/phone")
            )
        with device(broker, "espresense-kitchen") as node:
            # The broker: the kitchen node may only report the kitchen.
            node.publish(
                f"espresense/devices/{ALICE_IRK}/study", {"id": ALICE_IRK, "distance": 0.2}
            )
        with device(broker, "hr-bob") as strap:
            # The adapter: the strap is Bob's, its payload says Alice.
            strap.publish("sensors/hr-bob/heart", {"bpm": 150, "ts": now - 7, "user": ALICE})
        with device(broker, "legacy-bridge") as bridge:
            # The adapter: a topic no device is bound to (the broker let it through).
            bridge.publish("owntracks/mallory/phone", location(12.0, now - 6))
        with device(broker, "bob-phone") as bob:
            bob.publish("owntracks/bob/phone", location(13.0, now - 5))  # a good one, last
        letters = await dead_letters(kafka_bootstrap, s.topics.dlq, 3)
        got = await events(kafka_bootstrap, s.topics.raw, 1)

    # Bob's good location was the last message: nothing at all was published as Alice.
    assert [(e.subject, lat(e)) for e in got] == [(BOB, 13.0)]
    assert sorted((d.reason, d.source_topic, d.field) for d in letters) == [
        ("unauthorized", "owntracks/bob/phone", "topic"),
        ("unauthorized", "owntracks/mallory/phone", None),
        ("unauthorized", "sensors/hr-bob/heart", "user"),
    ]


async def test_malformed_messages_land_in_the_dlq_and_the_adapter_keeps_going(
    broker: Broker, kafka_bootstrap: str
) -> None:
    s = settings(broker, kafka_bootstrap)
    now = tst()
    bad: list[tuple[bytes | dict[str, Any], str]] = [
        (b"lat=52.1;lon=4.3", "invalid_json"),
        (location(52.1, now - 50) | {"lat": "52.1"}, "invalid_payload"),
        (location(95.0, now - 40), "out_of_range"),
        (json.dumps(location(52.1, now - 30, pad="x" * MAX_PAYLOAD)).encode(), "oversized"),
        (location(52.1, now - 7200), "stale_timestamp"),
    ]
    async with adapter(s):
        with device(broker, "alice-phone") as phone:
            for payload, _ in bad:
                phone.publish("owntracks/alice/phone", payload)
            phone.publish("owntracks/alice/phone", location(52.3, now - 10))
            # Older than the one just accepted: a replay.
            phone.publish("owntracks/alice/phone", location(52.4, now - 20))
            phone.publish("owntracks/alice/phone", location(52.5, now - 5))
        got = await events(kafka_bootstrap, s.topics.raw, 2)
        letters = await dead_letters(kafka_bootstrap, s.topics.dlq, len(bad) + 1)

    assert [lat(e) for e in got] == [52.3, 52.5]
    # One user's dead letters share a key, hence a partition: they stay in order.
    assert [d.reason for d in letters] == [reason for _, reason in bad] + ["replayed"]
    assert all(d.subject == ALICE and d.stage == "mqtt" for d in letters)
    assert letters[0].payload == b"lat=52.1;lon=4.3"
    assert (letters[1].field, letters[2].field) == ("lat", "lat")
    assert "truncated" not in letters[3].error and len(letters[3].payload) > MAX_PAYLOAD


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_broker_restart_loses_no_qos1_message(
    broker: Broker, kafka_bootstrap: str, protocol: str
) -> None:
    s = settings(broker, kafka_bootstrap, protocol)
    sent: list[int] = []
    sensor = Device(broker, "zigbee2mqtt", persistent=True).start()

    def publish(seqs: range, *, wait: bool = True) -> None:
        for seq in seqs:
            sensor.publish("zigbee2mqtt/study-sensor", {"seq": seq}, wait=wait)
            sent.append(seq)

    try:
        async with adapter(s):
            publish(range(0, 5))  # while the adapter runs
        publish(range(5, 10))  # the adapter is away: its persistent session queues them
        await asyncio.to_thread(broker.stack.stop, "mosquitto")
        publish(range(10, 15), wait=False)  # the broker is down: the sensor's client queues
        await asyncio.to_thread(broker.stack.up, ["mosquitto"])
        async with adapter(s):
            # The adapter's loop is busy while these are published (this call blocks it), so
            # they are received but not yet acknowledged when the broker goes down: their
            # acks belong to a dead connection and the broker must deliver them again.
            publish(range(15, 20))
            await asyncio.to_thread(broker.stack.restart, "mosquitto")
            publish(range(20, 25), wait=False)  # queued by the sensor until it reconnects
            records = await read(
                kafka_bootstrap,
                s.topics.raw,
                lambda got: set(sent) <= {reading(r).value for r in got},
                timeout=40,
            )
    finally:
        sensor.stop()
    received = {reading(r).value for r in records}
    assert received >= set(range(25)), f"lost: {sorted(set(range(25)) - received)}"
    assert {reading(r).sensor for r in records} == {"sequence"}


@dataclass(frozen=True)
class TlsListener:
    port: int
    plain: int
    cert: ServerCertificate


DEPLOY_CONF = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "mosquitto.conf"


def deploy_conf(
    broker: Broker, tmp_path: Path, plain: int, tls: int, cert: ServerCertificate
) -> str:
    """The shipped deploy/mosquitto/mosquitto.conf with this test's paths and ports."""
    files = auth_files(broker.cfg)
    (tmp_path / "data").mkdir()
    replacements = {
        "/etc/mosquitto/pepline.passwd": str(files.password_file),
        "/etc/mosquitto/pepline.acl": str(files.acl_file),
        "/etc/mosquitto/certs/server.crt": str(cert.cert),
        "/etc/mosquitto/certs/server.key": str(cert.key),
        "/var/lib/mosquitto/": f"{tmp_path / 'data'}/",
        "listener 1883 127.0.0.1": f"listener {plain} 127.0.0.1",
        "listener 8883": f"listener {tls} 127.0.0.1",
    }
    text = DEPLOY_CONF.read_text()
    for old, new in replacements.items():
        assert old in text, f"{old!r} is no longer in {DEPLOY_CONF}"
        text = text.replace(old, new)
    # As root, mosquitto would drop to the `mosquitto` user, who can't read our files.
    return text + f"\nuser {getpass.getuser()}\n"


@pytest.fixture
def tls_broker(broker: Broker, tmp_path: Path) -> Iterator[TlsListener]:
    """The shipped production config (TLS listener, no anonymous access), run with the same
    accounts and ACL as ``broker`` (the stack's Mosquitto has no TLS listener)."""
    cert = server_certificate(["127.0.0.1", "localhost"])
    port, plain = free_port(), free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(deploy_conf(broker, tmp_path, plain, port, cert))
    proc = ManagedProcess(
        "mosquitto-tls", ["mosquitto", "-c", str(conf)], tmp_path / "tls.log", tmp_path / "tls.json"
    )
    proc.start()
    try:
        proc.wait_healthy(lambda: _tls_handshake(port, cert.ca), 15)
    except StartError as exc:
        proc.stop()
        pytest.fail(f"could not start mosquitto with TLS: {exc}", pytrace=False)
    try:
        yield TlsListener(port, plain, cert)
    finally:
        proc.stop()


def _tls_handshake(port: int, ca: Path) -> bool:
    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1"),
    ):
        return True


async def test_tls_and_the_shipped_broker_config(
    broker: Broker, tls_broker: TlsListener, kafka_bootstrap: str
) -> None:
    s = settings(broker, kafka_bootstrap).model_copy(
        update={"mqtt_port": tls_broker.port, "mqtt_tls": True, "mqtt_ca_file": tls_broker.cert.ca}
    )
    async with adapter(s):
        with device(broker, "zigbee2mqtt", port=tls_broker.port, ca=tls_broker.cert.ca) as z2m:
            z2m.publish("zigbee2mqtt/study-sensor", {"occupancy": False})
        (event,) = await events(kafka_bootstrap, s.topics.raw, 1)
    assert event.data == SensorReading(sensor="motion", value=False, device="study-sensor")
    assert mqtt_connack("127.0.0.1", tls_broker.plain) == 5  # anonymous: not authorised
