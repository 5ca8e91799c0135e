"""What the agent says, in Brazilian Portuguese: confirmations, the next question, and the set pieces.

Questions come in variants: asking for the same missing slot twice in the same words reads like a robot, so
the second time uses another phrasing (and the third gives an example of an answer).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping

from agent_runtime.readings import Slots
from agent_runtime.vocabulary import MONTH_NAMES

WEEKDAY_NAMES = (
    "segunda-feira",
    "terça-feira",
    "quarta-feira",
    "quinta-feira",
    "sexta-feira",
    "sábado",
    "domingo",
)

GREETING = "Olá! 😊 Sou a assistente virtual e vou te ajudar com o orçamento do seu evento."
HANDOFF = (
    "Claro! Vou chamar uma pessoa da nossa equipe para continuar o atendimento. "
    "Em instantes alguém te responde por aqui. 🙂"
)
MEDIA = {
    "audio": "Recebi seu áudio, mas por aqui eu só consigo ler mensagens de texto. 🙏 Pode me escrever, por favor?",
    "image": "Recebi sua imagem! Por aqui eu só consigo ler texto: pode me contar por escrito o que precisa? 🙏",
    "video": "Recebi seu vídeo! Por aqui eu só consigo ler texto: pode me contar por escrito o que precisa? 🙏",
    "document": "Recebi seu arquivo! Por aqui eu só consigo ler texto: pode me escrever o que precisa? 🙏",
    "sticker": "Adorei a figurinha! 😄 Me conta por escrito o que você precisa para o seu evento?",
}
MEDIA_DEFAULT = "Por aqui eu só consigo ler mensagens de texto. Pode me escrever, por favor? 🙏"
NOT_UNDERSTOOD = "Desculpe, não entendi bem. 😅"
PAST_DATE = "Hmm, essa data já passou. 🤔"

QUESTIONS: Mapping[str, tuple[str, ...]] = {
    "event_type": (
        "Que tipo de evento você está planejando? Casamento, aniversário, 15 anos, formatura, confraternização…",
        "Me conta: o que vamos celebrar? 🎉",
        "Qual é a ocasião? Por exemplo: casamento, aniversário ou evento de empresa.",
    ),
    "date": (
        "Qual é a data do evento?",
        'Já tem uma data em mente? Pode ser algo como 12/03 ou "sábado que vem".',
        "Me diz o dia, por exemplo: 12 de março.",
    ),
    "guests": (
        "Quantos convidados você pretende receber?",
        "E quantas pessoas devem vir, mais ou menos?",
        "Uma estimativa já ajuda (uns 80, uns 150…): quantos convidados?",
    ),
    "location": (
        "E onde vai ser? Pode me dizer a cidade ou o espaço.",
        "Em que cidade vai ser o evento?",
        'Me conta o local, por exemplo: "no salão do condomínio, em Campinas".',
    ),
    "budget": (
        "E quanto você pensa em investir no evento?",
        'Tem uma ideia de orçamento? Pode ser uma faixa, como "entre 10 e 12 mil".',
        "Para a proposta vir certinha, me diz um valor de referência, por exemplo: R$ 15 mil.",
    ),
}
MONTH_DAY = "Ótimo, {month}! E qual dia?"
MORE_WELCOME = "Se quiser acrescentar algum detalhe, é só me mandar por aqui."


def ask(slot: str, attempt: int) -> str:
    """The default wording (``Voice.ask`` is a company's): each attempt in other words."""
    variants = QUESTIONS[slot]
    return variants[min(attempt, len(variants) - 1)]


#: How many times one slot is asked (each time in other words, ``QUESTIONS``) before the agent lets it be and
#: leaves it to the salesperson: never the same question word for word.
MAX_ASKS = 3


def short_date(value: dt.date) -> str:
    return value.strftime("%d/%m/%Y")


def long_date(value: dt.date, *, today: dt.date | None = None) -> str:
    """``sábado, 7 de março de 2026``: the year always, so that a lead who meant another one says so."""
    return f"{WEEKDAY_NAMES[value.weekday()]}, {value.day} de {MONTH_NAMES[value.month - 1]} de {value.year}"


def on_date(value: dt.date, *, today: dt.date | None = None) -> str:
    """As said in a sentence: ``no sábado, 7 de março``, ``na sexta-feira, 19 de dezembro``."""
    return ("no " if value.weekday() >= 5 else "na ") + long_date(value, today=today)


def month_name(year: int, month: int) -> str:
    return f"{MONTH_NAMES[month - 1]} de {year}"


def money(value: int) -> str:
    return "R$ " + f"{value:,}".replace(",", ".")


def money_range(slots: Slots) -> str:
    low, high = slots.budget_min, slots.budget_max
    if low is not None and high is not None:
        return money(low) if low == high else f"entre {money(low)} e {money(high)}"
    if high is not None:
        return f"até {money(high)}"
    if low is not None:
        return f"a partir de {money(low)}"
    return ""


def describe(slot: str, slots: Slots, *, today: dt.date | None = None) -> str:
    """How a confirmation names one slot's value; an estimate says so ("para cerca de 100 convidados")."""
    if slot == "event_type":
        return str(slots.event_type)
    if slot == "date" and slots.date is not None:
        return on_date(slots.date, today=today)
    if slot == "guests":
        if slots.guests_min is not None:
            return f"para {slots.guests_min} a {slots.guests} convidados"
        return f"para {'cerca de ' if 'guests' in slots.approximate else ''}{slots.guests} convidados"
    if slot == "budget" and "budget" in slots.approximate and slots.budget_min == slots.budget_max:
        return f"com orçamento de cerca de {money_range(slots)}"
    if slot == "location":
        return f"em {slots.location}"
    return f"com orçamento {money_range(slots)}"


def confirmation(
    changed: Iterable[str],
    slots: Slots,
    *,
    corrected: bool,
    today: dt.date | None = None,
    voice: Voice | None = None,
) -> str:
    pieces = [describe(slot, slots, today=today) for slot in changed]
    if not pieces:
        return ""
    return (voice or Voice()).say("corrected" if corrected else "confirmed", what=_join(pieces))


def _join(pieces: list[str]) -> str:
    return pieces[0] if len(pieces) == 1 else ", ".join(pieces[:-1]) + " e " + pieces[-1]


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def split(paragraphs: Iterable[str], limit: int) -> list[str]:
    """Paragraphs packed into WhatsApp messages of at most ``limit`` characters, never cut mid-sentence
    unless one sentence alone is longer than the limit (then at a space)."""
    out: list[str] = []
    current = ""
    for paragraph in (p.strip() for p in paragraphs):
        if not paragraph:
            continue
        for sentence in _pieces(paragraph, limit):
            if not current:
                current = sentence
            elif len(current) + 1 + len(sentence) <= limit:
                current = f"{current} {sentence}"
            else:
                out.append(current)
                current = sentence
    if current:
        out.append(current)
    return out


def _pieces(paragraph: str, limit: int) -> list[str]:
    if len(paragraph) <= limit:
        return [paragraph]
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        while len(sentence) > limit:
            cut = sentence.rfind(" ", 0, limit + 1)
            cut = cut if cut > 0 else limit
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            pieces.append(sentence)
    return pieces


#: Every sentence the agent builds, by name: the one place to read and review them, and what a company's
#: knowledge file overrides (``templates``). ``{name}`` is ", Juliana" or empty; a list is a set of variants,
#: used in turn so that nothing is repeated word for word.
TEMPLATES: dict[str, str | tuple[str, ...]] = {
    "greeting": "Olá{name}! 😊 Sou a assistente virtual e vou te ajudar com o orçamento do seu evento.",
    "handoff": HANDOFF,
    "not_understood": (
        NOT_UNDERSTOOD,
        "Hmm, acho que não entendi direito. 😅",
        "Pode me explicar de outro jeito?",
    ),
    "past_date": PAST_DATE,
    # The next question, one per slot: each attempt in other words (``QUESTIONS``), never the same twice.
    **{f"ask_{slot}": variants for slot, variants in QUESTIONS.items()},
    "month_day": MONTH_DAY,
    "check": ("Seria {what}?", "Só para confirmar: seria {what}?", "Confirma pra mim: {what}?"),
    "check_weekday": (
        "Seria {date}? É a próxima vez que o dia {day} cai {on_weekday}.",
        "Só para confirmar: seria {date}?",
    ),
    # The day and month as said, on another weekday than the lead named ("sábado, 20 de novembro", a Friday).
    "check_weekday_off": (
        "Seria {date} mesmo? O dia {day} cai {on_weekday}.",
        "Só para confirmar: seria {date}?",
    ),
    "check_partial": (
        "Além dos {part}, {how_many} são {missing}, mais ou menos?",
        "Para eu somar certinho: {how_many} são {missing}, além dos {part}?",
    ),
    "check_city": ("O evento seria em {city}?", "Só para confirmar: o evento vai ser em {city}?"),
    "out_of_hours": (
        "Nossa equipe atende {hours}. Assim que estivermos de volta, um consultor fala com você; enquanto isso, "
        "sigo por aqui!"
    ),
    # What was recorded, said back: one fixed word, so that a lead learns what "recorded" looks like.
    "confirmed": "Anotado: {what}. ✅",
    "corrected": "Corrigido: {what}. ✅",
    "ask_again": "Sem problema! {question}",
    "declined": "Sem problema, {slot} fica em aberto por enquanto.",
    "gave_up": "Tudo bem, {slot} a gente vê depois com o consultor.",
    "open_end": (
        "Obrigada{name}! Vou passar o que você me contou para um consultor, que te ajuda a definir {slots}. 😊",
        "Combinado{name}! Quando o consultor falar com você, vocês definem {slots} juntos.",
    ),
    "implausible_budget": "Para {guests} convidados, nossos eventos costumam começar em {minimum}. Teria "
    "flexibilidade no orçamento? Se preferir, também dá para ajustar o número de convidados.",
    "qualified": "Perfeito{name}, já tenho tudo o que preciso! 🎉 Um dos nossos consultores vai te chamar em breve "
    "com uma proposta para o seu evento.",
    "after_qualified": (
        "Obrigada{name}! Já repassei tudo para o nosso consultor, que vai falar com você em breve. 😊",
        "Pode deixar{name}, repasso isso ao consultor também.",
        "Certo{name}! Se lembrar de mais alguma coisa, é só mandar por aqui.",
    ),
    "price_total": "Para {guests} convidados, nossos pacotes de {event} ficam a partir de {total} ({per_guest} por "
    "pessoa).",
    "price_per_guest": "Nossos pacotes de {event} partem de {per_guest} por pessoa (mínimo de {minimum}). Me diz "
    "quantos convidados e eu te passo uma estimativa.",
    "city_served": ("Sim, atendemos em {city}! 😊", "Sim, atendemos em {city}, com certeza."),
    "robot": (
        "Sou a assistente virtual {of_company} 🙂 Se preferir falar com uma pessoa, é só pedir.",
        "Sou a assistente virtual {of_company}, sim! Quer falar com uma pessoa? É só me dizer.",
    ),
    "scam": "Entendo a preocupação, é bom conferir! {legitimacy}",
    "scam_unknown": (
        "Entendo a preocupação, é bom conferir! Um consultor da nossa equipe pode te ligar e tirar qualquer dúvida.",
        "É bom conferir, sim! Se quiser, um consultor te liga e tira todas as dúvidas.",
    ),
    "defer": (
        "Sobre {topic}, vou confirmar com a equipe e te retorno. 🙂",
        "Boa pergunta! Sobre {topic}, vou confirmar com a equipe e te aviso por aqui.",
    ),
}

#: How a reply names a slot ("Sem problema, o orçamento fica em aberto").
SLOT_LABELS = {
    "event_type": "o tipo de evento",
    "date": "a data",
    "guests": "o número de convidados",
    "location": "o local",
    "budget": "o orçamento",
}


class Voice:
    """The templates with a company's overrides, and the lead's name to address them by."""

    def __init__(
        self, overrides: Mapping[str, str | list[str]] | None = None, *, name: str | None = None
    ) -> None:
        self._templates = TEMPLATES  # shared, read only: a copy per message only for a company that overrides
        if overrides:
            self._templates = dict(TEMPLATES)
            for key, value in overrides.items():
                if key in TEMPLATES:  # an unknown name is ignored: a typo in a file must not break replies
                    self._templates[key] = value if isinstance(value, str) else tuple(value)
        self.name = name

    def ask(self, slot: str, attempt: int) -> str:
        """The question for ``slot``, attempt ``attempt`` (0 first): the last wording once all were used."""
        template = self._templates[f"ask_{slot}"]
        variants = (template,) if isinstance(template, str) else template
        return self.say(f"ask_{slot}", min(attempt, len(variants) - 1))

    def say(self, key: str, turn: int = 0, **fields: object) -> str:
        """Template ``key`` (variant ``turn``, cycling) filled in; ``{name}`` is ", <name>" or nothing."""
        template = self._templates[key]
        text = template if isinstance(template, str) else template[turn % len(template)]
        try:
            return text.format(name=f", {self.name}" if self.name else "", **fields)
        except (KeyError, IndexError, ValueError):  # a company's template naming a field we do not have
            fallback = TEMPLATES[key]
            text = fallback if isinstance(fallback, str) else fallback[turn % len(fallback)]
            return text.format(name=f", {self.name}" if self.name else "", **fields)


def join_labels(slots: Iterable[str]) -> str:
    return _join([SLOT_LABELS[s] for s in slots])
