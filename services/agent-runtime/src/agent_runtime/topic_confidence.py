"""How sure the agent is of what a question is about: "never confirm a guess" applied to questions.

A question answered on the wrong topic ("onde que é o buffet?" answered with the menu) is worse than the honest
"vou confirmar com a equipe" with a note for the salesperson. ``settle`` keeps the topic the question rules
(``questions.py``) named only when it is sure of it, and gives ``other`` (the generic deferral) otherwise:

- a **frame** names the topic outright: the way Portuguese asks about a thing ("onde fica", "em que rua" ask for
  the address; "até onde", "quantos km", "vão até" for travel; "até que horas" for hours; "quanto custa" for the
  price; "você é de verdade?" about the agent, not the company). Written from the language, not from any batch.
- otherwise the **topic words** of the clause must back the rules' topic: the classifier's score for it
  (``topics.profile``), question words left out ("onde", "quanto", "quem" ask, they do not name a thing), must be
  above zero and not beaten by another topic by ``_MARGIN`` or more. A clause with no topic word at all ("até
  onde vcs vão?" without its frame) is deferred, never answered on what its question word suggests.

Input is ``vocabulary.normalize``-d text. Linear: one regex holds every frame, the scores are one pass.
"""

from __future__ import annotations

import re

from agent_runtime import topics
from agent_runtime.topics import Topic
from agent_runtime.vocabulary import MONTHS

# Words that ask rather than name: they lean the classifier towards a topic ("onde" → address, "quanto" → price)
# but alone they do not say what is asked about ("até onde vocês vão?" is travel, "quanto tempo dura?" hours).
QUESTION_WORDS = frozenset(
    {"onde", "quanto", "quanta", "qto", "qnto", "quem", "fica", "ficam", "sai", "quando", "como", "qual", "quais"}
)  # fmt: skip
_MARGIN = 1.0  # another topic's words beating the rules' topic by this much: the rules guessed

