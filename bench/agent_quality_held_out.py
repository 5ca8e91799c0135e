"""Writes an independent held-out corpus, ``bench/data/agent_quality_held_out.jsonl``, in the format of
``bench/agent_quality_corpus.py`` (read by ``bench/agent_quality.py``).

    uv run python bench/agent_quality_held_out.py [--seed 2124] [--conversations 150] [--split held_out_independent]

Written by someone who had not read the agent's rules (slots, questions, vocabulary): only the corpus format
and the data types the benchmark compares. The wordings are what leads send on WhatsApp — typos, slang, vc/qto/pfv,
no accents, audio transcripts without punctuation, numbers in words, relative and partial dates, several slots in
one message, corrections, questions mixed with answers — and the expectations come from the lead's facts only.

Today is Tuesday 16 December 2025, as in the benchmark. ``--split`` names a fresh batch written later with the
``fresh`` pool only (the check that tuning did not overfit this corpus).
"""

from __future__ import annotations

import argparse
import json
import random
import unicodedata
from datetime import date, timedelta
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "data" / "agent_quality_held_out.jsonl"
TODAY = date(2025, 12, 16)
MONTHS = ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
          "novembro", "dezembro"]  # fmt: skip
SHORT_MONTHS = ["jan", "fev", "mar", "abr", "mai", "jun", "jul", "ago", "set", "out", "nov", "dez"]
WEEKDAYS = ["segunda", "terça", "quarta", "quinta", "sexta", "sábado", "domingo"]
DAY_WORDS = {1: "primeiro", 2: "dois", 3: "três", 5: "cinco", 7: "sete", 10: "dez", 12: "doze", 15: "quinze",
             20: "vinte", 21: "vinte e um", 25: "vinte e cinco", 28: "vinte e oito", 30: "trinta"}  # fmt: skip
NUMBER_WORDS = {30: "trinta", 40: "quarenta", 50: "cinquenta", 60: "sessenta", 70: "setenta", 80: "oitenta",
                90: "noventa", 100: "cem", 120: "cento e vinte", 150: "cento e cinquenta", 180: "cento e oitenta",
                200: "duzentas", 250: "duzentas e cinquenta", 300: "trezentas"}  # fmt: skip
THOUSAND_WORDS = {8: "oito", 10: "dez", 12: "doze", 15: "quinze", 18: "dezoito", 20: "vinte", 25: "vinte e cinco",
                  30: "trinta", 40: "quarenta", 50: "cinquenta"}  # fmt: skip

# Two pools: ``held_out`` for the corpus written before reading the rules, ``fresh`` for the batch written after
# tuning. Each conversation draws from one pool.
EVENTS: dict[str, dict[str, list[str]]] = {
    "casamento": {
        "held_out": ["meu casamento", "to organizando meu casamento", "casamento da minha filha", "nosso casamento"],
        "fresh": ["a gente vai casar", "o casamento do meu filho", "cerimonia e festa de casamento"],
    },
    "festa de 15 anos": {
        "held_out": ["festa de 15 anos", "os 15 anos da minha filha", "festa de debutante", "aniversario de 15 anos"],
        "fresh": ["festa de quinze anos da minha neta", "debutante"],
    },
    "aniversário": {
        "held_out": ["niver de 40 anos", "festa de aniversario", "aniversário do meu esposo", "niver da minha mae"],
        "fresh": ["aniversario de 60 anos do meu pai", "festa de niver"],
    },
    "formatura": {
        "held_out": ["formatura", "festa de formatura", "formatura de direito da minha turma"],
        "fresh": ["baile de formatura"],
    },
    "evento corporativo": {
        "held_out": ["evento da empresa", "confraternizacao da firma", "evento corporativo"],
        "fresh": ["festa de fim de ano da empresa", "evento corporativo pra clientes"],
    },
    "chá de bebê": {
        "held_out": ["cha de bebe", "chá de bebê da minha cunhada"],
        "fresh": ["um cha de bebe"],
    },
    "batizado": {
        "held_out": ["batizado do meu filho", "batizado", "batizado da minha sobrinha"],
        "fresh": ["o batizado da minha filha"],
    },
}  # fmt: skip
CITIES = ["Campinas", "Indaiatuba", "Jundiaí", "Valinhos", "Vinhedo", "São Paulo", "Sorocaba", "Itu", "Atibaia",
          "Americana", "Piracicaba", "Santos", "Ribeirão Preto", "Curitiba", "Belo Horizonte"]  # fmt: skip
