"""The MQTT side: paho-mqtt 2.x on its own thread, bridged into asyncio, at-least-once.

* QoS 1 subscriptions on a persistent session (MQTT 3.1.1 ``clean_session=False``, or
  MQTT 5 ``clean_start=False`` with a session expiry), so the broker keeps queueing for the
  adapter while it is away — restarts of the adapter or of the broker lose nothing.
* ``manual_ack=True``: paho does not acknowledge a message when it is delivered to us; the
  pipeline calls :meth:`MqttSource.ack` once its events (or its dead letter) are on Kafka.
  A message never acknowledged is redelivered by the broker on the next connection.
* paho's network thread reconnects by itself (exponential delay); its callbacks only hand
  messages to the asyncio loop with ``loop.call_soon_threadsafe``.

Acknowledgements carry the connection they belong to: a message id is only meaningful on
the connection that delivered it (the broker reuses ids on the next one), so an ack for a
message of an earlier connection is dropped — the broker redelivers that message instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from pepline_shared.logging import get_logger

__all__ = ["MqttOptions", "MqttSource", "Received"]

log = get_logger("pepline.mqtt.client")


@dataclass(frozen=True)
class MqttOptions:
    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    protocol: str = "5"  # "5" or "3.1.1"
    keepalive: int = 30
    session_expiry: int = 7 * 24 * 3600
    receive_maximum: int = 100
    reconnect_min: int = 1
    reconnect_max: int = 30
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    tls_insecure: bool = False


@dataclass(frozen=True)
class Received:
    """A message from the broker, with what is needed to acknowledge it later."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    mid: int
    connection: int  # which connection delivered it (see module doc)
    received_at: datetime


