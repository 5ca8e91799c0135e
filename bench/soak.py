"""Steady conversations through the whole system for minutes: memory per process, Redis per message, latency per
window (``bench/_system.py`` starts the system as ``make run`` does).

    uv run python bench/soak.py                               # 3 minutes at 20 turns/s, 30-second windows
    uv run python bench/soak.py --minutes 30 --remembered-leads 4096    # the long run (docs/benchmarks.md)

Each window is an open-loop phase of ``whatsapp_turn.py`` (new leads writing the six-message script, one
message every ``--gap`` seconds). After each window: RSS of every process (/proc), Redis ``used_memory`` and
keys. At the end, every key of the bus prefix is put in a *family* (its name with ids replaced by ``*``), and
each family's bytes are ``MEMORY USAGE`` sampled on up to ``--samples`` keys (every stream entirely) times its
key count: bytes and keys per message are the growth from before the first window, over the messages sent.

A process has reached its plateau when its RSS grows by less than ``--plateau`` MB over the last third of
the windows (Redis is expected to grow: it holds 8 days). agent-runtime keeps ``AGENT_REMEMBERED_LEADS`` leads
in memory (4,096 by default: ~20 minutes of new leads at 20 turns/s): the short default run sets it to
``--remembered-leads`` 256 so that the cache fills in the first windows, and says so. fake Evolution keeps
every send it received (by design: tests read them) and grows; it is not part of the product.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _system
from _tables import Table, render
from evolution_webhooks import pct
from whatsapp_turn import phase

_ID = re.compile(r"^(evt|cor|cmp|lead|deal|ctr|ins|wbk|key)_|\d{3,}|^[0-9A-Z]{20,}$|^[0-9a-f-]{16,}$|@")


def family(key: str) -> str:
    """The key's name with its ids replaced: ``{wb:message.received}:processed:agent-runtime`` stays,
    ``wb:agent:answer:evt_01…`` becomes ``wb:agent:answer:*``. A group's processed ids are one family whatever
    holds them: its sorted set, its time buckets (``…:processed:agent-runtime:01M98PA``, a name no id pattern
    catches), their index and count (``eventbus.idempotency``)."""
    parts = key.split(":")
    if "processed" in parts[1:]:
        at = parts.index("processed", 1)
        return ":".join(parts[: at + 2])
    return ":".join("*" if i and _ID.search(p) else p for i, p in enumerate(parts))


def families(r: redis.Redis, samples: int) -> dict[str, dict[str, float]]:
    """keys and (sampled) bytes per family, on every key of the server."""
    names: dict[str, list[str]] = {}
    for raw in r.scan_iter(count=1000):
        key = raw.decode(errors="replace")
        names.setdefault(family(key), []).append(key)
    out = {}
    for fam, keys in names.items():
        picked = keys[:samples]
        sizes, ttls = [], []
        for key in picked:
            kind = r.type(key).decode()
            size = r.memory_usage(key, samples=0 if kind == "stream" else 5)
            sizes.append(int(size or 0))
            ttls.append(int(r.pttl(key)))
        mean = sum(sizes) / len(sizes) if sizes else 0.0
        ttl = max(ttls) / 1000 if ttls and min(ttls) >= 0 else -1.0  # -1: no TTL on some key
        out[fam] = {"keys": float(len(keys)), "bytes": mean * len(keys), "ttl": ttl}
    return out


def snapshot(system: _system.System, r: redis.Redis) -> dict[str, Any]:
    info = r.info("memory")
    return {"rss": system.rss(), "used": int(info["used_memory"]), "keys": int(r.dbsize())}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--window", type=float, default=30.0, help="seconds per window")
    parser.add_argument("--rate", type=float, default=20.0, help="turns per second")
    parser.add_argument("--gap", type=float, default=2.0, help="seconds between two messages of one lead")
    parser.add_argument(
        "--remembered-leads", type=int, default=256, help="AGENT_REMEMBERED_LEADS for the run"
    )
    parser.add_argument("--samples", type=int, default=200, help="keys sampled with MEMORY USAGE per family")
    parser.add_argument("--plateau", type=float, default=2.0, help="MB over the last third: a plateau")
    parser.add_argument(
        "--settle",
        type=float,
        default=35.0,
        help="seconds to wait after the last window before counting the key families: agent-runtime cuts a "
        "lead's last answer down AGENT_CUT_AFTER (30 s) after publishing it, so what is whole at any moment is "
        "a fixed ~rate x 30 s of answers, not a cost per message",
    )
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    env = {"AGENT_REMEMBERED_LEADS": str(args.remembered_leads)}
    windows = max(1, round(args.minutes * 60 / args.window))
    rows: list[dict[str, Any]] = []
    with _system.running(env) as system:
        r = redis.Redis.from_url(system.redis_url)
        phase(system, args.rate, 5.0, args.gap, 32)  # warm-up: imports, scripts, first leads
        start, fam0 = snapshot(system, r), families(r, args.samples)
        messages = 0
        for n in range(windows):
            result = phase(system, args.rate, args.window, args.gap, 32)
            messages += result["requests"]
            rows.append(result | snapshot(system, r) | {"messages": messages})
            print(
                f"  window {n + 1}/{windows}: turn p99 {pct(result['turns'] or [0.0], 0.99):.1f} ms, "
                f"redis {rows[-1]['used'] / 1e6:.1f} MB, {rows[-1]['keys']:,} keys",
                flush=True,
            )
        time.sleep(args.settle)
        fam1 = families(r, args.samples)
        r.close()
    print(render(tables(args, start, rows, fam0, fam1, messages), markdown=args.markdown))
    print(
        f"AGENT_REMEMBERED_LEADS={args.remembered_leads}; run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )


def tables(
    args: argparse.Namespace,
    start: dict[str, Any],
    rows: list[dict[str, Any]],
    fam0: dict[str, dict[str, float]],
    fam1: dict[str, dict[str, float]],
    messages: int,
) -> list[Table]:
    win = Table(
        f"Soak at {args.rate:g} turns/s, {args.window:g}-second windows",
        ["window", "messages", "turn p50 ms", "turn p99 ms", "unanswered", "Redis MB", "keys", "B per msg"],
    )
    for n, row in enumerate(rows):
        win.rows.append(
            [
                f"{n + 1}",
                f"{row['messages']:,}",
                f"{pct(row['turns'] or [0.0], 0.5):.1f}",
                f"{pct(row['turns'] or [0.0], 0.99):.1f}",
                f"{row['unanswered']:,}",
                f"{row['used'] / 1e6:.1f}",
                f"{row['keys']:,}",
                f"{(row['used'] - start['used']) / row['messages']:,.0f}",
            ]
        )
    names = sorted(start["rss"])
    third = max(1, len(rows) // 3)
    rss = Table(
        "RSS per process, MB (start, then after each window; growth over the last third)",
        ["process", "start", *(f"w{n + 1}" for n in range(len(rows))), "last third", "plateau"],
    )
    for name in names:
        series = [row["rss"].get(name, 0) / 1e6 for row in rows]
        growth = (
            series[-1] - series[-1 - third] if len(series) > third else series[-1] - start["rss"][name] / 1e6
        )
        rss.rows.append(
            [
                name,
                f"{start['rss'][name] / 1e6:.1f}",
                *(f"{v:.1f}" for v in series),
                f"{growth:+.1f}",
                "yes" if growth < args.plateau else "no",
            ]
        )
    fam = Table(
        f"Redis per message by key family ({messages:,} messages; MEMORY USAGE, up to {args.samples} keys sampled)",
        ["family", "keys", "keys per msg", "B per msg", "TTL"],
    )
    total_b = total_k = 0.0
    for name in sorted(fam1, key=lambda f: -(fam1[f]["bytes"] - fam0.get(f, {}).get("bytes", 0.0))):
        d_bytes = fam1[name]["bytes"] - fam0.get(name, {}).get("bytes", 0.0)
        d_keys = fam1[name]["keys"] - fam0.get(name, {}).get("keys", 0.0)
        total_b += d_bytes
        total_k += d_keys
        fam.rows.append(
            [
                name,
                f"{fam1[name]['keys']:,.0f}",
                f"{d_keys / messages:.2f}",
                f"{d_bytes / messages:,.0f}",
                _ttl(fam1[name]["ttl"]),
            ]
        )
    fam.rows.append(["all", "", f"{total_k / messages:.2f}", f"{total_b / messages:,.0f}", ""])
    return [win, rss, fam]


def _ttl(seconds: float) -> str:
    if seconds < 0:
        return "none"
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f} d"
    return f"{seconds / 3600:.1f} h"


if __name__ == "__main__":
    main()