GREETINGS = {
    "held_out": ["oii", "boa tarde", "Oi, tudo bem?", "ola bom dia", "Boa noite, vi o anúncio no insta",
                 "oi aqui é a Juliana, queria um orçamento", "bom dia! meu nome é Carlos", "oi gente td bom?",
                 "olá, gostaria de informações", "oi vcs fazem festa?"],
    "fresh": ["e ai, blz?", "oi, quero fazer um orcamento", "Boa tarde! Aqui é a Patrícia",
              "oi, vim pelo facebook"],
}  # fmt: skip
QUESTIONS: dict[str, dict[str, list[str]]] = {
    "held_out": {
        "price": ["qnto custa?", "qual o valor do pacote?", "e o valor?", "quanto fica mais ou menos?",
                  "tem tabela de preço?", "preço pfv", "quanto sai?", "qual o preço pra 100 pessoas?"],
        "included": ["o que ta incluso?", "inclui bebida?", "o pacote inclui decoração?", "oq vem incluido?"],
        "menu": ["qual o cardapio?", "vcs fazem churrasco?", "tem opção vegetariana?",
                 "quais as opções de comida?"],
        "cities": ["vcs atendem em Jundiaí?", "vcs vão até Atibaia?", "atendem fora de Campinas?",
                   "cobram deslocamento pra Itu?"],
        "availability": ["tem data livre em março?", "vcs tem disponibilidade dia 14/03?",
                         "ainda tem vaga pra outubro?", "a agenda de junho ta aberta?"],
        "payment": ["aceita pix?", "parcela no cartão?", "como é a forma de pagamento?", "precisa dar sinal?"],
        "address": ["onde fica o espaço?", "qual o endereço?", "vcs tem loja fisica?", "fica onde?"],
        "hours": ["vcs abrem sabado?", "ate que horas vcs atendem?", "qual horario de funcionamento?"],
        "scam": ["isso é golpe?", "é golpe?", "como sei que nao é golpe?", "vcs sao empresa seria?"],
        "robot": ["é robô?", "to falando com gente ou robo?", "isso é automatico?", "vc é uma pessoa de verdade?"],
    },
    "fresh": {
        "price": ["quanto vcs cobram por pessoa?", "qual o orçamento mínimo de vcs?", "valores?",
                  "mais ou menos qto ficaria?", "tem como me passar um valor?"],
        "included": ["o que vem no buffet?", "tem garçom incluso?",
                     "a louça e as mesas ja vem junto?"],
        "menu": ["quais pratos vcs servem?", "me manda o cardapio pfv", "tem opcao sem gluten?"],
        "cities": ["fazem evento em Sorocaba?", "vcs atendem a regiao de Piracicaba?",
                   "vcs viajam pra outras cidades?"],
        "availability": ["tem data em abril ainda?", "dia 20/06 ta livre?", "vcs ainda tem agenda pra maio?"],
        "payment": ["da pra dividir em 10x?", "aceitam boleto?", "qual o valor da entrada?"],
        "address": ["vcs ficam em que bairro?", "me manda a localização de vcs", "da pra visitar o espaço?"],
        "hours": ["vcs atendem domingo?", "que horario vcs funcionam?", "abre que horas amanha?"],
        "scam": ["vcs tem cnpj?", "é confiavel?", "nao é furada ne?"],
        "robot": ["é bot?", "quem ta falando é uma pessoa?", "vc é inteligencia artificial?"],
    },
}  # fmt: skip