_YOU = r"(?:voces|vcs|vc|voce|vces|tu)"
_DAY = rf"\b\d{{1,2}}(?:/\d{{1,2}}|\s+de\s+(?:{'|'.join(MONTHS)}))\b"
_FRAMES: tuple[tuple[Topic, str], ...] = (
    # How far the company goes: "até onde", "quantos km", "vão até", "atendem em/na/fora", "raio de".
    ("cities", rf"ate onde|quantos (?:km|quilometros)|raio de|(?:{_YOU} )?(?:vao|vem|viajam|se deslocam) ate"
               # Coming to a place, not lasting until an hour: "vir até Itu", not "ir até meia noite".
               r"|(?:ir|vir) ate (?!(?:a |as )?(?:que|meia|\d|uma|duas|tres|quatro|cinco|seis|sete|oito|nove|dez"
               r"|onze|doze|madrugada|manha|tarde|noite|o fim|o final)\b)"
               rf"|(?:{_YOU} )?(?:atendem|atende|trabalham|fazem (?:festas?|eventos?)) (?:em|na|no|fora|pra|para)"
               r" (?!(?:o |a |os |as )?(?:domingos?|sabados?|feriados?|(?:fim|fins|final|finais) de semana|whats\w*"
               r"|horario|dia)\b)"
               r"|(?:cobram|cobra|tem|taxa de) (?:frete|deslocamento)"),
    # Where the company is: "onde fica/é", "fica onde?", "em que rua/bairro", "qual o endereço".
    ("address", rf"onde (?:que )?(?:fica|ficam|e|eh|esta|estao|{_YOU} (?:ficam|fica|estao|esta))\b"
                r"|(?:fica|ficam|esta|estao) onde|(?:em|de) que (?:rua|bairro|lugar|endereco)"
                r"|qual (?:o |a |e o |e a )?(?:endereco|rua|bairro)|(?:espaco|salao|lugar|local) (?:proprio|propria"
                r"|fisico)"),
    # When the team works or until when an event goes: "até que horas", "que horas abrem", "abrem sábado?".
    ("hours", rf"(?:ate|a|de|por) que horas|que horas (?:{_YOU} )?(?:abrem|abre|fecham|fecha|atendem|atende)"
              r"|(?:abrem|abre|funcionam|funciona|atendem|atende|trabalham|trabalha) (?:aos |nos |no |de |em |a )?"
              r"(?:domingos?|sabados?|feriados?|(?:fim|fins|final|finais) de semana)"),
    # The amount of a deposit or an instalment is about paying: "qual o valor da entrada?", "quanto é o sinal?";
    # so is an invoice ("emitem nota?", "faturam no cnpj?").
    ("payment", r"(?:valor|preco|quanto|qto|qnto)(?: \w+){0,2} (?:d[aoe]s?|[ao]s?) (?:entrada|sinal|parcela"
                r"|parcelas|reserva|adiantamento|mensalidade)\b"
                r"|(?:emitem|emite|emitir|emissao de|com|tem|dao|da) nota\b|nota fiscal|fatur(?:am|a|ar|ado|amento)\b"),
    # What it costs: "quanto custa/fica/sai/é", "fica em torno de quanto", "uma noção de preço", and a child's
    # or an adult's price ("criança paga?", "menor de 5 anos paga meia?").
    ("price", r"(?:quanto|qto|qnto) (?:que |q )?(?:custa|custam|fica|ficaria|sai|sairia|e|eh|seria|cobram|cobra"
              r"|da|vai dar|vai ficar|ta|esta)\b"
              r"|(?:fica|ficaria|sai|sairia|custa|custaria|vai ficar|vai sair|vai dar|daria)(?: \w+){0,4} quanto\b"
              r"|(?:nocao|ideia|base|media) de (?:preco|valor|precos|valores)"
              r"|(?:crianca|criancas|adulto|adultos|bebe|bebes|menor|menores)\b(?: \w+){0,4} (?:paga|pagam|pagante"
              r"|meia|inteira|gratis)\b"),
    # What is in the price and what is charged apart: "o que vem no pacote?", "é à parte?", "tá incluso?".
    ("included", r"o que (?:que )?(?:vem|inclui|entra)\b|(?:e|eh|sao|cobrad[oa]s?|cobram|cobra|pago|pagos)"
                 r" (?:a parte|separad[oa]s?|por fora)|(?:esta|estao|ta|tao|vem|vem) (?:incluso|inclusa|inclusos"
                 r"|inclusas|incluid[oa]s?)"),
    # Changing or calling off the date: "mudar a data", "trocar o dia", "remarcar".
    ("cancellation", r"(?:mudar|trocar|alterar|passar) (?:a |de |o )?(?:data|dia)\b"),
    # A day asked about: "20 de junho vcs tem?", "domingo 11 de outubro tá vago?".
    ("availability", rf"{_DAY}(?: \w+){{0,3}} (?:tem|vago|vaga|livre|disponivel|ocupad[oa]|aberto|aberta)\b"),
    # "você é de verdade?" asks about who answers, "vocês são reais?" or "a empresa é de verdade?" about the company.
    ("robot", r"(?:vc|voce|tu) (?:e|eh) (?:de verdade|real|gente|humano|humana|uma pessoa|pessoa)"
              r"|quem (?:ta|esta|e que ta|e que esta) (?:falando|respondendo|atendendo|digitando)"
              r"|(?:com )?quem (?:eu )?(?:falo|to falando|estou falando)|falando com quem"),
    ("scam", r"(?:voces|vcs|vces|empresa|isso) (?:sao|e|eh) (?:reais|real|de verdade|confiave\w*|serios?|seria"
             r"|legit\w*|idone\w*)"),
)  # fmt: skip
# One pass for all frames: the leftmost frame names the topic (at one place, the first listed above).
_FRAME_RE = re.compile("|".join(rf"\b(?P<f{n}>{words})" for n, (_, words) in enumerate(_FRAMES)))
_FRAME_TOPICS = {f"f{n}": topic for n, (topic, _) in enumerate(_FRAMES)}
# A frame yields to the words of another topic that name it plainly: "quanto é o sinal?" asks about the deposit.
_OUTWEIGHS = 2.5


def framed(clause: str) -> Topic | None:
    """The topic a question frame of ``clause`` names, or None."""
    m = _FRAME_RE.search(clause)
    return None if m is None or m.lastgroup is None else _FRAME_TOPICS[m.lastgroup]


def settle(clause: str, topic: Topic) -> Topic:
    """``topic`` when the agent is sure ``clause`` asks about it, a frame's topic when one names it, else
    ``other`` (the honest generic deferral). ``clause`` is the question with what leads into it since the last
    comma ("até onde vcs vão?", "o sinal é quanto?")."""
    totals, named = topics.profile(clause, skip=QUESTION_WORDS)
    if (frame := framed(clause)) is not None and not _outweighed(named, totals, frame):
        return frame
    if topic == "other":
        return topic
    own = totals.get(topic, 0.0)
    if own <= 0 or _rival(totals, topic) >= own + _MARGIN:
        return "other"
    return topic


def _outweighed(named: Topic, totals: dict[Topic, float], frame: Topic) -> bool:
    """A word of the clause names another topic (``named``) than the frame's, and outweighs the frame's words."""
    return named not in {"other", frame} and _rival(totals, frame) >= totals.get(frame, 0.0) + _OUTWEIGHS


def _rival(totals: dict[Topic, float], topic: Topic) -> float:
    return max((score for other, score in totals.items() if other != topic), default=0.0)
