"""A WhatsApp turn end to end: a lead's webhook in at evolution-manager → the agent's ``sendText`` at fake Evolution,
through all five services and Redis as ``make run`` starts them (``bench/_system.py``).

    uv run python bench/whatsapp_turn.py                       # 20, 50, 100 turns/s, 20 s each, ~3 minutes
    uv run python bench/whatsapp_turn.py --rates 50 --seconds 5   # smoke run

Leads write the agent benchmark's six-message script (greeting → qualified), one message every ``--gap`` seconds,
``rate × gap`` leads at once, new leads taking over as conversations end: every lead is new (``lead.created``,
backoffice-api's lead, the Conversions API's Lead and QualifiedLead events all happen, as they would).

Open loop: message *i* of a phase is due at ``t0 + i/rate`` and both latencies count from then, so a slow answer
delays nothing that follows it (no coordinated omission). The load generator is the HTTP/1.1 one of
``evolution_webhooks.py``, in its own process, bodies built before the clock starts.

- *webhook*: until evolution-manager's 200 (the event durably on the bus);
- *turn*: until fake Evolution received the first ``sendText`` to that lead at or after the due time. A message
  with none is *unanswered* (the agent answers a lead's messages that arrive together once; with a ``--gap``
  of seconds it should not happen).

CPU per turn is every process's user+system CPU over the phase (from ``go`` until the last answer arrived, /proc):
the five services, the three fakes, Redis and the ``wolfgang`` supervisor; the load generator is apart. *Run-queue
wait* is the time those processes' main threads were ready to run but had no core (``/proc/<pid>/schedstat``):
when it is of the order of the turn's latency, CPU contention is what bounds it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sys
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _system
from _noise import machine_busy
from _tables import Table, render
from evolution_webhooks import _connect, _paced, pct


def load_main(conn: Connection, port: int, bodies: list[bytes], rate: float, connections: int) -> None:
    conn.send(asyncio.run(_load(conn, port, bodies, rate, connections)))


async def _load(
    conn: Connection, port: int, bodies: list[bytes], rate: float, connections: int
) -> dict[str, Any]:
    pool = await _connect(port, connections)
    conn.send("ready")
    conn.recv()
    cpu0 = time.process_time()
    try:
        result = await _paced(pool, bodies, rate)
    finally:
        for c in pool:
            c.writer.close()
    return result | {"loader_cpu": time.process_time() - cpu0}


def settle(system: _system.System, before: int, expected: int, longest: float = 15.0) -> list[dict[str, Any]]:
    """Wait until every message's answer arrived (or nothing new came for 2 s); the sends since ``before``."""
    deadline = time.monotonic() + longest
    last, quiet_since = -1, time.monotonic()
    while True:
        sent = system.sent(before)
        if len(sent) != last:
            last, quiet_since = len(sent), time.monotonic()
        if len(sent) >= expected or time.monotonic() - quiet_since > 2.0 or time.monotonic() > deadline:
            return sent
        time.sleep(0.25)


def phase(
    system: _system.System, rate: float, seconds: float, gap: float, connections: int
) -> dict[str, Any]:
    run = f"{time.monotonic_ns() % 1_000_000:06d}"
    plan = _system.turns(int(rate * seconds), rate, gap, run)
    before = len(system.sent())
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    loader = ctx.Process(
        target=load_main, args=(child, system.webhook_port, [t.body for t in plan], rate, connections)
    )
    loader.start()
    assert parent.recv() == "ready"
    cpu0, busy0, w0, waited0 = system.cpu(), machine_busy(), time.monotonic(), system.waited()
    parent.send("go")
    result: dict[str, Any] = parent.recv()
    loader.join()
    sent = settle(system, before, len(plan))
    cpu1, busy1, w1, waited1 = system.cpu(), machine_busy(), time.monotonic(), system.waited()
    latencies, missing = _system.turn_latencies(plan, result["t0"], rate, sent)
    by_process = {name: cpu1[name] - cpu0.get(name, cpu1[name]) for name in cpu1}
    ours = sum(by_process.values()) + result["loader_cpu"]
    return result | {
        "rate": rate,
        "turns": latencies,
        "unanswered": missing,
        "sends": len(sent),
        "cpu": by_process,
        "waited": sum(waited1[n] - waited0.get(n, waited1[n]) for n in waited1),
        "others": max(0.0, busy1 - busy0 - ours) / (w1 - w0),
        "cores": sum(by_process.values()) / (w1 - w0),
    }


