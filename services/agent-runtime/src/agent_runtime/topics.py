"""What a clause is about, when the question rules (``questions.py``) could not place it: a scored vocabulary of
word stems per topic, tolerant of one typo, and the requests leads make without asking ("manda a localização",
"me passa o cardápio").

The rules' patterns name a topic from whole phrases and miss a third of new wordings (docs/bench); a clause
they call ``other`` is scored here word by word: every word whose start is a stem of a topic ("cardap" in
"cardapio", "cardápios") adds that stem's weight, a word one typo away from a stem ("horaio", "cardpaio") adds
half of it, and the best topic wins if it reaches ``_ENOUGH`` and beats the next one. Deterministic, and bounded
on any input: at most ``_MAX_WORDS`` words of a clause are scored, each with a fixed number of dictionary
look-ups (no distance computed against the vocabulary).

Input is ``vocabulary.normalize``-d text (lower case, no accents, emphasis collapsed).
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Literal

Topic = Literal[
    "price",
    "included",
    "menu",
    "cities",
    "availability",
    "payment",
    "address",
    "hours",
    "scam",
    "robot",
    "parking",
    "cancellation",
    "photos",
    "other",
]

# Stems of four letters or more match the start of a word ("cardap" → "cardapio"); shorter ones, and those marked
# "=" ("dura=": not "durante"), the whole word ("pix", "bot", "rua"). Weights: 3 names the topic alone
# ("cardapio", "golpe"); 1–2 leans towards it; below 1 only breaks ties. Written from what each topic means, not
# from any batch's sentences.
_STEMS: dict[Topic, dict[str, float]] = {
    "price": {
        "valor": 2.5, "preco": 3, "precinho": 3, "custa": 2.5, "custo": 2.5, "cobra": 2, "quanto": 1.5, "qto": 1.5,
        "qnto": 1.5, "orcam": 1.5, "tabela": 2, "barat": 2, "caro=": 2, "cara=": 0.5, "descont": 2.5, "promoc": 2.5,
        "investim": 2, "cabeca": 1, "gasta": 1.5, "sai": 0.5, "taxa": 1,
    },
    "included": {
        "inclu": 3, "pacote": 2, "junto": 1.5, "parte": 1, "fora=": 0.5, "garcom": 2, "garcon": 2, "decora": 2,
        "som": 1.5, "ilumina": 2, "dj": 2, "mesa": 1.5, "cadeira": 1.5, "toalha": 1.5, "louca": 1.5,
        "servico": 1.5, "equipe": 0.5, "barman": 2, "bartender": 2, "fotograf": 2.5, "filmag": 2.5,
        "recreac": 2.5, "monitor": 1.5, "contempl": 2, "oferec": 1.5, "limpeza": 2, "seguranca": 1.5,
        "cerimonial": 2, "telao": 2, "brinquedo": 2, "estrutura": 1.5, "completo": 1,
    },
    "menu": {
        "cardap": 3, "menu": 3, "comida": 2.5, "prato": 2.5, "salgad": 2.5, "doce": 2.5, "docinh": 2.5,
        "bolo": 2, "bebida": 1.5, "chop": 2.5, "cervej": 2.5, "refri": 2.5, "suco": 2.5, "drink": 2.5,
        "agua": 1.5, "vinho": 2.5, "espumante": 2.5, "whisky": 2.5, "buffet": 1, "jantar": 2.5, "almoc": 2.5,
        "sobremes": 2.5, "vegan": 2.5, "vegetar": 2.5, "gluten": 2.5, "lactose": 2.5, "massa": 2,
        "churras": 2.5, "rodizio": 2.5, "coquetel": 2.5, "finger": 2.5, "entrada": 0.5, "serve": 1.5,
        "servem": 1.5, "comer=": 2, "lanche": 2.5, "pizza": 2.5, "crepe": 2.5, "opcoes": 0.5, "alimenta": 2.5,
    },
    "cities": {
        "cidade": 2, "regiao": 2.5, "desloc": 3, "viag": 2.5, "viaja": 2.5, "frete": 2.5, "km": 2, "capital": 1.5,
        "interior": 2, "litoral": 2, "estado": 1.5, "atende": 1, "atendem": 1, "fora=": 0.5, "distanc": 1.5,
    },
    "availability": {
        "disponi": 3, "livre": 2.5, "vago=": 2, "vaga=": 1.5, "agenda": 2.5, "data": 2, "datas": 2, "ocupad": 2.5,
        "lotad": 2.5, "reservad": 2, "aberta": 1, "fechad": 1,
    },
    "payment": {
        "pagament": 3, "paga": 1.5, "pagar": 1.5, "parcel": 3, "pix": 3, "cartao": 3, "credit": 2.5, "debit": 2.5,
        "boleto": 3, "sinal": 2.5, "entrada": 1, "transfer": 2.5, "deposit": 2.5, "vista": 1, "vezes": 1.5,
        "juros": 2.5, "adiant": 2.5, "chave": 1, "fiscal": 2.5, "fatur": 2.5, "dinheiro": 2, "especie": 1.5,
        "contrato": 1, "reserva": 1, "quitar": 2.5, "restante": 1.5, "prazo": 1,
    },
    "address": {
        "ender": 3, "localiz": 3, "local": 1, "maps": 3, "map": 3, "mapa": 3, "waze": 3, "rua": 2.5,
        "bairro": 2.5, "onde": 1.5, "fica": 1, "ficam": 1, "perto": 1, "longe": 1, "chegar": 1.5, "sede": 1,
        "loja": 1, "visita": 1.5, "conhecer": 1, "pin": 2, "link": 0.5, "salao": 0.5, "espaco": 0.5,
        "cep": 3, "numero": 0.5, "google": 0.5,
    },
    "hours": {
        "horari": 3, "hora": 2, "horas": 2, "abre": 2.5, "abrem": 2.5, "fecha": 1, "fecham": 2,
        "funcion": 1.5, "expedient": 3, "atendim": 1.5, "dura=": 2, "duracao": 2.5, "comec": 1.5,
        "termin": 1.5, "madrugada": 2, "domingo": 1, "sabado": 0.5, "feriado": 1.5, "respond": 1,
        "tarde": 0.5, "noite": 0.5, "manha": 0.5, "cedo": 1,
    },
    "scam": {
        "golpe": 3, "golp": 3, "confia": 3, "fraud": 3, "segur": 1, "cnpj": 3, "reclam": 2, "avalia": 2.5,
        "verdade": 1, "real=": 1, "existe": 2, "enganac": 3, "picaret": 3, "depoim": 2.5, "referenc": 2.5,
        "problema": 1.5, "processo": 1.5, "idone": 3, "serio": 1.5, "seria=": 0.25, "empresa": 0.5,
        "garantia": 1, "pegadinha": 3, "furada": 3, "calote": 3,
    },
    "robot": {
        "robo": 3, "bot": 3, "chatbot": 3, "ia": 2, "human": 3, "pessoa": 1, "gente": 0.5, "maquina": 2.5,
        "automat": 2.5, "inteligen": 2, "artificial": 3, "virtual": 2.5, "atendente": 1.5, "quem": 2,
        "falando": 1, "respondendo": 1, "sistema": 1.5, "programa=": 1.5,
    },
    "parking": {
        "estacion": 3, "manobr": 3, "valet": 3, "carro": 2.5, "carros": 2.5, "vaga": 1, "garag": 3, "parar": 2,
    },
    "cancellation": {
        "cancel": 3, "desist": 3, "desmarc": 3, "remarc": 3, "reagend": 3, "adiar": 3, "adia": 3, "multa": 2.5,
        "reembols": 3, "devol": 2.5, "estorn": 3, "mudar": 1, "trocar": 1, "imprevist": 2, "chover": 1,
        "chuva": 1,
    },
    "photos": {
        "foto": 3, "fotos": 3, "fotinh": 3, "imagem": 2.5, "imagens": 2.5, "video": 3, "videos": 3,
        "portfol": 3, "insta=": 2.5, "instagram": 3, "galeria": 3, "trabalhos": 1.5, "album": 2.5, "rede": 1,
        "redes": 1.5, "catalog": 2.5, "exemplo": 1.5, "modelo": 1, "ver": 0.5, "site": 2, "pagina": 1.5,
    },
}  # fmt: skip

_ENOUGH = 1.5  # one clear word ("cardapio"), or two leaning ones ("dura" + "hora")
_MARGIN = 0.5  # the best topic must beat the next by this much, or the clause stays "other"
_MAX_WORDS = 40  # a question is a sentence: words past this are not scored (bounded time on any input)
# Words a process has scored, kept with their weights: a lead's vocabulary repeats (bounded memory, ~1 MB).
_CACHED_WORDS = 8192
_PREFIX_MIN = 4  # shorter stems match whole words only
_TYPO_MIN = 5  # words and stems shorter than this are never matched by a typo

# Common words one letter from a stem, never a misspelling of it: "preciso" (I need) is not "preço".
_NEVER_TYPOS = ("precis",)
_WHOLE: dict[str, list[tuple[Topic, float]]] = defaultdict(list)  # short stems: the word itself
_PREFIX: dict[str, list[tuple[Topic, float]]] = defaultdict(list)  # stem → its topics
_DELETED: dict[str, list[tuple[Topic, float]]] = defaultdict(list)  # a stem less one letter → its topics
for _topic, _stems in _STEMS.items():
    for _stem, _weight in _stems.items():
        if len(_stem) < _PREFIX_MIN or _stem.endswith("="):
            _WHOLE[_stem.rstrip("=")].append((_topic, _weight))
            continue
        _PREFIX[_stem].append((_topic, _weight))
        if len(_stem) >= _TYPO_MIN:
            for _i in range(len(_stem)):
                _DELETED[_stem[:_i] + _stem[_i + 1 :]].append((_topic, _weight / 2))
_LENGTHS = sorted({len(s) for s in _PREFIX})
_TYPO_LENGTHS = [n for n in _LENGTHS if n >= _TYPO_MIN]
_WORDS = re.compile(r"[a-z]+")


def classify(clause: str) -> Topic:
    """The topic ``clause`` is about, or ``other`` when no topic stands out."""
    return scored(clause)[0]


def scores(clause: str, *, skip: frozenset[str] = frozenset()) -> dict[Topic, float]:
    """Each topic's score over the words of ``clause``, leaving out the words in ``skip``."""
    return profile(clause, skip=skip)[0]


