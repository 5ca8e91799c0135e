"""The words the agent understands, and how a WhatsApp message is brought to them.

A message is *normalized* before any rule looks at it: lower case, accents and emojis gone, letters repeated
for emphasis collapsed ("muitoooo" → "muito"), and each word a small typo away from a known one corrected
("casameto" → "casamento", "pesoas" → "pessoas"). The rules in ``dates``, ``numbers`` and ``slots`` then
match plain ASCII words.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from functools import lru_cache

from agent_runtime import topics
from agent_runtime.numbers import HUNDREDS, TENS, UNITS

MONTHS: dict[str, int] = {
    "janeiro": 1,
    "fevereiro": 2,
    "marco": 3,
    "abril": 4,
    "maio": 5,
    "junho": 6,
    "julho": 7,
    "agosto": 8,
    "setembro": 9,
    "outubro": 10,
    "novembro": 11,
    "dezembro": 12,
}
#: Written after a day number ("6 jun", "17 abr"): read as months there only.
MONTH_ABBREVIATIONS: dict[str, int] = {
    "jan": 1, "fev": 2, "mar": 3, "abr": 4, "mai": 5, "jun": 6, "jul": 7, "ago": 8, "set": 9, "out": 10,
    "nov": 11, "dez": 12,
}  # fmt: skip
MONTH_NAMES = ("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro",
               "outubro", "novembro", "dezembro")  # fmt: skip

WEEKDAYS: dict[str, int] = {
    "segunda": 0,
    "terca": 1,
    "quarta": 2,
    "quinta": 3,
    "sexta": 4,
    "sabado": 5,
    "domingo": 6,
}

#: Event types: canonical pt-BR label → the normalized phrases that name it. Checked in this order, so the
#: specific ("festa de 15 anos") wins over the generic ("festa").
EVENT_TYPES: dict[str, tuple[str, ...]] = {
    # "festa de 15" is said without "anos"; "15 anos de casados" is an anniversary of the wedding.
    "bodas": ("bodas", "anos de casado", "anos de casada", "anos de casados", "anos de casamento"),
    "festa de 15 anos": ("15 anos", "debutante", "debutantes", "debut", "festa de 15", "festa dos 15"),
    "casamento": ("casamento", "casar", "casorio", "matrimonio", "cerimonia de casamento"),
    "noivado": ("noivado",),
    "chá de bebê": ("cha de bebe", "cha revelacao", "cha de fraldas"),
    "batizado": ("batizado", "batismo"),
    "festa infantil": ("festa infantil", "infantil", "aniversario infantil", "festinha"),
    "aniversário": ("aniversario", "niver", "aniver"),
    "formatura": ("formatura", "colacao de grau"),
    "evento corporativo": (
        "corporativo",
        "corporativa",
        "confraternizacao",
        "festa da empresa",
        "festa da firma",
        "evento da empresa",
        "empresa",
        "firma",
        "convencao",
        "palestra",
    ),
    "buffet": ("buffet", "bufe", "bufet"),
}
#: A type that only says what the customer is buying: a later, specific type replaces it silently.
GENERIC_EVENT_TYPES = frozenset({"buffet"})

GUEST_NOUNS = (
    "pessoas",
    "pessoa",
    "convidados",
    "convidadas",
    "convidado",
    "pax",
    "adultos",
    "criancas",
    "participantes",
    "funcionarios",
    "colaboradores",
    "formandos",
    "alunos",
    "lugares",
    "cabecas",
)

#: Cities named often enough in leads that a lower-case or all-caps mention is still recognised.
CITIES: dict[str, str] = {
    name: name
    for name in (
        "São Paulo", "Rio de Janeiro", "Belo Horizonte", "Brasília", "Salvador", "Fortaleza", "Curitiba",
        "Recife", "Porto Alegre", "Manaus", "Belém", "Goiânia", "Campinas", "Guarulhos", "São Bernardo do Campo",
        "Santo André", "Osasco", "Santos", "Sorocaba", "Ribeirão Preto", "São José dos Campos", "Jundiaí",
        "Piracicaba", "Niterói", "Florianópolis", "Joinville", "Londrina", "Maringá", "Uberlândia",
        "Juiz de Fora", "Vitória", "Vila Velha", "Natal", "João Pessoa", "Maceió", "Aracaju", "Teresina",
        "São Luís", "Cuiabá", "Campo Grande", "Campos do Jordão", "Atibaia", "Valinhos", "Vinhedo", "Itu",
        "Indaiatuba", "Barueri", "Alphaville", "Cotia", "Mogi das Cruzes", "Bauru", "Petrópolis", "Búzios",
        "Paraty", "Gramado", "Balneário Camboriú", "Guarujá", "Ubatuba", "Holambra", "Embu das Artes",
        "Americana", "Sumaré", "Hortolândia", "Paulínia", "Limeira", "Rio Claro", "São Carlos", "Araraquara",
        "Bragança Paulista", "Itatiba", "Louveira", "Jaguariúna", "Mogi Mirim", "Mogi Guaçu",
        "Taubaté", "São José do Rio Preto", "Presidente Prudente", "Diadema", "Mauá", "Carapicuíba",
        "Santana de Parnaíba", "Caieiras", "Cajamar", "Nova Odessa", "Cosmópolis",
    )
} | {
    "Sampa": "São Paulo", "SP": "São Paulo", "RJ": "Rio de Janeiro", "BH": "Belo Horizonte", "POA": "Porto Alegre",
}  # fmt: skip
CITY_INDEX: dict[str, str] = {}  # normalized name → canonical, filled below

#: Words that typo correction must never touch: common words within one letter of a vocabulary word.
_PROTECTED = frozenset(
    {
        "pessoal", "casal", "casa", "casada", "casado", "casados", "marcar", "marca", "marcado", "quinto",
        "quintal", "sexto", "terco", "setembro", "bodas", "santos", "santo", "convidar", "convite", "convites",
        "empresas", "fazer", "festas", "dias", "datas", "nada", "senhor", "senhora", "obrigado", "obrigada",
        "certo", "certa", "entao", "quanto", "quantos", "quantas", "quando", "valor", "valores", "cerca",
        "mesmo", "mesma", "menos", "mais", "natal", "itu", "maio", "mario", "maria", "marco", "nossa",
        "melhor", "querida", "querido", "pequeno", "pequena", "grande", "ontem", "hoje", "amanha", "sabe",
        "pesquisa", "pessoalmente", "precisa", "precisamos", "preciso", "sabado", "sabados", "pergunta",
        "informacao", "informacoes", "orcamentos", "reais", "mil", "acho", "talvez", "cento", "duzentos",
        "feira", "feiras", "firmar", "fotos", "forma", "formas", "formato", "atende", "atendem", "atender",
        "fazem", "voces", "custa", "custam", "cardapio", "golpe", "incluso", "inclusa", "horario", "endereco",
        "maximo", "minimo", "maxima", "minima",  # "no máximo 15 mil" is not "no próximo"
        # the words questions are recognised by: "preço" is not "Preto", "seria" not "Serra", "prato" not "preto"
        "preco", "precos", "prato", "pratos", "seria", "serio", "teria", "estao", "gente", "salgado", "salgados",
        "cadeira", "cadeiras", "perto",
        # the words of drinks, children's prices and cancellation: "vinho" is not "Vinhedo"
        "vinho", "vinhos", "suco", "sucos", "meia", "paga", "pagam", "multa", "funciona", "funcionam", "aluguel",
        "carro", "carros",
    }
)  # fmt: skip

NUMBER_WORDS = frozenset(UNITS) | frozenset(TENS) | frozenset(HUNDREDS) | {"mil"}
_VOCABULARY: tuple[str, ...] = ()


# The accented letters of Portuguese by table (one C-level pass); any other non-ASCII character (º, ligatures,
# emojis) by Unicode decomposition, one character at a time: the same result as decomposing the whole text,
# at a fraction of the cost (decomposing every message whole was the rules' largest single cost).
_ACCENTED = "áàâãäéèêëíìîïóòôõöúùûüçñýÿÁÀÂÃÄÉÈÊËÍÌÎÏÓÒÔÕÖÚÙÛÜÇÑÝ"
_PLAIN = "aaaaaeeeeiiiiooooouuuucnyyAAAAAEEEEIIIIOOOOOUUUUCNY"
_ACCENTS = str.maketrans(_ACCENTED, _PLAIN)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _decompose(m: re.Match[str]) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", m.group(0)) if not unicodedata.combining(c))


def _strip_accents(text: str) -> str:
    text = text.translate(_ACCENTS)
    return text if text.isascii() else _NON_ASCII.sub(_decompose, text)


_KEEP = re.compile(r"[^a-z0-9\s/.,:;!?$%()+\-]")
_REPEATS = re.compile(r"([a-z])\1{2,}")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[a-z]+")


def fold(text: str) -> str:
    """Lower case, no accents, emojis and symbols turned into spaces; nothing else changed."""
    return _SPACES.sub(" ", _KEEP.sub(" ", _strip_accents(text).lower())).strip()


def normalize(text: str) -> str:
    """``fold`` plus emphasis collapsed and typos corrected: the form every rule reads."""
    return normalize_noting(text)[0]


def normalize_noting(text: str) -> tuple[str, frozenset[str]]:
    """``normalize``, and the words it put in place of typos: a reading that rests on one is a guess."""
    return normalize_folded(fold(text))


def normalize_folded(folded: str) -> tuple[str, frozenset[str]]:
    """``normalize_noting`` of a text already ``fold``-ed."""
    folded = _REPEATS.sub(r"\1", folded)
    fixed: set[str] = set()

    def fix(m: re.Match[str]) -> str:
        word = correct(m.group(0))
        if word != m.group(0):
            fixed.add(word)
        return word

    return _WORD.sub(fix, folded), frozenset(fixed)


@lru_cache(maxsize=8192)
def correct(word: str) -> str:
    """The vocabulary word ``word`` misspells, or ``word`` itself.

    difflib rather than a spell checker: the vocabulary is a few hundred words and a ratio of 0.8 on
    words of five letters or more is one typo (a missing, extra, swapped or wrong letter) and no more.
    """
    if len(word) < 5 or word in _PROTECTED or word in _VOCABULARY_SET or word in NUMBER_WORDS:
        return word  # a number word is never a typo: "quarenta" is forty, not "quarta"
    if topics.names_topic(word):
        return word  # a word of what leads ask about is one: "à parte" is not "artes"
    close = difflib.get_close_matches(word, _VOCABULARY, n=1, cutoff=0.8)
    return close[0] if close else word


def _build_vocabulary() -> tuple[str, ...]:
    words: set[str] = set(MONTHS) | set(WEEKDAYS) | set(GUEST_NOUNS)
    for phrases in EVENT_TYPES.values():
        for phrase in phrases:
            words.update(w for w in phrase.split() if len(w) >= 5)
    for name, canonical in CITIES.items():
        key = fold(name)
        CITY_INDEX[key] = canonical
        words.update(w for w in key.split() if len(w) >= 5)
    words.update(
        {
            "orcamento", "atendente", "atendimento", "humano", "proximo", "proxima", "verdade", "convidados",
            "aproximadamente", "reais", "depois", "semana", "semanas", "corrigindo", "vendedor", "vendedora",
            "consultor", "consultora", "gerente", "pessoa", "investir", "gastar", "salao", "chacara",
            "espaco", "restaurante", "fazenda", "igreja", "condominio", "pousada", "festa", "evento",
        }
    )  # fmt: skip
    return tuple(sorted(words))


_VOCABULARY = _build_vocabulary()
_VOCABULARY_SET = frozenset(_VOCABULARY)
