"""Writes the conversation-quality corpus, ``bench/data/agent_quality.jsonl``: whole conversations in Brazilian
Portuguese as leads write them on WhatsApp, each with what the lead meant and what the agent should do.

    uv run python bench/agent_quality_corpus.py [--seed 21] [--conversations 360]

The expectations come from each conversation's own facts (the event the lead has in mind), never from the
agent's rules: a phrase says a date, the fact *is* that date. Wordings come in two pools: ``dev`` (what the
rules were developed against) and ``held_out`` (written separately, never looked at while changing the rules);
every conversation draws its wordings from one pool only, and the split is the pool.

Today is Tuesday 16 December 2025 (as in the service's tests).
"""

from __future__ import annotations

import argparse
import json
import random
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "data" / "agent_quality.jsonl"
TODAY = date(2025, 12, 16)
MONTHS = ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
          "novembro", "dezembro"]  # fmt: skip
WORDS = {30: "trinta", 40: "quarenta", 50: "cinquenta", 60: "sessenta", 80: "oitenta", 100: "cem",
         120: "cento e vinte", 150: "cento e cinquenta", 200: "duzentos", 250: "duzentos e cinquenta",
         300: "trezentos"}  # fmt: skip
EVENTS = {
    "casamento": {"dev": ["vou casar", "é um casamento", "casamento"], "held_out": ["meu casório", "vamos nos casar"]},
    "festa de 15 anos": {
        "dev": ["festa de 15 anos", "15 anos da minha filha"],
        "held_out": ["debutante da minha filha"],
    },
    "aniversário": {"dev": ["aniversário", "niver do meu marido"], "held_out": ["aniversario de 50 anos da minha mae"]},
    "formatura": {"dev": ["formatura"], "held_out": ["festa de formatura da turma"]},
    "evento corporativo": {"dev": ["confraternização da empresa"], "held_out": ["festa de fim de ano da firma"]},
    "chá de bebê": {"dev": ["chá de bebê"], "held_out": ["cha de bebe da minha irma"]},
    "batizado": {"dev": ["batizado"], "held_out": ["batizado do meu filho"]},
}  # fmt: skip
CITIES = ["Campinas", "São Paulo", "Jundiaí", "Santos", "Curitiba", "Sorocaba", "Ribeirão Preto", "Valinhos"]
GREETINGS = {
    "dev": ["Oi, boa tarde!", "oi td bem? qria um orcamento pfv", "Olá, gostaria de um orçamento"],
    "held_out": ["bom diaa", "ola, vi o anuncio de vcs", "Boa noite! Tudo bem?"],
}
QUESTIONS = {
    "dev": {
        "price": ["qual o valor?", "qto fica?", "quanto custa?"],
        "included": ["o que está incluso?"],
        "menu": ["tem cardápio?"],
        "payment": ["aceitam cartão?", "da pra parcelar?"],
        "address": ["qual o endereço de vcs?"],
        "hours": ["qual o horário de atendimento?"],
        "scam": ["isso é golpe?"],
        "robot": ["vc é robô?"],
    },
    "held_out": {
        "price": ["e o preço?", "quanto vcs cobram?", "me passa os valores pfv"],
        "included": ["o que vem no pacote?"],
        "menu": ["como é o cardapio?"],
        "payment": ["como funciona o pagamento?"],
        "address": ["onde vcs ficam?"],
        "hours": ["que horas vcs abrem?"],
        "scam": ["vcs sao confiaveis?"],
        "robot": ["to falando com um robo?"],
    },
}


def _no_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _date_phrase(rng: random.Random, day: date, pool: str) -> str:
    month = MONTHS[day.month - 1]
    if pool == "dev":
        options = [f"{day.day:02d}/{day.month:02d}", f"{day.day} de {month}", f"dia {day.day} de {month}"]
    else:
        options = [
            f"dia {day.day}/{day.month}",
            f"{day.day} de {_no_accents(month)}",
            f"{day.day}.{day.month:02d}",
        ]
    return rng.choice(options)


def _guest_phrase(rng: random.Random, guests: int, pool: str) -> tuple[str, str]:
    """A guest count as said, and the category it exercises."""
    if pool == "dev":
        options = [
            (f"{guests} pessoas", "digits"),
            (f"uns {guests} convidados", "approximate"),
            (f"{WORDS.get(guests, str(guests))} convidados", "number words"),
        ]
        if guests >= 60:
            adults = guests - 20
            options.append((f"vão ser {adults} adultos e 20 crianças", "groups"))
    else:
        options = [
            (f"somos {guests}", "digits"),
            (f"mais ou menos {guests} pessoas", "approximate"),
            (f"umas {WORDS.get(guests, str(guests))} pessoas", "number words"),
        ]
        if guests >= 60:
            options.append((f"{guests - 10} adultos + 10 criancas", "groups"))
    return rng.choice(options)


