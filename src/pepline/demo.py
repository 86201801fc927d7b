"""``pepline demo``: the whole pipeline on the local stack, watched by a contact's client.

What it does, in order:
1. brings up the local stack (Kafka, Prosody, Mosquitto, gpsd replaying a real receiver log,
   Radicale), starting only what isn't running;
2. creates the demo accounts: alice (whose presence is published), bob (her contact,
   presence-subscribed both ways) and pepline's own account; alice grants pepline the
   ``publisher`` affiliation on her PEP nodes (route 1), or the privileged component
   publishes for her (route 2, ``--route privileged``);
3. starts every service in this process (gps, mqtt, calendar, rules, fusion, publisher) on
   topics of its own (``pepline.demo.<run>.*``), so runs never see each other's events;
4. feeds real inputs: gpsd replays its log for alice's car; her phone sends OwnTracks
   messages over MQTT (a position, entering the office, heart rate); a meeting starting now
   goes into her CalDAV calendar; her profile picture is put on the publish topic;
5. prints, live, every PEP notification bob's client receives, decoded; then a summary.
It ends when every kind arrived (or after ``--duration``), or on Ctrl-C, and stops what it
started. Service logs go to ``<state>/logs/demo-services.log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import secrets
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from PIL import Image, ImageDraw

from pepline import harness
from pepline.stack.caldav import add_user, caldav_url
from pepline.stack.config import StackConfig
from pepline.stack.prosody import create_user
from pepline.stack.stack import SERVICES, Stack
from pepline.stack.tls import ca_path
from pepline.xmpp_contact import ContactClient, PepEvent, subscribe_mutually
from pepline_shared.events import Activity, Avatar, Event, GeoLocation, Mood, PhysicalLocation
from pepline_shared.logging import configure_logging
from pepline_shared.settings import KafkaSettings, Topics
from pepline_shared.transport.kafka import ensure_topics
from pepline_shared.xep import avatar as avatar_codec
from pepline_shared.xep.nodes import node_for
from pepline_shared.xep.registry import decode_payload

__all__ = ["DemoReport", "run_demo"]

Route = Literal["affiliation", "privileged"]
Say = Callable[[str], None]

# What a contact should end up seeing; "place" is a physloc item or a geoloc item that
# carries a place (fusion merges places into XEP-0080's area/building/room).
KINDS = ("location", "place", "activity", "mood", "avatar")

# The demo's rules: the default set plus, for alice, a mood for meetings (a per-user rule,
# as a user would add one), so that one calendar input shows both derived kinds.
DEMO_MOOD_RULE = {
    "id": "demo-meeting-mood",
    "description": "Demo: a meeting makes alice serious.",
    "priority": 85,
    "when": {"calendar": {"state": "busy"}},
    "mood": {"value": "serious", "text": "in a meeting"},
}


@dataclass
class DemoReport:
    seen: dict[str, list[float]] = field(default_factory=dict)  # kind -> arrival seconds
    last: dict[str, str] = field(default_factory=dict)  # kind -> last value, as printed

    @property
    def complete(self) -> bool:
        return all(self.seen.get(k) for k in KINDS)


@dataclass
class Accounts:
    domain: str
    alice: tuple[str, str]
    bob: tuple[str, str]
    pepline: tuple[str, str]
    dav_password: str


def _accounts(cfg: StackConfig, run_id: str) -> Accounts:
    """Fresh accounts per run: a reused account would show bob the last run's items on
    connect, and Prosody 0.12 delivers notifications twice after re-subscribing a pair that
    was already subscribed; new accounts make each run start from nothing."""

    def make(local: str) -> tuple[str, str]:
        password = secrets.token_hex(12)
        create_user(cfg, f"{local}-{run_id}", password)
        return f"{local}-{run_id}@{cfg.domain}", password

    dav_password = secrets.token_hex(12)
    add_user(cfg, f"alice-{run_id}", dav_password)
    return Accounts(cfg.domain, make("alice"), make("bob"), make("pepline"), dav_password)


def _avatar_png() -> bytes:
    image = Image.new("RGB", (96, 96), (37, 99, 235))
    ImageDraw.Draw(image).ellipse((18, 18, 78, 78), fill=(250, 204, 21))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _describe(note: PepEvent) -> tuple[list[str], str]:
    """Which demo kinds a notification shows, and a one-line rendering of it."""
    if note.payload is None:
        return [], "(retracted)"
    if note.node == node_for_kind("avatar"):
        meta = avatar_codec.decode_metadata(note.payload)
        if isinstance(meta, avatar_codec.AvatarMetadata):
            info = meta.infos[0]
            return ["avatar"], f"{info.type} {info.width}x{info.height}, {info.bytes} bytes"
        return ["avatar"], "avatar cleared"
    data = decode_payload(note.node, note.payload)
    if isinstance(data, GeoLocation):
        kinds = []
        parts = []
        if data.lat is not None and data.lon is not None:
            kinds.append("location")
            parts.append(f"{data.lat:.5f},{data.lon:.5f}")
            if data.accuracy is not None:
                parts.append(f"±{data.accuracy:.0f} m")
            if data.speed is not None:
                parts.append(f"{data.speed:.1f} m/s")
        place = [v for v in (data.area, data.building, data.floor, data.room) if v]
        if place:
            kinds.append("place")
            parts.append("at " + "/".join(place))
        if data.locality:
            parts.append(data.locality)
        return kinds, " ".join(parts) or "(location cleared)"
    if isinstance(data, PhysicalLocation):
        fields = [v for v in (data.building, data.floor, data.room) if v]
        return ["place"], "at " + ("/".join(fields) or "(place cleared)")
    if isinstance(data, Activity):
        text = f" ({data.text})" if data.text else ""
        specific = f"/{data.specific.value}" if data.specific else ""
        return ["activity"], f"{data.general.value}{specific}{text}"
    if isinstance(data, Mood):
        return ["mood"], data.value.value + (f" ({data.text})" if data.text else "")
    return [], type(data).__name__.lower() + " cleared"


def node_for_kind(name: str) -> str:
    from pepline_shared.events import Kind

    return node_for(Kind(name))


def _ot_user(alice: str) -> str:
    """OwnTracks' topic names the user (owntracks/<user>/<device>): alice's localpart."""
    return alice.split("@")[0]


def _write_mqtt_mapping(path: Path, alice: str) -> None:
    mapping = {
        "adapter_user": "pepline-mqtt",
        "devices": [
            {
                "id": "alice-phone",
                "user": alice,
                "mqtt_user": "alice-phone",
                "topics": [f"owntracks/{_ot_user(alice)}/phone/#"],
            },
            {
                "id": "alice-strap",
                "user": alice,
                "mqtt_user": "alice-strap",
                "topics": ["sensors/alice-strap/#"],
            },
        ],
        "owntracks": {
            "prefix": "owntracks",
            "place_kind": "physloc",
            "places": {"Office": {"area": "Office", "building": "HQ", "locality": "Seattle"}},
        },
        "sensors": [
            {
                "topic": "sensors/{device}/heart",
                "readings": [
                    {
                        "sensor": "heart_rate",
                        "field": "bpm",
                        "type": "integer",
                        "unit": "bpm",
                        "min": 20,
                        "max": 250,
                    }
                ],
            },
        ],
    }
    path.write_text(yaml.safe_dump(mapping, sort_keys=False))


def _write_rules(path: Path, alice: str) -> None:
    from pepline_rules.loader import DEFAULT_RULES

    rules = yaml.safe_load(Path(DEFAULT_RULES).read_text())
    rules.setdefault("users", {})[alice] = {"add": [DEMO_MOOD_RULE]}
    path.write_text(yaml.safe_dump(rules, sort_keys=False))


async def _feed_mqtt(cfg: StackConfig, alice: str, say: Say) -> None:
    """What alice's phone and chest strap send (paho, QoS 1, like the real apps)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    now = int(time.time())
    messages = [
        (
            f"owntracks/{_ot_user(alice)}/phone",
            {
                "_type": "location",
                "lat": 47.6097,
                "lon": -122.3331,
                "acc": 12,
                "vel": 4,
                "cog": 90,
                "tst": now,
                "tid": "ph",
            },
        ),
        (
            f"owntracks/{_ot_user(alice)}/phone/event",
            {
                "_type": "transition",
                "event": "enter",
                "desc": "Office",
                "t": "c",
                "tst": now,
                "lat": 47.6097,
                "lon": -122.3331,
                "acc": 12,
                "tid": "ph",
            },
        ),
        ("sensors/alice-strap/heart", {"bpm": 72}),
    ]

    def publish() -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="alice-phone-demo")
        client.connect(cfg.host, cfg.ports.mqtt)
        client.loop_start()
        try:
            for topic, body in messages:
                client.publish(topic, json.dumps(body), qos=1).wait_for_publish(5)
        finally:
            client.loop_stop()
            client.disconnect()

    await asyncio.to_thread(publish)
    say(f"fed      mqtt: {len(messages)} OwnTracks/sensor messages from alice's phone")


