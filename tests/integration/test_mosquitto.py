"""Mosquitto as the MQTT adapter uses it: paho-mqtt 2.x, QoS 1, persistent sessions."""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from pepline.stack.config import Ports, StackConfig
from pepline.stack.mosquitto import MOSQUITTO_VERSION, mqtt_connack, write_auth
from pepline.stack.stack import Stack

pytestmark = pytest.mark.integration

TIMEOUT = 10.0


class Client:
    """A paho client on its network thread, with the received messages in a queue."""

    def __init__(self, cfg: StackConfig, client_id: str, *, clean: bool = True) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.connack: tuple[bool, int] | None = None  # (session present, reason code)
        self.paho = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean,
            protocol=mqtt.MQTTv311,
        )
        self.paho.on_connect = self._on_connect
        self.paho.on_subscribe = lambda *_: self.subscribed.set()
        self.paho.on_message = lambda _c, _u, msg: self.messages.put(msg)
        self.cfg = cfg

    def _on_connect(self, _c: Any, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        self.connack = (bool(flags.session_present), int(reason.value))
        self.connected.set()

    @contextmanager
    def session(self, user: tuple[str, str] | None = None) -> Iterator[Client]:
        if user is not None:
            self.paho.username_pw_set(*user)
        self.paho.connect(self.cfg.host, self.cfg.ports.mqtt, keepalive=30)
        self.paho.loop_start()
        try:
            assert self.connected.wait(TIMEOUT), "no CONNACK from mosquitto"
            yield self
        finally:
            self.paho.disconnect()
            self.paho.loop_stop()

    def subscribe(self, topic: str) -> None:
        self.subscribed.clear()
        self.paho.subscribe(topic, qos=1)
        assert self.subscribed.wait(TIMEOUT), f"no SUBACK for {topic}"

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.paho.publish(topic, payload, qos=1)
        info.wait_for_publish(TIMEOUT)  # returns once the broker's PUBACK arrived
        assert info.is_published(), f"no PUBACK for {topic}"

    def receive(self) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=TIMEOUT)


def test_publish_subscribe_round_trip_qos1(mosquitto: StackConfig) -> None:
    topic = f"owntracks/alice/{uuid.uuid4().hex[:8]}"
    with Client(mosquitto, f"sub-{uuid.uuid4().hex[:8]}").session() as sub:
        assert sub.connack == (False, 0)
        sub.subscribe(topic)
        with Client(mosquitto, f"pub-{uuid.uuid4().hex[:8]}").session() as pub:
            pub.publish(topic, b'{"_type":"location","lat":52.1,"lon":4.3}')
        msg = sub.receive()
    assert msg.topic == topic
    assert msg.qos == 1
    assert msg.payload == b'{"_type":"location","lat":52.1,"lon":4.3}'


def test_queued_qos1_message_survives_broker_restart(mosquitto: StackConfig, stack: Stack) -> None:
    topic = f"sensors/{uuid.uuid4().hex[:8]}/temperature"
    sub_id = f"persistent-{uuid.uuid4().hex[:8]}"
    with Client(mosquitto, sub_id, clean=False).session() as sub:
        sub.subscribe(topic)
    # The subscriber is offline: the broker queues the QoS 1 message for its session.
    with Client(mosquitto, f"pub-{uuid.uuid4().hex[:8]}").session() as pub:
        pub.publish(topic, b"21.5")

    stack.restart("mosquitto")

    with Client(mosquitto, sub_id, clean=False).session() as sub:
        assert sub.connack == (True, 0), "the persistent session did not survive the restart"
        msg = sub.receive()
    assert (msg.topic, msg.payload, msg.qos) == (topic, b"21.5", 1)
    log = (mosquitto.logs / "mosquitto.log").read_text()
    assert f"mosquitto version {MOSQUITTO_VERSION} running" in log
    assert "Saving in-memory database" in log


def test_write_auth_enforces_passwords_and_topic_acls(tmp_path: Path) -> None:
    """The pluggable auth: a separate broker with write_auth's files refuses and filters."""
    own = Stack(StackConfig(state_dir=tmp_path / "stack", ports=Ports.free()))
    write_auth(
        own.cfg,
        {
            "tracker": ("s3cret:with colon", ["write owntracks/tracker/#"]),
            "reader": ("r3ader", ["read #"]),
        },
    )
    try:
        own.up(["mosquitto"])
        cfg = own.cfg
        assert mqtt_connack(cfg.host, cfg.ports.mqtt) == 5  # anonymous: not authorised
        with Client(cfg, "reader-1").session(("reader", "r3ader")) as reader:
            reader.subscribe("#")
            with Client(cfg, "tracker-1").session(("tracker", "s3cret:with colon")) as tracker:
                # Outside its ACL: acknowledged but dropped by the broker.
                tracker.publish("sensors/elsewhere", b"denied")
                tracker.publish("owntracks/tracker/phone", b"allowed")
            msg = reader.receive()
        # In-order delivery on one session: had the first one passed, it would come first.
        assert (msg.topic, msg.payload) == ("owntracks/tracker/phone", b"allowed")
        wrong = Client(cfg, "intruder")
        with wrong.session(("tracker", "wrong")):
            assert wrong.connack is not None
            assert wrong.connack[1] != 0
    finally:
        own.down()
