"""Any message is read in bounded time (issue #20, finding 2): a WhatsApp text can be 65,536 characters, and
the rules run on the event loop, so one slow message would stall every lead of the process and, its lease
lapsing, the replica that picks it up next.

Times are CPU time of this process (``time.process_time``), the best of three runs: a loaded machine slows
the wall clock, not the work done.
"""

from __future__ import annotations

import random
import time
from datetime import date

import pytest
from agent_runtime.slots import extract
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

TODAY = date(2025, 12, 16)
WHATSAPP_MAX = 65_536


def _cpu(text: str, **kwargs: object) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        extract(text, today=TODAY, **kwargs)  # type: ignore[arg-type]
        best = min(best, time.process_time() - start)
    return best


def _digits_and_separators(seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("0123456789.,/-: ") for _ in range(WHATSAPP_MAX))


CORPUS = {
    "1.": ("1." * WHATSAPP_MAX)[:WHATSAPP_MAX],
    "1,": ("1," * WHATSAPP_MAX)[:WHATSAPP_MAX],
    "12/": ("12/" * WHATSAPP_MAX)[:WHATSAPP_MAX],
    "1 . ": ("1 . " * WHATSAPP_MAX)[:WHATSAPP_MAX],
    "digits": "7" * WHATSAPP_MAX,
    "random 1": _digits_and_separators(1),
    "random 2": _digits_and_separators(2),
}


@pytest.mark.parametrize("text", CORPUS.values(), ids=CORPUS.keys())
def test_a_whatsapp_sized_message_of_digits_and_separators_is_read_in_50_ms(text):
    # Today's rules read it in ~3 ms: the margin is for a slow CI machine; the quadratic patterns took seconds.
    assert _cpu(text) <= 0.05


# The shapes that made the old patterns backtrack: a number-like run repeated, inside arbitrary text.
_FRAGMENTS = st.text(alphabet="0123456789.,/-: $rkmilesa", min_size=1, max_size=4)
_WORDS = st.sampled_from(["", " pessoas", " mil", " reais", " de ", " e ", " para ", " dia "])


# No shrinking: each example is a few characters repeated, readable as found, and shrinking slow ones takes minutes.
@settings(
    max_examples=20,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
@given(fragment=_FRAGMENTS, glue=_WORDS, head=st.text(max_size=30), tail=_WORDS)
def test_the_rules_are_linear_on_long_adversarial_text(fragment, glue, head, tail):
    """Uncapped: the patterns themselves are bounded, the cap only keeps the constant small."""
    unit = fragment + glue
    text = head + unit * (40_000 // len(unit)) + tail
    # Linear: ~0.1 s for 40k characters; a quadratic pattern takes several seconds on this.
    assert _cpu(text, limit=None) <= 0.75