def profile(clause: str, *, skip: frozenset[str] = frozenset()) -> tuple[dict[Topic, float], Topic]:
    """In one pass over ``clause``'s words (those in ``skip`` left out): each topic's score, and the topic of the
    first word that names one alone (``named_first``)."""
    totals: dict[Topic, float] = defaultdict(float)
    first: Topic = "other"
    for n, m in enumerate(_WORDS.finditer(clause)):
        if n == _MAX_WORDS:
            break
        if m.group(0) in skip:
            continue
        hits = _word(m.group(0))
        for topic, weight in hits.items():
            totals[topic] += weight
        if first == "other" and (strong := [(w, t) for t, w in hits.items() if w >= _NAMES]):
            first = max(strong)[1]
    return totals, first


def scored(clause: str) -> tuple[Topic, float]:
    """The best topic and its score (``other`` and the best score when it is not enough)."""
    totals = scores(clause)
    if not totals:
        return "other", 0.0
    ranked = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)
    best, score = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    if score < _ENOUGH or score - runner_up < _MARGIN:
        return "other", score
    return best, score


@functools.lru_cache(maxsize=_CACHED_WORDS)
def _word(word: str) -> Mapping[Topic, float]:
    """Each topic's weight for one word: its longest exact stem, else the stems one typo away (half weight)."""
    hits: dict[Topic, float] = {}
    for topic, weight in _WHOLE.get(word, ()):
        hits[topic] = max(hits.get(topic, 0.0), weight)
    for n in reversed(_LENGTHS):  # the longest stem first: "fotograf" (included) before "foto" (photos)
        if n > len(word):
            continue
        found = _PREFIX.get(word[:n])
        if found:
            for topic, weight in found:
                hits.setdefault(topic, weight)
            return hits
    if hits or len(word) < _TYPO_MIN or word.startswith(_NEVER_TYPOS):
        return hits
    for n in _TYPO_LENGTHS:  # one letter wrong, missing, extra or two swapped, within the stem's length
        if n > len(word) + 1:
            break
        head = word[:n]
        candidates = [head[:i] + head[i + 1 :] for i in range(len(head))]  # a letter wrong or swapped
        candidates.append(word[: n - 1])  # a letter missing
        for i in range(n + 1 if len(word) > n else 0):  # a letter too many: the stem itself
            if (extra := word[: n + 1][:i] + word[: n + 1][i + 1 :]) in _PREFIX:
                for topic, weight in _PREFIX[extra]:
                    hits.setdefault(topic, weight / 2)
        for candidate in candidates:
            for topic, weight in _DELETED.get(candidate, ()):
                hits.setdefault(topic, weight)
    return hits