def tables(results: list[dict[str, Any]], args: argparse.Namespace) -> list[Table]:
    turn = Table(
        f"A WhatsApp turn, webhook → sendText, whole system (open loop, {args.seconds:g} s per rate, "
        f"a lead's message every {args.gap:g} s)",
        [
            "turns/s",
            "achieved",
            "webhook p50 ms",
            "webhook p99 ms",
            "turn p50 ms",
            "turn p99 ms",
            "turn max ms",
            "unanswered",
            "not 200",
            "CPU ms per turn",
            "system cores",
            "others' cores",
            "run-queue wait ms per turn",
        ],
    )
    for r in results:
        lat = r["turns"] or [float("nan")]
        turn.rows.append(
            [
                f"{r['rate']:g}",
                f"{r['achieved']:,.1f}",
                f"{pct(r['latencies'], 0.5):.1f}",
                f"{pct(r['latencies'], 0.99):.1f}",
                f"{pct(lat, 0.5):.1f}",
                f"{pct(lat, 0.99):.1f}",
                f"{max(lat) * 1000:.1f}",
                f"{r['unanswered']:,}",
                f"{sum(n for code, n in r['statuses'].items() if code != 200):,}",
                f"{sum(r['cpu'].values()) / r['requests'] * 1000:.2f}",
                f"{r['cores']:.2f}",
                f"{r['others']:.2f}",
                f"{r['waited'] / r['requests'] * 1000:.2f}",
            ]
        )
    names = sorted({n for r in results for n in r["cpu"]}, key=lambda n: -results[0]["cpu"].get(n, 0.0))
    cpu = Table(
        "CPU per turn by process, ms (user + system, /proc)",
        ["process", *(f"{r['rate']:g}/s" for r in results)],
    )
    for name in names:
        cpu.rows.append([name, *(f"{r['cpu'].get(name, 0.0) / r['requests'] * 1000:.2f}" for r in results)])
    return [turn, cpu]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="20,50,100", help="turns per second, one phase each")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--gap", type=float, default=2.0, help="seconds between two messages of one lead")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds at the first rate, not counted")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections of the generator")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument(
        "--profile",
        type=Path,
        help="directory: every service runs under cProfile and writes <service>.prof there when stopped "
        "(PROFILE_DIR, servicekit.profiling); times are inflated, read the shares",
    )
    parser.add_argument(
        "--timeline",
        type=Path,
        help="JSON file: each phase's turn latencies in due order (message i due at i/rate s), to tell a "
        "stall (slow turns bunched in time) from a queue (spread)",
    )
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    results = []
    env = {"PROFILE_DIR": str(args.profile.resolve())} if args.profile else None
    with _system.running(env) as system:
        print(f"system up (port offset {system.offset}); processes: {', '.join(sorted(system.processes()))}")
        if args.warmup > 0:
            phase(system, rates[0], args.warmup, args.gap, args.connections)
        for rate in rates:
            r = phase(system, rate, args.seconds, args.gap, args.connections)
            print(
                f"  {rate:g}/s: turn p99 {pct(r['turns'] or [0.0], 0.99):.1f} ms, "
                f"{r['unanswered']} unanswered, others {r['others']:.2f} cores",
                flush=True,
            )
            results.append(r)
    print(render(tables(results, args), markdown=args.markdown))
    if args.timeline:
        args.timeline.write_text(
            json.dumps(
                [{"rate": r["rate"], "unanswered": r["unanswered"], "turns": r["turns"]} for r in results]
            )
        )
    codes: dict[int, int] = {}
    for r in results:
        for code, n in r["statuses"].items():
            codes[code] = codes.get(code, 0) + n
    print(f"webhook answers: {codes}")
    print(
        f"run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f}, Python {sys.version.split()[0]}"
    )


if __name__ == "__main__":
    main()