class CalendarApp:
    """Alice's calendar app: a CalDAV client (synchronous, so run in a thread)."""

    def __init__(self, cfg: StackConfig, user: str, password: str) -> None:
        from caldav.davclient import DAVClient

        self.client = DAVClient(
            url=caldav_url(cfg), username=user, password=password, require_tls=False
        )
        self.calendar: Any = None

    async def create(self) -> None:
        def make() -> Any:
            principal = self.client.principal()  # type: ignore[no-untyped-call]
            return principal.make_calendar(name="Work", cal_id="work")

        self.calendar = await asyncio.to_thread(make)

    async def add_meeting_now(self, say: Say) -> None:
        """A meeting from a minute ago to in half an hour."""
        start = datetime.now(UTC) - timedelta(minutes=1)
        end = start + timedelta(minutes=31)
        stamp = "%Y%m%dT%H%M%SZ"
        ics = "\r\n".join(
            [
                "BEGIN:VCALENDAR",
                "VERSION:2.0",
                "PRODID:-//pepline//demo//EN",
                "BEGIN:VEVENT",
                f"UID:demo-{uuid.uuid4().hex}",
                f"DTSTAMP:{start.strftime(stamp)}",
                f"DTSTART:{start.strftime(stamp)}",
                f"DTEND:{end.strftime(stamp)}",
                "SUMMARY:Quarterly planning",
                "END:VEVENT",
                "END:VCALENDAR",
                "",
            ]
        )
        await asyncio.to_thread(self.calendar.save_event, ics)
        say("fed      caldav: a meeting now, in alice's calendar")

    def close(self) -> None:
        self.client.close()


