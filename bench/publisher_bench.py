"""Publisher benchmark: pepline (Kafka → publisher → Prosody) against Prosody's own ceiling.

    uv run python -m bench.publisher_bench     # ~80 s on 2 cores; loopback only

One run starts its own Kafka and Prosody (free 127.0.0.1 ports, a fresh state dir on
/dev/shm), creates ``--users`` users, each mutually presence-subscribed with one watching
contact (bench/watcher.py: its own process, timestamps every PEP notification), and
measures three publishers with the same users, PEP nodes and payloads:

- ceiling: a minimal pipelined XEP-0356 publisher (bench/ceiling.py: a raw component
  stream, pre-serialized stanzas, ``--window`` publishes in flight, no Kafka);
- pepline: events produced to Kafka, published by the real service (``pepline publisher``,
  privileged route, default settings but the same window, in its own process);
- slixmpp sink: pepline's PrivilegedPublisher driven directly with the same window, no
  Kafka: tells whether a gap comes from the XMPP client library or from the rest.

A warm-up sends one event per (user, node) lane through pepline (creates every node, warms
Kafka's JVM, proves every user's notifications reach the watcher). Then ``--rounds``
saturated rounds, each ceiling → pepline → sink back to back so that load from elsewhere
on the machine hits all three alike: ``--batch`` events on distinct lanes, all delivered
before the next round; pepline's batch is on Kafka before its publisher process starts.
Throughput = (n - 1) / (first to last notification at the watcher); the ratio is the
median over rounds of pepline / ceiling of the same round.

Then ceiling and pepline at one fixed offered rate, alternating in halves of ``--seconds``:
``--rate`` if the ceiling just measured sustains it (< 90 % of it), else ``--load`` x that
ceiling, which the output says. Latency is per event: send (ceiling) or Kafka produce
(pepline) → notification at the watcher. Lanes rotate over users x nodes, so nothing is
coalesced; the publisher's own counters (coalesced, failed, retries) come from its
/metrics and are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.accounts import write_accounts
from bench.arrivals import Arrivals
from bench.ceiling import Outcome, RawPublisher, paced
from bench.prosody_variant import BenchProsody, ceiling_component, sink_component
from bench.report import Phase, machine, report
from bench.service_process import (
    LATENCY_HISTOGRAM,
    publisher_process,
    scrape,
    scrape_histogram,
    send,
)
from bench.stats import CpuMeter, CpuUsage, figures
from bench.watcher import WatcherParams
from pepline.stack.config import Ports, StackConfig, free_port
from pepline.stack.stack import Stack, load_service
from pepline.stack.tls import ca_path
from pepline_publisher.app import publish_options
from pepline_publisher.plan import plan_event
from pepline_publisher.settings import PublisherSettings
from pepline_publisher.xmpp.base import Publication, PublishError
from pepline_publisher.xmpp.privileged import PrivilegedPublisher
from pepline_shared.events import (
    Activity,
    Event,
    EventData,
    GeneralActivity,
    GeoLocation,
    Kind,
    SpecificActivity,
    source_uri,
)
from pepline_shared.logging import configure_logging
from pepline_shared.transport.kafka import KafkaProducer
from pepline_shared.xep.nodes import node_for

PASSWORD = "bench-password"
TOPIC_PARTITIONS = 4  # as the stack's broker creates them (num.partitions)
WATCHER = "watcher"
SOURCE = source_uri("bench")
# Two nodes per user: location (the bulk of real traffic) and activity.
PUBLISHED_KINDS = (Kind.GEOLOC, Kind.ACTIVITY)
ACTIVITIES = (
    (GeneralActivity.WORKING, SpecificActivity.IN_A_MEETING),
    (GeneralActivity.WORKING, SpecificActivity.CODING),
    (GeneralActivity.RELAXING, SpecificActivity.READING),
)


def event_data(kind: Kind, seq: int) -> EventData:
    if kind is Kind.GEOLOC:
        return GeoLocation(
            lat=52.5 + (seq % 1000) / 1e4, lon=13.4 + (seq % 997) / 1e4, accuracy=12.0
        )
    general, specific = ACTIVITIES[seq % len(ACTIVITIES)]
    return Activity(general=general, specific=specific)


def make_events(users: Sequence[str], count: int, offset: int) -> list[Event]:
    """Events ``offset`` .. ``offset + count`` of one endless rotation over the lanes:
    consecutive events go to different users, and a lane (user, node) comes round again
    only every len(users) x len(PUBLISHED_KINDS) events."""
    n, k = len(users), len(PUBLISHED_KINDS)
    events = []
    for seq in range(offset, offset + count):
        lane = seq % (n * k)
        kind = PUBLISHED_KINDS[lane // n]
        events.append(Event.new(users[lane % n], SOURCE, event_data(kind, seq)))
    return events


@dataclass
class Stretch:
    """What one stretch of a phase sent (item id → send or produce time) and its CPU use."""

    started: dict[str, float]
    usage: CpuUsage
    offered: float = math.nan


@dataclass
class Bench:
    args: argparse.Namespace
    cfg: StackConfig
    stack: Stack
    users: list[str]
    arrivals: Arrivals
    producer: KafkaProducer
    raw: RawPublisher
    sink: PrivilegedPublisher
    admin: AIOKafkaAdminClient
    phases: list[Phase] = field(default_factory=list)
    publisher_counters: dict[str, float] = field(default_factory=dict)
    # The publisher's own latency histogram in the fixed-rate phase: (le seconds, count).
    publisher_latency: list[tuple[float, float]] = field(default_factory=list)
    options: dict[str, str] = field(
        default_factory=lambda: dict(publish_options(PublisherSettings(route="privileged")))
    )
    _seq: int = 0

    # ---- helpers ---------------------------------------------------------------------

    @property
    def lanes(self) -> int:
        return len(self.users) * len(PUBLISHED_KINDS)

    def events(self, count: int) -> list[Event]:
        events = make_events(self.users, count, self._seq)
        self._seq += count
        return events

    def publications(self, events: Sequence[Event]) -> list[Publication]:
        return [p for e in events for p in plan_event(e, options=self.options).publications]

    def stanzas(self, count: int) -> list[tuple[str, str, bytes]]:
        return RawPublisher.prepare(
            ceiling_component(self.cfg), self.publications(self.events(count))
        )

    def meter(self, **extra_groups: int) -> CpuMeter:
        assert self.arrivals.pid is not None
        groups = {n: p.popen.pid for n, p in self.stack.started.items() if p.popen is not None}
        meter = CpuMeter(
            {"bench": os.getpid(), "watcher": self.arrivals.pid}, {**groups, **extra_groups}
        )
        meter.start()
        return meter

    async def delivered(self, started: dict[str, float], meter: CpuMeter) -> CpuUsage:
        """Wait for every notification of ``started``; the CPU used until then."""
        missing = await self.arrivals.wait_for(set(started), timeout=self.args.timeout)
        usage = meter.stop()
        if missing:
            raise SystemExit(
                f"{len(missing)} of {len(started)} events never notified within "
                f"{self.args.timeout:.0f} s"
            )
        return usage

    def record(self, name: str, kind: str, stretches: Sequence[Stretch]) -> Phase:
        usage = sum((s.usage for s in stretches), CpuUsage())
        offered = [s.offered for s in stretches if not math.isnan(s.offered)]
        phase = Phase(
            name,
            kind,
            figures([s.started for s in stretches], self.arrivals.times),
            statistics.mean(offered) if offered else math.nan,
            usage.shares(),
        )
        self.phases.append(phase)
        print(f"  {phase.describe()}", flush=True)
        return phase

    def check(self, what: str, out: Outcome) -> None:
        if out.errors:
            raise SystemExit(f"{what}: {len(out.errors)} publishes refused: {out.errors[0]}")

    def publisher_env(self, topic: str, http_port: int) -> dict[str, str]:
        cfg = self.cfg
        return {
            "PEPLINE_ROUTE": "privileged",
            "PEPLINE_XMPP_HOST": cfg.host,
            "PEPLINE_XMPP_PORT": str(cfg.ports.xmpp_component),
            "PEPLINE_COMPONENT_JID": cfg.component,
            "PEPLINE_COMPONENT_SECRET": cfg.component_secret,
            "PEPLINE_KAFKA_BOOTSTRAP": f"{cfg.host}:{cfg.ports.kafka}",
            "PEPLINE_TOPIC_PUBLISH": topic,
            "PEPLINE_TOPIC_DLQ": f"{topic}-dlq",
            "PEPLINE_GROUP_ID": f"bench-{topic}",
            "PEPLINE_WINDOW": str(self.args.window),
            "PEPLINE_HTTP_HOST": cfg.host,
            "PEPLINE_HTTP_PORT": str(http_port),
        }

    @contextlib.asynccontextmanager
    async def publisher(self, topic: str, profile: str) -> AsyncIterator[tuple[int, int]]:
        """The real publisher consuming ``topic``; yields (pid, metrics port) and adds its
        counters to ``publisher_counters`` when done."""
        port = free_port()
        stats = None
        if self.args.profile_publisher is not None:
            self.args.profile_publisher.mkdir(parents=True, exist_ok=True)
            stats = self.args.profile_publisher / f"publisher-{profile}.prof"
        async with publisher_process(self.publisher_env(topic, port), self.log, stats) as pid:
            yield pid, port
            for key, value in (await scrape(port)).items():
                self.publisher_counters[key] = self.publisher_counters.get(key, 0.0) + value

    async def new_topic(self) -> str:
        """A fresh topic per publisher process, created up front (as an operator would)
        rather than on the first produce, so that no phase includes a leader election."""
        topic = f"bench-{uuid.uuid4().hex[:8]}"
        await self.admin.create_topics([NewTopic(topic, TOPIC_PARTITIONS, 1)])
        return topic

    async def produce(self, topic: str, events: Sequence[Event]) -> dict[str, float]:
        """Produce all at once (the shared producer batches them); item id → produce time."""
        produced = {e.id: time.time() for e in events}
        await asyncio.gather(*(send(self.producer, topic, e) for e in events))
        return produced

    @property
    def log(self) -> Path:
        return self.cfg.logs / "publisher.log"

    # ---- phases ----------------------------------------------------------------------

    async def warm_up(self) -> None:
        """One event per lane through pepline itself: creates every node (auto-created with
        the publisher's publish-options), warms up Kafka's JVM, and proves that the watcher
        is notified for every user, before anything is timed."""
        topic = await self.new_topic()
        backlog = await self.produce(topic, self.events(self.lanes))
        async with self.publisher(topic, "warm-up"):
            missing = await self.arrivals.wait_for(set(backlog), timeout=120)
        if missing:
            raise SystemExit(f"warm-up: {len(missing)} of {self.lanes} never notified")
        print(f"  warm-up: {self.lanes} nodes of {len(self.users)} users created, all notified")

    async def ceiling_saturated(self, round_: int) -> None:
        stanzas = self.stanzas(self.args.batch)
        meter = self.meter()
        out = await self.raw.saturate(stanzas, self.args.window, self.args.timeout)
        self.check("ceiling", out)
        usage = await self.delivered(out.sent, meter)
        name = f"ceiling, saturated #{round_}"
        self.record(name, "ceiling-saturated", [Stretch(out.sent, usage)])

    async def pepline_saturated(self, round_: int) -> None:
        topic = await self.new_topic()
        produced = await self.produce(topic, self.events(self.args.batch))
        async with self.publisher(topic, f"saturated-{round_}") as (pid, _):
            meter = self.meter(publisher=pid)
            usage = await self.delivered(produced, meter)
        name = f"pepline, saturated #{round_} (Kafka backlog)"
        self.record(name, "pepline-saturated", [Stretch(produced, usage)])

    async def sink_saturated(self, round_: int) -> None:
        pubs = self.publications(self.events(self.args.batch))
        window = asyncio.Semaphore(self.args.window)
        sent: dict[str, float] = {}
        errors: list[str] = []

        async def one(pub: Publication) -> None:
            async with window:
                sent[pub.item_id] = time.time()
                try:
                    await self.sink.publish(pub)
                except PublishError as exc:
                    errors.append(str(exc))

        meter = self.meter()
        await asyncio.gather(*(one(p) for p in pubs))
        if errors:
            raise SystemExit(f"slixmpp sink: {len(errors)} refused: {errors[0]}")
        usage = await self.delivered(sent, meter)
        self.record(f"slixmpp sink, saturated #{round_}", "sink-saturated", [Stretch(sent, usage)])

    async def ceiling_offer(self, rate: float, seconds: float) -> Stretch:
        stanzas = self.stanzas(int(rate * seconds))
        meter = self.meter()
        out, achieved = await self.raw.offer(stanzas, rate, self.args.timeout)
        self.check("ceiling", out)
        return Stretch(out.sent, await self.delivered(out.sent, meter), achieved)

    async def pepline_offer(self, topic: str, pid: int, rate: float, seconds: float) -> Stretch:
        events = self.events(int(rate * seconds))
        produced: dict[str, float] = {}
        pending: set[asyncio.Task[None]] = set()

        def produce(i: int) -> None:
            produced[events[i].id] = time.time()
            task = asyncio.create_task(send(self.producer, topic, events[i]))
            pending.add(task)
            task.add_done_callback(pending.discard)

        meter = self.meter(publisher=pid)
        achieved = await paced(len(events), rate, produce)
        await asyncio.gather(*pending)
        return Stretch(produced, await self.delivered(produced, meter), achieved)

    async def fixed_rate(self, rate: float) -> None:
        """Both at ``rate``, alternating in halves (one publisher process throughout: it
        idles on a long poll while the ceiling runs)."""
        topic = await self.new_topic()
        ceiling, pepline = [], []
        async with self.publisher(topic, "rate") as (pid, port):
            # Until a round trip has gone through, the consumer may still be joining.
            primer = await self.produce(topic, self.events(8))
            if await self.arrivals.wait_for(set(primer), self.args.timeout):
                raise SystemExit("pepline: the priming events were never notified")
            half = self.args.seconds / 2
            for _ in range(2):
                ceiling.append(await self.ceiling_offer(rate, half))
                pepline.append(await self.pepline_offer(topic, pid, rate, half))
            self.publisher_latency = await scrape_histogram(port, LATENCY_HISTOGRAM)
        self.record(f"ceiling, {rate:.0f} ev/s offered", "ceiling-rate", ceiling)
        self.record(f"pepline, {rate:.0f} ev/s produced", "pepline-rate", pepline)

    async def run(self) -> float:
        """All phases; return the fixed rate used."""
        await self.warm_up()
        for r in range(1, self.args.rounds + 1):
            await self.ceiling_saturated(r)
            await self.pepline_saturated(r)
            await self.sink_saturated(r)
        ceiling = statistics.median(
            p.figures.rate for p in self.phases if p.kind == "ceiling-saturated"
        )
        rate: float = self.args.rate
        # Beyond ~90% of the ceiling the queue grows without bound on a shared machine,
        # and latency measures the run's length, not the pipeline.
        if rate > 0.9 * ceiling:
            rate = float(round(self.args.load * ceiling))
            print(
                f"  {self.args.rate:.0f} ev/s is beyond this server's ceiling "
                f"({ceiling:.0f} ev/s); fixed-rate phases run at {rate:.0f} ev/s "
                f"({self.args.load:.0%} of it)"
            )
        await self.fixed_rate(rate)
        return rate


async def run(args: argparse.Namespace) -> None:
    started = time.monotonic()
    # Info lines of the libraries would interleave with the figures.
    configure_logging("bench", "WARNING")
    for line in machine():
        print(line)
    state = Path(tempfile.mkdtemp(prefix="pepline-bench-", dir=args.state_base))
    cfg = StackConfig(state_dir=state, ports=Ports.free())
    t = time.monotonic()
    users = write_accounts(
        state / "prosody" / "data",
        cfg.domain,
        [f"u{i:05d}" for i in range(args.users)],
        WATCHER,
        PASSWORD,
    )
    print(
        f"{len(users)} users + watcher written to Prosody storage in {time.monotonic() - t:.2f} s"
    )
    stack = Stack(
        cfg,
        services={
            "kafka": load_service("kafka"),
            "prosody": BenchProsody(pep_service_cache_size=args.users + 100),
        },
    )
    async with contextlib.AsyncExitStack() as running:
        timings = await asyncio.to_thread(stack.up, ["kafka", "prosody"])
        running.push_async_callback(asyncio.to_thread, stack.down)
        print("stack up: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
        arrivals = Arrivals(
            WatcherParams(
                host=cfg.host,
                port=cfg.ports.xmpp_c2s,
                jid=f"{WATCHER}@{cfg.domain}",
                password=PASSWORD,
                ca_file=ca_path(),
                nodes=tuple(node_for(k) for k in PUBLISHED_KINDS),
            )
        )
        await arrivals.start()
        running.push_async_callback(arrivals.stop)
        asked = await arrivals.disco_settled()
        print(f"  watcher {arrivals.full_jid} online (answered {asked} disco#info queries)")
        admin = AIOKafkaAdminClient(bootstrap_servers=f"{cfg.host}:{cfg.ports.kafka}")
        await admin.start()
        running.push_async_callback(admin.close)
        producer = KafkaProducer(f"{cfg.host}:{cfg.ports.kafka}", client_id="bench")
        await producer.start()
        running.push_async_callback(producer.stop)
        raw = RawPublisher(
            cfg.host, cfg.ports.xmpp_component, ceiling_component(cfg), cfg.component_secret
        )
        await raw.start()
        running.push_async_callback(raw.stop)
        sink = PrivilegedPublisher(
            sink_component(cfg), cfg.component_secret, cfg.host, cfg.ports.xmpp_component
        )
        await sink.start()
        running.push_async_callback(sink.stop)
        bench = Bench(args, cfg, stack, users, arrivals, producer, raw, sink, admin)
        rate = await bench.run()
    report(
        bench.phases,
        bench.publisher_counters,
        bench.publisher_latency,
        arrivals.duplicates,
        args.rate,
        rate,
    )
    print(
        f"total run {time.monotonic() - started:.0f} s; state dir {state}"
        + ("" if args.keep else " (removed)")
    )
    if not args.keep:
        shutil.rmtree(state, ignore_errors=True)


def default_state_base() -> Path | None:
    shm = Path("/dev/shm")  # noqa: S108 - a private mkdtemp() is made inside
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.publisher_bench",
        description="pepline publisher vs the XMPP server's own ceiling, one run.",
    )
    parser.add_argument("--users", type=int, default=1000, help="distinct users (issue: >= 1000)")
    parser.add_argument("--window", type=int, default=64, help="publishes in flight")
    parser.add_argument("--batch", type=int, default=1000, help="events per saturated round")
    parser.add_argument("--rounds", type=int, default=5, help="saturated rounds of each")
    parser.add_argument("--rate", type=float, default=1000.0, help="fixed offered rate, ev/s")
    parser.add_argument(
        "--load",
        type=float,
        default=0.5,
        help="share of the measured ceiling to offer instead when --rate exceeds 90%% of it",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="fixed-rate phase length")
    parser.add_argument("--timeout", type=float, default=60.0, help="bound per phase, s")
    parser.add_argument(
        "--state-base",
        type=Path,
        default=default_state_base(),
        help="where the run's state dir (Kafka log, Prosody storage) goes; default "
        "/dev/shm: Prosody rewrites a file per publish, and a shared virtual disk would "
        "make its ceiling measure the disk",
    )
    parser.add_argument("--keep", action="store_true", help="keep the state dir (logs)")
    parser.add_argument(
        "--profile-publisher",
        type=Path,
        metavar="DIR",
        help="run each publisher process under cProfile, stats into DIR (slows it down)",
    )
    args = parser.parse_args(argv)
    if args.batch > args.users * len(PUBLISHED_KINDS):
        parser.error("--batch must not exceed users x nodes (each event on its own lane)")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
