"""The rules' CPU per message: process time of ``extract`` + ``advance`` over ``agent_conversations``' script.

    uv run python bench/agent_rules_cpu.py [--conversations 3000] [--repeat 5]

No Redis, no network: only what the rules cost, the part of a message this repo's rule modules own. Prints the
best of ``--repeat`` runs (the least disturbed by other processes on a shared machine), in µs per message. To
compare with another checkout, run it with that checkout's sources first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import time
from datetime import date

from agent_conversations import SCRIPT
from agent_runtime.conversation import Conversation, advance
from agent_runtime.qualification import Rules
from agent_runtime.slots import extract

TODAY = date(2025, 12, 16)


def once(conversations: int) -> float:
    rules = Rules()
    start = time.process_time()
    for _ in range(conversations):
        state = Conversation()
        for text in SCRIPT:
            found = extract(text, today=TODAY, expecting=state.asked, month_hint=state.month_hint)
            state = advance(state, found, rules=rules, today=TODAY).conversation
    return (time.process_time() - start) / (conversations * len(SCRIPT))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    once(100)  # warm: compiled patterns, caches
    best = min(once(args.conversations) for _ in range(args.repeat))
    print(
        f"rules: {best * 1e6:.1f} µs CPU per message (best of {args.repeat} × {args.conversations} conversations)"
    )


if __name__ == "__main__":
    main()