# A request said as an order, not a question ("manda a localização", "me passa o cardápio", "pode me enviar o
# menu?"): the verb, then what is asked for. "passa de 100 pessoas" (more than) is not one: the object must be
# an article, a pronoun or a word of a topic (checked by ``request_at``).
_REQUEST = re.compile(
    r"(?:^|[,:]|\b(?:e|ai|entao|por favor|pfv|pf|gentileza|oi|ola)\b)\s*"
    r"(?:(?:voce|vc|vcs|voces)\s+)?(?:(?:pode|poderia|podem|poderiam|consegue|conseguem|conseguiria|tem como"
    r"|teria como|da pra|da para|dava pra|tem jeito de)\s+)?(?:me\s+|nos\s+)?"
    r"(manda|mande|mandar|manda ai|envia|envie|enviar|passa|passe|passar|mostra|mostre|mostrar|compartilha"
    r"|compartilhe|encaminha|encaminhe|indica|indique"
    # Verbs that ask only with "me" before them: "me vê um valor", "me dá uma ideia de preço".
    r"|(?<=me )(?:ve|da|de|diz|fala|informa|explica))\b"
)
_OBJECT = re.compile(
    r"\s*(?:ai\s+|pra mim\s+|por favor\s+|pfv\s+|aqui\s+)?(?:o|a|os|as|um|uma|uns|umas|seu|sua|seus|suas"
    r"|esse|essa|este|esta|mais)\b"
)


def names_topic(word: str) -> bool:
    """Whether ``word`` starts with a stem of some topic, as written (no typo): a word, not a misspelling."""
    return any(word[:n] in _PREFIX for n in _LENGTHS if n <= len(word)) or word in _WHOLE


def named_first(clause: str) -> Topic:
    """The topic of the first word in ``clause`` that names one alone (a stem of weight 2.5 or more), or ``other``:
    what a request asks for is its object ("me envia a localização do buffet" asks for the address)."""
    for n, m in enumerate(_WORDS.finditer(clause)):
        if n == _MAX_WORDS:
            break
        strong = [(weight, topic) for topic, weight in _word(m.group(0)).items() if weight >= _NAMES]
        if strong:
            return max(strong)[1]
    return "other"


_NAMES = 2.5


def request_at(text: str) -> int | None:
    """Where a request starts in ``text`` (a sentence, normalized), or None when it makes none."""
    m = _REQUEST.search(text)
    if m is None:
        return None
    rest = text[m.end() :]
    if _OBJECT.match(rest) or classify(rest) != "other":
        return m.start() + (text[m.start() : m.start() + 1] in {",", ":"})  # after the comma before it
    return None