def _budget_phrase(rng: random.Random, thousands: int, pool: str) -> tuple[str, tuple[int, int]]:
    value = thousands * 1000
    if pool == "dev":
        options = [(f"R$ {thousands} mil", (value, value)), (f"{thousands}k", (value, value)),
                   (f"orçamento de {thousands}.000", (value, value)),
                   (f"entre {thousands - 5} e {thousands} mil", ((thousands - 5) * 1000, value))]  # fmt: skip
    else:
        options = [(f"uns {thousands} mil reais", (value, value)), (f"ate {thousands} mil", (None, value)),
                   (f"pensamos em {thousands} mil", (value, value))]  # fmt: skip
    return rng.choice(options)  # type: ignore[return-value]


def conversation(rng: random.Random, number: int, pool: str) -> dict[str, Any]:
    event = rng.choice(list(EVENTS))
    day = date(2026, rng.randint(2, 11), rng.randint(1, 28))
    guests = rng.choice([30, 40, 50, 60, 80, 100, 120, 150, 200, 250, 300])
    city = rng.choice(CITIES)
    thousands = max(10, guests * rng.choice([150, 200, 250]) // 1000)
    facts: dict[str, Any] = {"event_type": event, "date": day.isoformat(), "guests": guests, "location": city}
    categories = {"whole conversation"}
    turns: list[dict[str, Any]] = [{"text": rng.choice(GREETINGS[pool]), "expect": "greeting"}]
    event_text = rng.choice(EVENTS[event][pool])
    date_text = _date_phrase(rng, day, pool)
    guest_text, guest_category = _guest_phrase(rng, guests, pool)
    categories.add(guest_category)
    budget_text, budget = _budget_phrase(rng, thousands, pool)
    facts["budget"] = list(budget)
    city_text = rng.choice(
        [f"em {city}", f"vai ser em {city}", city] if pool == "dev" else [f"aqui em {city}", f"la em {city}"]
    )
    style = rng.choice(["one by one", "all at once", "two at a time"])
    categories.add(style)
    if style == "all at once":
        turns.append(
            {
                "text": f"{event_text} {date_text}, {guest_text}, {city_text}, {budget_text}",
                "expect": "record",
            }
        )
    elif style == "two at a time":
        turns.append({"text": f"{event_text} {date_text}", "expect": "record"})
        turns.append({"text": f"{guest_text} {city_text}", "expect": "record"})
        turns.append({"text": budget_text, "expect": "record"})
    else:
        turns += [
            {"text": t, "expect": "record"}
            for t in (event_text, date_text, guest_text, city_text, budget_text)
        ]
    twist = rng.choice(
        ["none", "question", "question", "correction", "typo month", "partial", "slang", "unknown budget"]
    )
    if twist == "question":
        topic = rng.choice(list(QUESTIONS[pool]))
        turns.insert(
            rng.randint(1, len(turns) - 1),
            {"text": rng.choice(QUESTIONS[pool][topic]), "expect": "answer", "topic": topic},
        )
        categories.add("question")
    elif twist == "correction" and style == "one by one":
        wrong = guests + 30
        i = next(i for i, t in enumerate(turns) if t["text"] == guest_text)
        turns[i] = {"text": f"{wrong} pessoas", "expect": "record", "provisional": {"guests": wrong}}
        turns.insert(
            i + 1,
            {
                "text": rng.choice([f"na verdade são {guests}", f"corrigindo: {guests} pessoas"]),
                "expect": "record",
            },
        )
        categories.add("correction")
    elif twist == "typo month" and style == "one by one":
        i = next(i for i, t in enumerate(turns) if t["text"] == date_text)
        turns[i] = {"text": f"dia {day.day} d {MONTHS[day.month - 1]}", "expect": "ask back", "slot": "date"}
        turns.insert(i + 1, {"text": rng.choice(["sim", "isso", "isso mesmo"]), "expect": "record"})
        categories.add("ask back")
    elif twist == "partial" and style == "one by one" and guests >= 60:
        i = next(i for i, t in enumerate(turns) if t["text"] == guest_text)
        turns[i] = {"text": f"uns {guests - 20} mais as crianças", "expect": "ask back", "slot": "guests"}
        turns.insert(i + 1, {"text": "umas 20", "expect": "record"})
        categories.add("ask back")
    elif twist == "slang":
        turns = [dict(t, text=_no_accents(t["text"]).lower().replace("você", "vc")) for t in turns]
        categories.add("no accents")
    elif twist == "unknown budget" and style == "one by one":
        turns[-1] = {
            "text": rng.choice(["não sei ainda o orçamento", "ainda nao defini o valor"]),
            "expect": "unknown",
            "slot": "budget",
        }
        facts["budget"] = None
        categories.add("unknown")
    return {
        "id": f"{pool}-{number:04d}",
        "split": pool,
        "categories": sorted(categories),
        "facts": facts,
        "qualifies": facts["budget"] is not None,
        "turns": turns,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--conversations", type=int, default=360)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    OUT.parent.mkdir(exist_ok=True)
    with OUT.open("w", encoding="utf-8") as out:
        for n in range(args.conversations):
            pool = "held_out" if n % 4 == 3 else "dev"  # a quarter held out
            out.write(json.dumps(conversation(rng, n, pool), ensure_ascii=False) + "\n")
    print(f"wrote {args.conversations} conversations to {OUT}")


if __name__ == "__main__":
    main()