# A second fresh pool of questions and greetings, written after the second round of rule changes was planned and
# before it was made: measured before and after it.
GREETINGS["fresh2"] = ["opa boa noite", "Olá! Meu nome é Renata", "oi oi, td certo?"]
QUESTIONS["fresh2"] = {
    "price": ["quanto ta saindo por cabeça?", "qual a faixa de preço de vcs?", "tem promoção?"],
    "included": ["vcs levam as mesas e cadeiras?", "a bebida ta inclusa no valor?"],
    "menu": ["o que vcs servem de entrada?", "tem opçao kids no cardapio?"],
    "cities": ["vcs vão ate Jundiaí?", "atendem em outras cidades?"],
    "availability": ["tem horario livre no dia 15/08?", "ainda tem data pra setembro?"],
    "payment": ["posso pagar parcelado?", "aceitam transferencia?"],
    "address": ["qual o endereço do salão?", "vcs ficam perto do centro?"],
    "hours": ["vcs funcionam no feriado?", "qual o horario de vcs?"],
    "scam": ["como eu sei que vcs existem mesmo?", "é seguro fechar com vcs?"],
    "robot": ["é uma maquina respondendo?", "to falando com robo ou gente?"],
}


def plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def date_phrase(rng: random.Random, day: date, pool: str) -> tuple[str, str]:
    """A date as a lead writes it, and the category it exercises."""
    month = MONTHS[day.month - 1]
    weekday = WEEKDAYS[day.weekday()]
    options = [
        (f"dia {day.day}/{day.month:02d}", "digits"),
        (f"{day.day}/{day.month}", "digits"),
        (f"{day.day} de {plain(month)}", "no accents"),
        (f"dia {day.day} de {month} de {day.year}", "digits"),
        (f"{weekday} dia {day.day} de {month}", "weekday"),
        (f"{day.day} {SHORT_MONTHS[day.month - 1]}", "abbreviation"),
    ]
    if pool in {"fresh", "fresh2"}:
        options = [
            (f"{day.day:02d}/{day.month:02d}/{day.year % 100}", "digits"),
            (f"no dia {day.day} de {month}", "digits"),
            (f"{plain(weekday)}, {day.day} de {plain(month)}", "weekday"),
        ]
    if day.day in DAY_WORDS:
        options.append((f"dia {DAY_WORDS[day.day]} de {month}", "number words"))
    return rng.choice(options)


def relative_date(rng: random.Random) -> tuple[str, date]:
    """A date said relative to today (Tuesday 16 December 2025)."""
    return rng.choice(
        [
            ("sabado que vem", TODAY + timedelta(days=4)),
            ("esse sabado agora dia 20", date(2025, 12, 20)),
            ("dia 10 do mes que vem", date(2026, 1, 10)),
            ("dia 24 de janeiro agora", date(2026, 1, 24)),
            ("no proximo dia 31 de janeiro", date(2026, 1, 31)),
        ]
    )


def guest_phrase(rng: random.Random, guests: int, pool: str) -> tuple[str, str]:
    options = [
        (f"{guests} pessoas", "digits"),
        (f"uns {guests} convidados", "approximate"),
        (f"mais ou menos {guests} pessoas", "approximate"),
        (f"por volta de {guests} convidados", "approximate"),
        (f"aprox {guests} pessoas", "abbreviation"),
        (f"vai ter {guests} convidados", "digits"),
    ]
    if pool in {"fresh", "fresh2"}:
        options = [
            (f"em torno de {guests} pessoas", "approximate"),
            (f"lista com {guests} convidados", "digits"),
        ]
    if guests in NUMBER_WORDS:
        options.append((f"umas {NUMBER_WORDS[guests]} pessoas", "number words"))
    if guests >= 60:
        kids = rng.choice([10, 15, 20])
        options.append((f"{guests - kids} adultos e {kids} crianças", "groups"))
        options.append((f"{guests - kids} adultos mais {kids} criancas", "groups"))
    return rng.choice(options)