class MqttSource:
    def __init__(self, options: MqttOptions, subscriptions: Sequence[str]) -> None:
        if not subscriptions:
            raise ValueError("nothing to subscribe to: enable a format in the mapping file")
        self.options = options
        self.subscriptions = tuple(subscriptions)
        self._v5 = options.protocol == "5"
        self._queue: asyncio.Queue[Received] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        # Guards _connection against paho's thread (callbacks) and ours (ack).
        self._lock = threading.Lock()
        self._connection = 0
        self._connected = False
        self._subscribed_once = False
        self._subscribed = asyncio.Event()  # set (on the loop) at the first full SUBACK
        self.connects = 0
        self.subscribe_failures = 0
        self._client = self._make_client()

    # ---- setup -------------------------------------------------------------------------

    def _make_client(self) -> paho.Client:
        o = self.options
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=o.client_id,
            # MQTT 3.1.1 persistent session; MQTT 5 says it with clean_start at connect.
            clean_session=None if self._v5 else False,
            protocol=paho.MQTTv5 if self._v5 else paho.MQTTv311,
            reconnect_on_failure=True,
            manual_ack=True,
        )
        if o.username is not None:
            client.username_pw_set(o.username, o.password)
        if o.tls:
            client.tls_set(
                ca_certs=str(o.ca_file) if o.ca_file else None,
                certfile=str(o.cert_file) if o.cert_file else None,
                keyfile=str(o.key_file) if o.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
            if o.tls_insecure:
                client.tls_insecure_set(True)
        client.reconnect_delay_set(o.reconnect_min, o.reconnect_max)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _connect_properties(self) -> Properties | None:
        if not self._v5:
            return None
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.options.session_expiry
        # Bounds how many unacknowledged messages the broker sends us: back-pressure while
        # Kafka is slow or down, instead of an ever-growing queue in this process.
        props.ReceiveMaximum = self.options.receive_maximum
        return props

    # ---- lifecycle (asyncio side) ------------------------------------------------------

    async def start(self) -> None:
        """Connect in the background (paho retries until the broker answers)."""
        self._loop = asyncio.get_running_loop()
        o = self.options
        self._client.connect_async(
            o.host,
            o.port,
            keepalive=o.keepalive,
            clean_start=False if self._v5 else paho.MQTT_CLEAN_START_FIRST_ONLY,
            properties=self._connect_properties(),
        )
        self._client.loop_start()

    async def stop(self) -> None:
        """Disconnect cleanly: the session and its unacknowledged messages stay on the broker."""
        client = self._client
        await asyncio.to_thread(self._disconnect, client)

    @staticmethod
    def _disconnect(client: paho.Client) -> None:
        client.disconnect()
        client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def ready(self) -> bool:
        """Connected, and the broker accepted every subscription at least once."""
        return self._connected and self._subscribed.is_set()

    async def wait_subscribed(self) -> None:
        await self._subscribed.wait()

    async def get(self) -> Received:
        return await self._queue.get()

    def get_nowait(self) -> Received | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def ack(self, message: Received) -> bool:
        """Acknowledge ``message`` (PUBACK); False if its connection is gone (redelivered)."""
        if message.qos == 0:
            return True
        with self._lock:
            if message.connection != self._connection or not self._connected:
                return False
            self._client.ack(message.mid, message.qos)
        return True

    # ---- paho callbacks (paho's network thread) ----------------------------------------

    def _on_connect(
        self,
        client: paho.Client,
        _userdata: Any,
        flags: paho.ConnectFlags,
        reason: Any,
        _properties: Any,
    ) -> None:
        if reason.is_failure:
            log.warning("mqtt_connect_refused", reason=str(reason), host=self.options.host)
            return
        with self._lock:
            self._connection += 1
            self._connected = True
        self.connects += 1
        session = bool(flags.session_present)
        log.info("mqtt_connected", session_present=session, connection=self._connection)
        # A persistent session keeps our subscriptions; MQTT 3.1.1 would resend every
        # retained message on a repeated SUBSCRIBE, so only subscribe when they are gone (or
        # once per process, to pick up a changed mapping file). MQTT 5 can ask the broker to
        # send retained messages only for a new subscription.
        if self._v5 or not session or not self._subscribed_once:
            self._subscribe(client)

    def _subscribe(self, client: paho.Client) -> None:
        if self._v5:
            opts = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
            client.subscribe([(topic, opts) for topic in self.subscriptions])
        else:
            client.subscribe([(topic, 1) for topic in self.subscriptions])
        self._subscribed_once = True

    def _on_subscribe(
        self, _client: paho.Client, _userdata: Any, _mid: int, reasons: list[Any], _props: Any
    ) -> None:
        refused = [
            (topic, str(reason))
            for topic, reason in zip(self.subscriptions, reasons, strict=False)
            if reason.is_failure
        ]
        if refused:
            self.subscribe_failures += 1
            log.error("mqtt_subscribe_refused", refused=refused)
            return
        self._call_in_loop(self._subscribed.set)

    def _on_disconnect(
        self, _client: paho.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        with self._lock:
            # Any ack from now on belongs to a dead connection: refuse it (see module doc).
            self._connection += 1
            self._connected = False
        level = log.warning if reason.is_failure else log.info
        level("mqtt_disconnected", reason=str(reason))

    def _on_message(self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            # MQTT requires UTF-8 topics; a broker that let one through still gets an answer.
            topic = bytes(msg._topic).decode("utf-8", "replace")
        received = Received(
            topic=topic,
            payload=bytes(msg.payload),
            qos=msg.qos,
            retain=bool(msg.retain),
            dup=bool(msg.dup),
            mid=msg.mid,
            connection=self._connection,
            received_at=datetime.now(UTC),
        )
        # If the loop is gone (shutting down) the message stays unacknowledged, so the
        # broker delivers it again on the next connection.
        self._call_in_loop(self._queue.put_nowait, received)

    def _call_in_loop(self, func: Callable[..., object], *args: object) -> None:
        """Run ``func(*args)`` on the asyncio loop (asyncio objects are not thread-safe)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        # The loop may close between the check and the call.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(func, *args)
