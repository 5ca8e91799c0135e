"""The questions leads ask, recognised in a normalized message (``vocabulary.normalize``).

A question is a clause that ends in "?" or opens like one ("qual o valor", "vcs atendem…", "quanto fica…");
it runs from its first interrogative word to the end of the sentence, so that "casamento dia 12/03, qual o
valor?" keeps its statement. A request is a question too ("manda a localização", "me passa o cardápio":
``topics.request_at``), and a clause whose topic the patterns below cannot name is scored word by word
(``topics.classify``) before it is called ``other``. ``extract`` blanks every question before reading slots:
what a lead asks about ("vocês atendem em Jundiaí?") is never taken as what they said.

Linear on any text: the sentence split is one pass, each pattern runs on one clause once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent_runtime import topic_confidence, topics
from agent_runtime.topics import Topic
from agent_runtime.vocabulary import MONTHS


@dataclass(frozen=True)
class Asked:
    topic: Topic
    start: int
    end: int
    clause: str
    context: str = ""  # the clause with what leads into it since the last comma ("a festa pode ir até…?")


# A full stop ends a sentence only before a space or the end: "12.03" and "15.000" stay whole.
_SENTENCE = re.compile(r"(?:[^.!?;\n]|\.(?=[^\s.!?;]))+[.!?;\n]*")
# Where a question starts when the sentence ends in "?": any of these. Without "?": only the unambiguous ones.
_OPENERS = (
    r"qual|quais|quanto|quantos|quantas|qto|qts|qnto|onde|como|quando|voces|vcs|vc|voce|tem|teria|tens|sera"
    r"|da pra|da para|aceitam|aceita|fazem|faz|atendem|atende|podem|pode|pra que|por que|porque|existe|isso e"
    r"|ta|esta|estao|posso|consigo|gostaria de saber|queria saber|quero saber"
    r"|o que|oq|oque|que horas|ate que horas|a que horas|ate quando|quem"
)
_STRONG = re.compile(
    # "qual"/"quais" ask, save as a relative pronoun ("o qual", "as quais"); checked only where one matched.
    r"\bqua(?:l|is)\b(?<!\bo qual)(?<!\ba qual)(?<!\bos quais)(?<!\bas quais)"
    r"|\b(?:o que (?:que )?(?:ta|esta|vem|tem|inclui|serve|servem|e)|onde (?:fica|ficam|e|esta|estao)"
    r"|como (?:que )?(?:e|funciona|fica|faz|faco)|quantas vezes|da pra (?:parcelar|dividir|pagar)"
    r"|(?:queria|quero|gostaria de) (?:ver|conhecer|receber)|(?:medo|receio) de (?:ser )?(?:golpe|fraude)|golpe"
    r"|qual (?:o|a|e|seria|fica)|quais (?:sao|as|os)|quanto (?:custa|fica|sai|e|seria|cobram|voces cobram)"
    r"|qto|qnto|quanto|(?:voces|vcs|vc|voce) (?:atendem|atende|fazem|faz|vao|aceitam|aceita|tem|trabalham|cobram"
    r"|sao|e|ficam|fica|parcelam|servem|emitem|oferecem|fornecem|possuem|abrem|funcionam|montam|levam)"
    r"|gostaria de saber|queria saber|quero saber|preciso saber|pode(?:ria)? me (?:passar|dizer|informar|mandar)"
    r"|me (?:passa|fala|diz|informa|manda|envia) (?:o|a|os|as)|tem (?:cardapio|data|vaga|disponibilidade|horario)"
    r"|e golpe|eh golpe|e confiavel|e robo|eh robo|e um robo|e uma ia|e bot)\b"
)
_OPENER = re.compile(rf"\b(?:{_OPENERS})\b")

_TOPIC_WORDS: tuple[tuple[Topic, str], ...] = (
        ("robot", r"robo|robos|bot|chatbot|chat bot|assistente virtual|automatizad[oa]|alguem de verdade|ia"
         r"|inteligencia artificial|maquina|automatic[oa]|pessoa de verdade|gente de verdade"
         r"|humano|humana|uma pessoa|e gente"),
        ("scam", r"golpe|golpes|confiavel|confiaveis|seguro|fraude|verdade isso|cnpj|empresa seria|real|furada"
         r"|pegadinha|enganacao|existem|existe mesmo|empresa de verdade|reclame aqui|de verdade|avaliacao|avaliacoes"
         r"|referencias|depoimentos|sao reais|confiar|confianca"),
        # Topics named by one plain word, before the words they share ("vaga" of a car, "sinal" given back).
        ("parking", r"estacionamento|estacionar|estaciona|manobrista|manobristas|valet|carro|carros|garagem"),
        # The day the team works is hours, not a city served ("vcs atendem aos domingos?").
        ("hours", r"(?:atendem|atende|abrem|abre|funcionam|funciona|trabalham|trabalha) (?:aos|nos|no|de|em|a|"
         r"durante o) (?:domingos?|sabados?|feriados?|fim de semana|fins de semana|finais de semana|final de semana)"),
        ("cancellation", r"cancelar|cancelamento|cancela|desmarcar|desistir|desistencia|desisto|remarcar|reagendar"
         r"|(?:mudar|trocar|alterar) (?:a|de) data|troca de data|mudanca de data"
         r"|multa|reembolso|devolve|devolvem|devolucao|estorno"),
        # A child's price ("criança paga?", "criança até quantos anos não paga?") is about price, not payment.
        ("price", r"(?:crianca|criancas|adulto|adultos|bebe|bebes)\b(?: \w+){0,4} (?:paga|pagam|pagante|meia"
         r"|inteira|gratis)"),
        # What a clause is plainly about, before the words it shares with other topics ("a bebida tá inclusa no
        # valor?" is about what is included, "o que vcs servem de entrada?" about the menu, not a down payment).
        ("included", r"inclus[oa]s?|inclui|incluem|incluid[oa]s?|vem junto|ja vem|levam|fornecem"
         # Charged apart is not included: "cobram à parte o DJ?", "o garçom é separado?", "é por fora?".
         r"|(?:cobrad[oa]s?|cobram|cobra|pago|pagos|e) (?:a parte|separad[oa]s?|por fora)|a parte ou|separado ou"),
        ("menu", r"serve|servem|servir|cardapios?|menu"),
        # Paying to hold a date is a deposit ("pra garantir a data preciso pagar algo antes?").
        ("payment", r"pagar (?:algo|alguma coisa|antes|adiantado)|(?:garantir|reservar|segurar|travar) a data"),
        ("availability", r"disponivel|disponiveis|disponibilidade|livre|vaga|vagas|agenda|data|datas|ocupad[oa]"),
        ("payment", r"pagamento|pagar|parcela|parcelas|parcelar|parcelam|parcelamento|parcelad[oa]|pix|cartao|boleto"
         r"|entrada|sinal|transferencia|deposito|ted|dividir|quantas vezes|nota fiscal|debito|credito|dinheiro"
         r"|faturamento|faturado|faturar|faturam|(?:emitem|emite) nota"
         r"|forma de pagamento|formas de pagamento|a vista"),
        ("cities", r"deslocamento|taxa de viagem|vao ate|vem ate|(?:ir|vir) ate (?!que\b)|viajam"
         r"|atendem (?:em|na|no|a|fora)"
         r"|fazem (?:evento|festa)s? em"),
        ("price", r"valor|valores|preco|precos|custa|custam|custo|cobram|cobra|orcamento minimo|promocao|promocoes"
         r"|desconto|descontos|por cabeca|faixa de preco|investimento|por pessoa"),
        ("included", r"incluso|inclusos|inclusa|inclui|incluem|incluido|incluida|o que vem|que vem no|o que tem no"
         r"|garcom|garcons|bebida|bebidas|decoracao|servico|servicos|pacote|pacotes|mesas|cadeiras|louca|toalhas"),
        ("menu", r"cardapio|cardapios|menu|comida|comidas|pratos|prato|salgado|salgados|doces|bolo|opcoes de buffet"
         r"|churrasco|vegetariana|vegetariano|vegetarianas|vegana|vegano|veganos|sem gluten|jantar|almoco|coquetel"
         r"|finger food|massas|sobremesa|sobremesas|servem|refrigerante|refrigerantes|refri|suco|sucos|cerveja|chopp"
         r"|drink|drinks|alcool|alcoolica|alcoolicas|buffet"),
        ("hours", r"horario|horarios|que horas|abrem|abre|funcionamento|funcionam|expediente|ate quando"),
        ("price", r"quanto|qto|qnto|tabela|orcamento|sai por"),
        ("address", r"endereco|localizacao|onde fica|fica onde|onde voces ficam|ficam onde|onde e o espaco"
         r"|onde e a empresa|onde estao|loja fisica|bairro|onde|espaco de voces|ficam perto|perto d[oa]|centro"
         r"|(?:espaco|salao|local|lugar)(?: e| eh)? propri[oa]|local do cliente"),
        ("cities", r"atendem|atende|atendimento em|vao ate|vem ate|fazem em|faz em|regiao|deslocamento|viajam|viagem"
         r"|trabalham em|cidade|cidades"),
)  # fmt: skip
_TOPICS = tuple((topic, re.compile(rf"\b(?:{words})\b")) for topic, words in _TOPIC_WORDS)


# A request said as a bare noun, without "?" ("preço pfv", "cardápio por favor"): the whole sentence, when short.
_NOUN_ASK = re.compile(
    r"^\s*(?:e\s+)?(?:o |a |os |as )?(?:preco|precos|valor|valores|cardapio|cardapios|menu|endereco|localizacao"
    r"|horario|horarios|formas? de pagamento|tabela(?: de precos?)?)(?:\s+(?:pfv|pf|por favor|pls|ai|por gentileza))?"
    r"\s*[.!]*\s*$"
)


def find(text: str) -> list[Asked]:
    """The questions in ``text`` (normalized), in order; each with its topic (``other`` when none fits)."""
    found: list[Asked] = []
    for sentence in _SENTENCE.finditer(text):
        body = sentence.group(0)
        asks = "?" in body
        opener = _OPENER.search(body) if asks else _STRONG.search(body)
        request = topics.request_at(body)  # "manda a localização", "150 pessoas, me passa o cardápio"
        if request is not None and (opener is None or request < opener.start()):
            start = request
        elif opener is not None:
            start = opener.start()
        elif asks:
            start = body.rfind(",", 0, body.index("?")) + 1  # "casamento, 100 pessoas?": the end
        elif _NOUN_ASK.match(body):
            start = 0
        else:
            continue
        clause = body[start:].strip()
        if not clause.strip(" ?"):
            continue
        topic, rank = _topic_ranked(clause)
        if start > 0:
            # "a agenda de junho tá aberta?", "o sinal é quanto?": the subject before the opener may say what is
            # asked more plainly than the opener's clause; the statement stays out when a comma ends it
            # ("casamento dia 12, tem como?"). A date before "tá livre?" is the date asked about, not one given.
            wider = body.rfind(",", 0, start) + 1
            widened, wider_rank = _topic_ranked(body[wider:])
            if widened == "other" and topic == "other" and asks and _A_DATE.search(body[wider:start]):
                widened = "availability"  # "20 de junho vcs tem?"
            dated = widened == "availability" and _A_DATE.search(body[wider:start]) is not None
            if widened != "other" and (topic == "other" or wider_rank < rank or dated):
                if topic == "other" or dated:
                    start, clause = wider, body[wider:].strip()
                topic = widened
        sure = False  # a request's object names what it asks for: no guess to check
        if request is not None and start == request and (named := topics.named_first(clause)) != "other":
            topic, sure = named, True  # a request asks for its object: "me envia a localização do buffet"
        if topic == "other":
            topic = topics.classify(clause)  # "a festa dura quantas horas?", "tem fotos dos eventos?"
        # Never answer on a guessed topic: a frame names it, or the clause's topic words must back it.
        context = body[body.rfind(",", 0, start) + 1 :].strip()
        if not sure:
            topic = topic_confidence.settle(context, topic)
        found.append(Asked(topic, sentence.start() + start, sentence.end(), clause, context))
    return found


def _topic(clause: str) -> Topic:
    return _topic_ranked(clause)[0]


def _topic_ranked(clause: str) -> tuple[Topic, int]:
    """The topic of ``clause`` and the rank of the pattern that named it (lower: plainer)."""
    for rank, (topic, pattern) in enumerate(_TOPICS):
        if pattern.search(clause):
            if topic == "price" and not _about_price(clause):
                continue
            return topic, rank
    return "other", len(_TOPICS)


# A day with its month ("20 de junho", "18/04"): what "tem?" or "tá livre?" after it asks about.
_A_DATE = re.compile(rf"\b\d{{1,2}}(?:/\d{{1,2}}|\s+de\s+(?:{'|'.join(MONTHS)}))\b")


def _about_price(clause: str) -> bool:
    # "quantos convidados cabem?" is not about money, "quanto fica para 100 pessoas?" is.
    return not re.search(r"\bquant[oa]s\b", clause) or bool(
        re.search(r"valor|preco|custa|custo|cobram|paga|pagam", clause)
    )