def budget_phrase(rng: random.Random, k: int, pool: str) -> tuple[str, list[int | None], str]:
    v = k * 1000
    options: list[tuple[str, list[int | None], str]] = [
        (f"uns {k} mil", [v, v], "approximate"),
        (f"{k} mil reais", [v, v], "digits"),
        (f"R$ {k}.000,00", [v, v], "digits"),
        (f"{k}k", [v, v], "abbreviation"),
        (f"ate {k} mil", [None, v], "range"),
        (f"no maximo {k} mil", [None, v], "range"),
        (f"entre {k - 5} e {k} mil", [v - 5000, v], "range"),
        (f"a partir de {k} mil", [v, None], "range"),
        (f"orcamento de {k}mil", [v, v], "no accents"),
    ]
    if pool in {"fresh", "fresh2"}:
        options = [
            (f"temos {k} mil pra gastar", [v, v], "digits"),
            (f"de {k - 5} a {k} mil", [v - 5000, v], "range"),
        ]
    if k in THOUSAND_WORDS:
        options.append((f"{THOUSAND_WORDS[k]} mil reais", [v, v], "number words"))
    return rng.choice(options)


def city_phrase(rng: random.Random, city: str, pool: str) -> str:
    options = [
        f"em {city}",
        f"aqui em {city}",
        f"vai ser em {city}",
        f"la em {plain(city)}",
        f"na cidade de {city}",
    ]
    if pool in {"fresh", "fresh2"}:
        options = [f"o local é em {city}", f"{city} mesmo", f"pertinho de {city}, em {city} mesmo"]
    return rng.choice(options)