async def _watch(
    contact: ContactClient, owner: str, t0: float, report: DemoReport, say: Say, done: asyncio.Event
) -> None:
    last: tuple[str, str | None] | None = None
    while True:
        note = await contact.events.get()
        if note.from_jid != owner or note.kind != "publish":
            continue
        if (note.node, note.item_id) == last:
            # The server delivered the same item again (seen with Prosody 0.12 when the
            # stack's data dir has been used before); shown, not counted.
            say(f"{time.monotonic() - t0:6.1f}s  (same item delivered again)")
            continue
        last = (note.node, note.item_id)
        kinds, text = _describe(note)
        at = time.monotonic() - t0
        for kind in kinds:
            report.seen.setdefault(kind, []).append(at)
            report.last[kind] = text
        label = "+".join(kinds) if kinds else note.node.rsplit("/", 1)[-1]
        by = f"  (published by {note.publisher.split('/')[0]})" if note.publisher else ""
        say(f"{at:6.1f}s  bob sees alice's {label:<14} {text}{by}")
        if report.complete:
            done.set()


async def run_demo(
    cfg: StackConfig,
    *,
    duration: float = 120.0,
    route: Route = "affiliation",
    say: Say = print,
    log_file: Path | None = None,
) -> DemoReport:
    """Run the demo scenario on the stack ``cfg``; return what bob's client received."""
    from pydantic import SecretStr

    from pepline_calendar.app import run as run_calendar
    from pepline_calendar.settings import CalendarSettings, SourceConfig, UserConfig
    from pepline_fusion.app import run as run_fusion
    from pepline_fusion.settings import FusionSettings
    from pepline_gps.app import run as run_gps
    from pepline_gps.settings import DeviceConfig, GpsSettings
    from pepline_mqtt.app import run as run_mqtt
    from pepline_mqtt.settings import MqttSettings
    from pepline_publisher.app import run as run_publisher
    from pepline_publisher.provision import Provisioner, nodes_for_kinds
    from pepline_publisher.settings import PublisherSettings
    from pepline_rules.app import run as run_rules
    from pepline_rules.settings import RulesSettings
    from pepline_shared.events import PEP_KINDS

    report = DemoReport()
    stack = Stack(cfg)
    started = stack.up(list(SERVICES))
    for name, seconds in started.items():
        say(f"started  {name:<10} in {seconds:5.1f}s")
    run_id = uuid.uuid4().hex[:8]
    work = cfg.service_dir("demo") / run_id
    work.mkdir(parents=True, exist_ok=True)
    logs = (log_file or cfg.logs / "demo-services.log").open("a")
    configure_logging("pepline-demo", stream=logs)

    acc = _accounts(cfg, run_id[:4])
    alice, bob = acc.alice[0], acc.bob[0]
    say(f"accounts alice={alice} (published)  bob={bob} (her contact)  route={route}")
    bootstrap = f"{cfg.host}:{cfg.ports.kafka}"
    topics = Topics(
        raw=f"pepline.demo.{run_id}.raw",
        publish=f"pepline.demo.{run_id}.publish",
        dlq=f"pepline.demo.{run_id}.dlq",
        rules_state=f"pepline.demo.{run_id}.rules",
        fusion_state=f"pepline.demo.{run_id}.fusion",
    )
    await ensure_topics(
        bootstrap,
        [topics.raw, topics.publish, topics.dlq, topics.rules_state, topics.fusion_state],
        compacted=[topics.rules_state, topics.fusion_state],
    )
    common: dict[str, Any] = {
        "kafka": KafkaSettings(bootstrap=bootstrap),
        "topics": topics,
        "http_host": "127.0.0.1",
        "http_port": 0,
    }

    def client(account: tuple[str, str]) -> ContactClient:
        return ContactClient(
            account[0], account[1], cfg.host, cfg.ports.xmpp_c2s, tls_ca=ca_path(), timeout=20
        )

    alice_client, watcher = client(acc.alice), client(acc.bob)
    await asyncio.gather(alice_client.connect(), watcher.connect())
    await subscribe_mutually(alice_client, watcher)
    await alice_client.disconnect()
    if route == "affiliation":
        async with Provisioner(
            acc.alice[0], acc.alice[1], cfg.host, cfg.ports.xmpp_c2s, ca_file=ca_path()
        ) as owner:
            await owner.grant(acc.pepline[0], nodes_for_kinds(PEP_KINDS), "presence")
        say(f"granted  {acc.pepline[0]} the publisher affiliation on alice's PEP nodes")
        publisher = PublisherSettings(
            route="affiliation",
            xmpp_host=cfg.host,
            xmpp_port=cfg.ports.xmpp_c2s,
            xmpp_jid=acc.pepline[0],
            xmpp_password=SecretStr(acc.pepline[1]),
            xmpp_ca_file=ca_path(),
            group_id=f"demo-{run_id}",
            **common,
        )
    else:
        publisher = PublisherSettings(
            route="privileged",
            xmpp_host=cfg.host,
            xmpp_port=cfg.ports.xmpp_component,
            component_jid=cfg.component,
            component_secret=SecretStr(cfg.component_secret),
            group_id=f"demo-{run_id}",
            **common,
        )

    mapping = work / "mqtt.yaml"
    _write_mqtt_mapping(mapping, alice)
    rules_file = work / "rules.yaml"
    _write_rules(rules_file, alice)
    gps = GpsSettings(
        gps_devices=[DeviceConfig(gpsd=f"{cfg.host}:{cfg.ports.gpsd}", user=alice, device="car")],
        gps_min_interval=5.0,
        gps_min_distance=5.0,
        **common,
    )
    mqtt = MqttSettings(
        mqtt_config=mapping,
        mqtt_host=cfg.host,
        mqtt_port=cfg.ports.mqtt,
        mqtt_client_id=f"pepline-demo-{run_id}",
        **common,
    )
    calendar_source = SourceConfig(
        name="work",
        type="caldav",
        url=caldav_url(cfg),
        username=alice.split("@")[0],
        password=SecretStr(acc.dav_password),
        allow_insecure_http=True,
    )
    calendar = CalendarSettings(
        calendar_users=(UserConfig(jid=alice, sources=(calendar_source,)),),
        poll_interval=3.0,
        **common,
    )
    rules = RulesSettings(rules_file=rules_file, group_id=f"demo-rules-{run_id}", **common)
    fusion = FusionSettings(group_id=f"demo-fusion-{run_id}", **common)

    # Her calendar exists before the adapter first looks (it discovers collections at start).
    calendar_app = CalendarApp(cfg, alice.split("@")[0], acc.dav_password)
    await calendar_app.create()

    t0 = time.monotonic()
    done = asyncio.Event()
    watch = asyncio.create_task(_watch(watcher, alice, t0, report, say, done))
    try:
        async with contextlib.AsyncExitStack() as services:
            contexts = {
                "publisher": harness.running(run_publisher, publisher),
                "fusion": harness.running(run_fusion, fusion),
                "rules": harness.running(run_rules, rules),
                "gps": harness.running(run_gps, gps),
                "mqtt": harness.running(run_mqtt, mqtt),
                "calendar": harness.running(run_calendar, calendar),
            }
            tasks = {}
            for name, context in contexts.items():
                tasks[name] = await services.enter_async_context(context)
                say(f"running  {name}")
            await asyncio.sleep(2.0)  # let the consumers join their groups
            await calendar_app.add_meeting_now(say)
            await _feed_mqtt(cfg, alice, say)
            picture = _avatar_png()
            await harness.produce(
                bootstrap,
                topics.publish,
                Event.new(alice, "/pepline/demo/profile", Avatar.from_image(picture)),
            )
            say("fed      profile: alice's avatar (a PNG) on the publish topic")
            say("fed      gpsd: replaying a Quectel L76K receiver log as alice's car")
            # Until every kind arrived or time is up; a service that stops on its own is a
            # failure to report now, not at the end.
            finished = asyncio.create_task(done.wait())
            left = max(5.0, duration - (time.monotonic() - t0))
            await asyncio.wait(
                [finished, *tasks.values()], timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
            finished.cancel()
            for name, task in tasks.items():
                if task.done():
                    say(f"service {name} stopped unexpectedly: {task.exception()!r}")
    except Exception as exc:  # a service failed on stopping: report it, still clean up
        say(f"a service failed: {exc!r} (details in {logs.name})")
    finally:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
        await watcher.disconnect()
        calendar_app.close()
        # Log to stderr again before closing the file: anything still logging (in tests,
        # the next test's services) must not write to a closed stream.
        configure_logging("pepline-demo", stream=sys.stderr)
        for name in reversed(list(started)):
            stack.stop(name)
        logs.close()
    say("")
    say("summary: what bob's client received from alice")
    for kind in KINDS:
        times = report.seen.get(kind, [])
        first = f"first after {times[0]:5.1f}s" if times else "NOT RECEIVED"
        say(f"  {kind:<9} {len(times):3d} notification(s)  {first}  {report.last.get(kind, '')}")
    return report
