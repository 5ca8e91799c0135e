"""Conversations per second that one agent-runtime process handles in rules mode, against a no-op handler.

    uv run python bench/agent_conversations.py [--conversations 1000] [--runs 3] [--concurrency 512]
                                               [--drain] [--handlers noop,reply,agent,agent1]
                                               [--redis-url redis://…]

Each conversation is a lead's whole scripted chat (six ``message.received``, ending qualified). A separate
load-generator process publishes every message of every conversation through the bus; one consumer process
handles them with the same subscription as the service (ordering key ``company_id + lead_external_id``,
concurrency ``AGENT_CONCURRENCY``'s default unless ``--concurrency``): the agent's real handler
(``agent``: the batch handler ``answer_messages`` as the service runs it, batches of ``AGENT_MAX_BATCH``;
``agent1``: ``answer_message`` as a per-event handler, one message per call), a handler that does nothing, or one that
only publishes a fixed ``message.sent`` per message (the least any answering handler does on this bus: its
ratio bounds the agent's). Time runs from the first publish to the handling of the last message, i.e. the
last ``message.sent`` published. All configurations run on the same Redis in the same run, alternating, and
the table prints medians and the ratios to the no-op handler (the issue's target) and to the reply-only one
(the no-op's rate is mostly its publisher's: the reply-only handler is the floor for any answering handler).

The default of 1,000 conversations (6,000 messages) is the smallest that measures a rate rather than a
start: with 300, the no-op run lasts 0.17 s and a lead's six messages, handled one after another, leave the
agent's process idle for a fifth of its run (docs/bench/agent-runtime.md reports both).

``--drain`` publishes every message first and then times the consumer alone, from its start to the last
message handled: on two cores that is the steadier measure of what a handler costs (its CPU per message),
without the publishing process competing for the cores.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from eventbus import (
    Bus,
    BusSettings,
    Consumer,
    Envelope,
    MessageReceived,
    MessageSent,
    OutgoingMessage,
    Subscription,
)
from eventbus.server import RedisServer
from servicekit import heap
from servicekit.logging import configure_logging

SCRIPT = ["Oi, boa tarde!", "Vou casar 💍", "12 de março", "uns 120 convidados", "em Campinas", "R$ 40 mil"]
COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"
ORDERING_KEY = ("company_id", "payload.lead_external_id")
NOW = datetime(2025, 12, 16, 12, tzinfo=UTC)
HANDLERS = ("noop", "reply", "agent", "agent1")
DEFAULT_HANDLERS = "noop,reply,agent"


def _bus_settings(prefix: str) -> BusSettings:
    return BusSettings(prefix=prefix, live_prefix=f"{prefix}:")


def consumer_main(kind: str, url: str, prefix: str, concurrency: int, conn: Connection, shared: Any) -> None:
    configure_logging("bench", level="WARNING")
    asyncio.run(_consume(kind, url, prefix, concurrency, conn, shared))


async def _consume(kind: str, url: str, prefix: str, concurrency: int, conn: Connection, shared: Any) -> None:
    from agent_runtime.cuts import sweeping
    from agent_runtime.handlers import Agent, answer_message, answer_messages
    from agent_runtime.leads import Leads
    from agent_runtime.pipeline import Pipeline
    from agent_runtime.settings import Settings
    from agent_runtime.store import Store

    async with Bus.from_url(url, source="agent-runtime", settings=_bus_settings(prefix)) as bus:
        settings = Settings(redis_url=url, bus_prefix=prefix)
        store = Store(
            Pipeline(bus.redis),
            bus.keys,
            conversation_ttl=settings.conversation_ttl,
            answer_ttl=settings.answer_ttl,
            lead_ttl=settings.lead_ttl,
            remembered_leads=settings.remembered_leads,
        )  # as create_app builds it
        agent = Agent(bus=bus, leads=Leads(bus, store), store=store, settings=settings, clock=lambda: NOW)
        count = 0

        async def handle_batch(events: Sequence[Envelope[Any]]) -> list[Exception | None]:
            nonlocal count
            outcomes = await answer_messages(events, agent=agent)
            count += len(events)
            shared[1] = time.monotonic()
            shared[0] = count
            return outcomes

        async def handle(event: Envelope[Any]) -> None:
            nonlocal count
            if kind == "agent1":
                await answer_message(event, agent=agent)
            elif kind == "reply":
                reply = MessageSent(
                    instance_id=event.payload.instance_id,
                    to=event.payload.from_,
                    messages=[OutgoingMessage(text="Anotado: 120 convidados ✅ E onde vai ser a festa?")],
                )
                # as the agent publishes its reply: no dedupe key (its stored answer is the idempotency record)
                await bus.publish(Envelope.new(reply, source="agent-runtime", company_id=event.company_id))
            count += 1
            shared[1] = time.monotonic()
            shared[0] = count

        if kind == "agent":  # as the service subscribes
            sub = Subscription(
                "message.received",
                batch_handler=handle_batch,
                ordering_key=ORDERING_KEY,
                concurrency=concurrency,
                max_batch=settings.max_batch,
            )
        else:
            sub = Subscription("message.received", handle, ordering_key=ORDERING_KEY, concurrency=concurrency)
        consumer = Consumer(bus, "agent-runtime", [sub], name="bench", block=timedelta(milliseconds=100))
        await bus.redis.xgroup_create(
            bus.keys.stream("message.received"), "agent-runtime", "0", mkstream=True
        )
        heap.settle()  # as servicekit.serve does before a service serves
        cpu0 = time.process_time()
        shared[2] = time.monotonic()
        # As the service runs them (app.py): the answers' cuts the leads' next commits did not make are swept,
        # the last ones when it stops, inside the CPU measured here (the time measured ends before).
        async with sweeping(store.sweep, settings.cut_after.total_seconds()), consumer.running():
            conn.send("ready")
            stop = asyncio.Event()
            asyncio.get_running_loop().add_reader(conn.fileno(), stop.set)  # the parent's "stop"
            await stop.wait()
            asyncio.get_running_loop().remove_reader(conn.fileno())
            conn.recv()
        conn.send({"cpu": time.process_time() - cpu0, "uncut": len(store.cuts)})


def publisher_main(url: str, prefix: str, conversations: int, conn: Connection) -> None:
    configure_logging("bench", level="WARNING")
    asyncio.run(_publish(url, prefix, conversations, conn))


async def _publish(url: str, prefix: str, conversations: int, conn: Connection) -> None:
    async with Bus.from_url(url, source="evolution-manager", settings=_bus_settings(prefix)) as bus:
        # Message n of every lead before message n+1 of any: leads interleave as they would in real traffic.
        events = [
            Envelope.new(
                MessageReceived.model_validate(
                    {"instance_id": "ins_1", "lead_external_id": f"wa:+55119{c:08d}", "from": f"+55119{c:08d}",
                     "body": body, "raw": {"message_id": f"m{c}-{n}"}}
                ),
                source="evolution-manager",
                company_id=COMPANY,
            )
            for n, body in enumerate(SCRIPT)
            for c in range(conversations)
        ]  # fmt: skip
        conn.send("ready")
        conn.recv()
        t0 = time.monotonic()
        feed = iter(events)

        async def worker() -> None:
            for event in feed:
                await bus.publish(event)

        await asyncio.gather(*(worker() for _ in range(8)))
        conn.send({"t0": t0, "elapsed": time.monotonic() - t0})


def run_once(
    kind: str, url: str, conversations: int, concurrency: int, *, drain: bool = False
) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    prefix = f"bench{time.monotonic_ns()}"
    shared = ctx.Array("d", [0.0, 0.0, 0.0], lock=False)  # handled, last handled at, consuming since
    c_parent, c_child = ctx.Pipe()
    p_parent, p_child = ctx.Pipe()
    consumer = ctx.Process(target=consumer_main, args=(kind, url, prefix, concurrency, c_child, shared))
    publisher = ctx.Process(target=publisher_main, args=(url, prefix, conversations, p_child))
    if drain:  # every message published before the consumer starts: it is timed alone
        publisher.start()
        assert p_parent.recv() == "ready"
        p_parent.send("go")
        started = p_parent.recv()
        consumer.start()
        assert c_parent.recv() == "ready"
    else:
        consumer.start()
        publisher.start()
        assert c_parent.recv() == "ready" and p_parent.recv() == "ready"
        p_parent.send("go")
        started = p_parent.recv()
    total = conversations * len(SCRIPT)
    deadline = time.monotonic() + 240
    while shared[0] < total:
        if time.monotonic() > deadline:
            raise SystemExit(f"{kind}: only {int(shared[0])}/{total} handled in time")
        time.sleep(0.005)
    c_parent.send("stop")
    stopped = c_parent.recv()
    cpu = stopped["cpu"]
    if stopped.get("uncut"):
        raise SystemExit(f"{kind}: {stopped['uncut']} answers left uncut")
    consumer.join(30)
    publisher.join(30)
    seconds = shared[1] - (shared[2] if drain else started["t0"])
    result = {
        "seconds": seconds,
        "conversations_s": conversations / seconds,
        "messages_s": total / seconds,
        "consumer_cpu_s": cpu,
        "cpu_us_per_message": cpu / total * 1e6,
    }
    if kind.startswith("agent"):
        result.update(asyncio.run(_check(url, prefix, conversations)))
    return result


async def _check(url: str, prefix: str, conversations: int) -> dict[str, float]:
    async with Bus.from_url(url, source="bench", settings=_bus_settings(prefix)) as bus:
        sent = await bus.redis.xlen(bus.keys.stream("message.sent"))
        qualified = await bus.redis.xlen(bus.keys.stream("lead.qualified"))
        created = await bus.redis.xlen(bus.keys.stream("lead.created"))
    if (sent, qualified, created) != (conversations * len(SCRIPT), conversations, conversations):
        raise SystemExit(f"agent output wrong: sent={sent} qualified={qualified} created={created}")
    return {}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--concurrency", type=int, default=_default_concurrency())
    parser.add_argument(
        "--drain", action="store_true", help="publish everything first, then time the consumer"
    )
    parser.add_argument(
        "--handlers",
        default=DEFAULT_HANDLERS,
        help=f"comma-separated, of {', '.join(HANDLERS)} (noop and reply are always run: ratios need them)",
    )
    args = parser.parse_args()
    kinds = ["noop", "reply", *(k for k in args.handlers.split(",") if k not in ("noop", "reply"))]
    if unknown := set(kinds) - set(HANDLERS):
        parser.error(f"unknown handlers: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        url = args.redis_url
        if not url:
            server = RedisServer(Path(tmp)).start()
            url = server.url
        try:
            results: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
            for _ in range(args.runs):
                for kind in kinds:
                    results[kind].append(
                        run_once(kind, url, args.conversations, args.concurrency, drain=args.drain)
                    )
        finally:
            if server is not None:
                server.kill()
    med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in results.items()}
    print(f"agent-runtime, rules mode: {args.conversations} conversations × {len(SCRIPT)} messages, "
          f"concurrency {args.concurrency}, {args.runs} runs each, medians"
          f"{', drained (consumer timed alone)' if args.drain else ''}")  # fmt: skip
    print(
        f"{'handler':<10}{'conv/s':>10}{'msg/s':>10}{'seconds':>10}{'consumer CPU s':>16}"
        f"{'CPU µs/msg':>12}{'× no-op':>9}{'× reply':>9}"
    )
    for kind in kinds:
        m = med[kind]
        ratio = m["conversations_s"] / med["noop"]["conversations_s"]
        to_reply = m["conversations_s"] / med["reply"]["conversations_s"]
        print(
            f"{kind:<10}{m['conversations_s']:>10.1f}{m['messages_s']:>10.0f}{m['seconds']:>10.2f}"
            f"{m['consumer_cpu_s']:>16.2f}{m['cpu_us_per_message']:>12.1f}{ratio:>9.2f}{to_reply:>9.2f}"
        )


def _default_concurrency() -> int:
    from agent_runtime.settings import Settings

    return int(Settings.model_fields["concurrency"].default)


if __name__ == "__main__":
    main()