def conversation(rng: random.Random, number: int, pool: str, split: str) -> dict[str, Any]:
    event = rng.choice(list(EVENTS))
    relative = rng.random() < 0.1
    if relative:
        rel_text, day = relative_date(rng)
    else:
        day = date(2026, rng.randint(1, 11), rng.randint(1, 28))
    guests = rng.choice([30, 40, 50, 60, 70, 80, 90, 100, 120, 150, 180, 200, 250, 300])
    city = rng.choice(CITIES)
    k = max(8, min(50, guests * rng.choice([120, 150, 200]) // 1000))
    k = min(THOUSAND_WORDS, key=lambda n: abs(n - k)) if rng.random() < 0.5 else k
    categories = {"whole conversation"}
    event_text = rng.choice(EVENTS[event]["fresh" if pool == "fresh2" else pool])
    date_text, date_cat = (rel_text, "relative date") if relative else date_phrase(rng, day, pool)
    guest_text, guest_cat = guest_phrase(rng, guests, pool)
    budget_text, budget, budget_cat = budget_phrase(rng, k, pool)
    city_text = city_phrase(rng, city, pool)
    categories |= {date_cat, guest_cat, budget_cat}
    facts: dict[str, Any] = {"event_type": event, "date": day.isoformat(), "guests": guests, "location": city,
                             "budget": budget}  # fmt: skip
    greeting = rng.choice(GREETINGS[pool])
    turns: list[dict[str, Any]] = [{"text": greeting, "expect": "greeting"}]
    twist = rng.choice(["question", "two questions", "mixed", "correction", "typo month", "weekday",
                        "partial guests", "partial month", "unknown budget", "handoff", "none"])  # fmt: skip
    if twist in {
        "mixed",
        "correction",
        "typo month",
        "weekday",
        "partial guests",
        "partial month",
        "unknown budget",
    }:
        style = "one by one"  # the twist replaces one answer of a slot-by-slot conversation
        if twist in {"typo month", "weekday", "partial month"} and relative:
            relative = False
            day = date(2026, rng.randint(1, 11), rng.randint(1, 28))
            date_text, date_cat = date_phrase(rng, day, pool)
            facts["date"] = day.isoformat()
            categories.discard("relative date")
            categories.add(date_cat)
        if twist == "partial guests" and guests < 60:
            guests = facts["guests"] = rng.choice([80, 100, 150])
            guest_text = f"{guests} pessoas"
    else:
        style = rng.choice(["one by one", "all at once", "two at a time", "audio"])
    categories.add(style)
    if style == "all at once":
        parts = [event_text, date_text, guest_text, city_text, budget_text]
        head, tail = parts[:2], parts[2:]
        rng.shuffle(tail)
        turns.append({"text": ", ".join(head + tail), "expect": "record"})
    elif style == "two at a time":
        turns.append({"text": f"{event_text}, {date_text}", "expect": "record"})
        turns.append({"text": f"{guest_text} {city_text}", "expect": "record"})
        turns.append({"text": f"orçamento {budget_text}", "expect": "record"})
    elif style == "audio":
        spoken = (
            date_text if relative else f"dia {DAY_WORDS.get(day.day, day.day)} de {MONTHS[day.month - 1]}"
        )
        said = (
            f"entao e {event_text} ne vai ser {spoken} e vai ter {guest_text} {city_text} "
            f"e o orcamento a gente pensou em {budget_text}"
        )
        turns.append({"text": plain(said).lower(), "expect": "record"})
        categories.discard("digits")
    else:
        turns += [
            {"text": event_text, "expect": "record"},
            {"text": date_text, "expect": "record"},
            {"text": guest_text, "expect": "record"},
            {"text": city_text, "expect": "record"},
            {"text": budget_text, "expect": "record"},
        ]
    one_by_one = style == "one by one"

    def ask(topic: str | None = None) -> dict[str, Any]:
        topic = topic or rng.choice(list(QUESTIONS[pool]))
        return {"text": rng.choice(QUESTIONS[pool][topic]), "expect": "answer", "topic": topic}

    if twist == "question":
        turns.insert(rng.randint(1, len(turns)), ask())
        categories.add("question")
    elif twist == "two questions":
        first, second = rng.sample(list(QUESTIONS[pool]), 2)
        turns.insert(1, ask(first))
        turns.append(ask(second))
        categories.add("question")
    elif twist == "mixed" and one_by_one:
        topic = rng.choice(["price", "payment", "included", "menu"])
        i = next(i for i, t in enumerate(turns) if t["text"] == guest_text)
        question = rng.choice([q for q in QUESTIONS[pool][topic] if not any(c.isdigit() for c in q)])
        turns[i] = {"text": f"{guest_text}. {question}", "expect": "record", "topic": topic}
        categories.add("question mixed with answer")
    elif twist == "correction" and one_by_one:
        slot = rng.choice(["guests", "date"])
        if slot == "guests":
            wrong = guests + rng.choice([20, 30, -10])
            i = next(i for i, t in enumerate(turns) if t["text"] == guest_text)
            turns[i] = {"text": f"{wrong} pessoas", "expect": "record", "provisional": {"guests": wrong}}
            fix = rng.choice([f"opa, errei, sao {guests}", f"na real vao ser {guests} pessoas",
                              f"corrigindo, {guests} convidados"])  # fmt: skip
        else:
            wrong_day = day + timedelta(days=1)
            i = next(i for i, t in enumerate(turns) if t["text"] == date_text)
            turns[i] = {"text": f"dia {wrong_day.day}/{wrong_day.month:02d}", "expect": "record",
                        "provisional": {"date": wrong_day.isoformat()}}  # fmt: skip
            fix = rng.choice([f"ops, na verdade é dia {day.day}/{day.month:02d}",
                              f"desculpa, errei a data, é {day.day} de {MONTHS[day.month - 1]}"])  # fmt: skip
        turns.insert(i + 1, {"text": fix, "expect": "record"})
        categories.add("correction")
    elif twist == "typo month" and one_by_one and not relative:
        i = next(i for i, t in enumerate(turns) if t["text"] == date_text)
        month = MONTHS[day.month - 1]
        typo = rng.choice([f"dia {day.day} d {month}", f"{day.day} de {month[0]}{month[2:]}"])
        turns[i] = {"text": typo, "expect": "ask back", "slot": "date"}
        turns.insert(i + 1, {"text": rng.choice(["sim", "isso", "isso mesmo"]), "expect": "record"})
        categories.add("ask back")
    elif twist == "weekday" and one_by_one and not relative:
        i = next(i for i, t in enumerate(turns) if t["text"] == date_text)
        wrong_weekday = WEEKDAYS[(day.weekday() + 1) % 7]
        turns[i] = {"text": f"{wrong_weekday} dia {day.day} de {MONTHS[day.month - 1]}", "expect": "ask back",
                    "slot": "date"}  # fmt: skip
        turns.insert(i + 1, {"text": "isso", "expect": "record"})
        categories.add("ask back")
    elif twist == "partial guests" and one_by_one and guests >= 60:
        i = next(i for i, t in enumerate(turns) if t["text"] == guest_text)
        kids = 10
        partial = rng.choice(
            [f"uns {guests - kids} fora as crianças", f"{guests - kids} adultos e mais as criancas"]
        )
        turns[i] = {"text": partial, "expect": "ask back", "slot": "guests"}
        turns.insert(i + 1, {"text": rng.choice(["umas 10", "10 criancas", "dez"]), "expect": "record"})
        categories.add("ask back")
    elif twist == "partial month" and one_by_one and not relative:
        i = next(i for i, t in enumerate(turns) if t["text"] == date_text)
        month = MONTHS[day.month - 1]
        turns[i] = {"text": rng.choice([f"la pra {month}", f"em {plain(month)}, ainda vou ver o dia"]),
                    "expect": "record", "provisional": {"date": None}}  # fmt: skip
        turns.insert(
            i + 1, {"text": rng.choice([f"dia {day.day}", f"o dia vai ser {day.day}"]), "expect": "record"}
        )
        categories.add("partial date")
    elif twist == "unknown budget" and one_by_one:
        turns[-1] = {"text": rng.choice(["nao sei ainda o orcamento", "ainda não tenho valor definido",
                                         "sei la, nao pensei nisso ainda"]),
                     "expect": "unknown", "slot": "budget"}  # fmt: skip
        facts["budget"] = None
        categories.add("unknown")
    elif twist == "handoff":
        turns.append({"text": rng.choice(["quero falar com um atendente", "pode me ligar?",
                                          "prefiro falar com uma pessoa"]),
                      "expect": "handoff"})  # fmt: skip
        categories.add("handoff")
    if twist not in {"question", "two questions"} and rng.random() < 0.4:
        turns.insert(rng.randint(1, len(turns)), ask())
        categories.add("question")
    if rng.random() < 0.25:
        turns = [dict(t, text=plain(t["text"]).lower()) for t in turns]
        categories.add("no accents")
    return {
        "id": f"{split}-{number:04d}",
        "split": split,
        "categories": sorted(categories),
        "facts": facts,
        "qualifies": facts["budget"] is not None,
        "turns": turns,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=2124)
    parser.add_argument("--conversations", type=int, default=150)
    parser.add_argument("--split", default="held_out_independent")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    pool = (
        "fresh2"
        if args.split.startswith("fresh2")
        else "fresh"
        if args.split.startswith("fresh")
        else "held_out"
    )
    with args.out.open("w", encoding="utf-8") as out:
        for n in range(args.conversations):
            out.write(json.dumps(conversation(rng, n, pool, args.split), ensure_ascii=False) + "\n")
    print(f"wrote {args.conversations} conversations to {args.out}")


if __name__ == "__main__":
    main()
