"""One lead's whole day driven through the console in a real headless Chromium, against the real processes
`make run` starts (the `running` system): the lead writes on WhatsApp through evolution-manager's webhook (fake
Evolution posts it), agent-runtime answers and qualifies it, and the operator, signed in with the demo
company's key, sees it arrive live, finds it by name, reads the conversation, hands it off and replies (a double
click delivers one WhatsApp message, through agent-runtime and evolution-manager to fake Evolution); moves the
deal through the pipeline (a stale edit shown as a clear message), sends the contract through autentique-service
(fake Autentique), reminds the signer, sees it signed by fake Autentique's webhook, the deal won, the signed PDF
linked and the Purchase facebook-capi reported to fake Graph. A lead writing markup sees it shown as text;
another company's key sees none of it. Screenshots of each page go to ``CONSOLE_SCREENSHOTS``
(``.artifacts/console/`` by default)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from eventbus.testing.waiting import eventually
from wolfgang.demo import INSTANCE, PIXEL_ID

playwright = pytest.importorskip("playwright.async_api")
expect = playwright.expect

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

NUMBER = "5511955550177"
PARTY = date.today() + timedelta(days=90)
CONVERSATION = (
    "Oi! Boa tarde, quero fazer a festa do meu casamento com vocês",
    f"Vai ser dia {PARTY:%d/%m/%Y}, para uns 120 convidados",
    "Nosso orçamento é de R$ 30 mil, em São Paulo",
)
REPLY = "Olá Maria! Aqui é a Ana, da equipe. Podemos marcar uma visita no sábado?"
HOSTILE = "<img src=x onerror=alert(1)>"
#: What the real services take between a click and the page showing its effect (an agent's turn, a signature
#: through two services and a webhook, a batched conversion): longer than Playwright's 5 s default on a busy CI.
SLOW = 20_000


async def lead_writes(running, text: str) -> None:
    """The lead's WhatsApp message, as fake Evolution posts it to evolution-manager's webhook."""
    body = {"instance": INSTANCE, "template": "text", "params": {"from_number": NUMBER, "text": text}}
    sent = await running.http.post(f"{running.system.url('fake-evolution')}/_fake/webhooks/send", json=body)
    assert sent.json()["delivery"]["delivered"], sent.text


async def sent_to_the_lead(running) -> list[str]:
    """The texts fake Evolution was asked to deliver to the lead (each `sendText` call once)."""
    sent = (await running.http.get(f"{running.system.url('fake-evolution')}/_fake/sent")).json()
    return [s["request"]["text"] for s in sent if s["request"].get("number", "").lstrip("+") == NUMBER]


async def operator_key(running, company_id: str) -> str:
    """A key of every company scope, roomy: the company's operator key (the platform's admin route) makes it.
    The test clicks many times faster than a person, whom the default 100 requests a minute (bursts of 20) are
    for; the inbox's first page fits them (services/backoffice-api/tests/console/test_console_browser.py)."""
    api = running.system.url("backoffice-api")
    admin = {"Authorization": f"Bearer {running.system.credential('BACKOFFICE_ADMIN_TOKEN')}"}
    made = await running.http.post(f"{api}/admin/companies/{company_id}/keys", json={}, headers=admin)
    assert made.status_code == 201, made.text
    operator = made.json()
    body = {"name": "console day", "scopes": operator["scopes"], "rate_per_minute": 100_000, "burst": 10_000}
    roomy = await running.http.post(
        f"{api}/v1/admin/keys", json=body, headers={"X-API-Key": operator["api_key"]}
    )
    assert roomy.status_code == 201, roomy.text
    return str(roomy.json()["secret"])


async def test_one_leads_whole_day_through_the_console_against_the_real_services(
    running, console_page, screenshot
) -> None:
    page, demo = console_page, running.demo
    seed = await demo.seed()  # the demo company: its WhatsApp instance, its Conversions API settings
    assert not seed.problems, seed.problems
    key = await operator_key(running, seed.company_id)
    console = f"{running.system.url('backoffice-api')}/console/"
    since = datetime.now(UTC) - timedelta(seconds=5)

    # Morning: the operator signs in; the lead writes, arrives live and unread, the agent answers.
    await page.goto(console)
    await page.get_by_label("Chave de API").fill(key)
    await page.get_by_role("button", name="Entrar").click()
    await expect(page.locator("#live")).to_have_text("ao vivo")
    await lead_writes(running, CONVERSATION[0])
    created = await eventually(
        lambda: demo.find("lead.created", since, lambda e: e.payload.lead_external_id == f"wa:+{NUMBER}"),
        timeout=30,
    )
    lead_id = created.payload.lead_id
    row = page.locator(f'tr[data-lead="{lead_id}"]')
    await expect(row).to_contain_text(f"wa:+{NUMBER}")
    await expect(row).to_contain_text("casamento", timeout=SLOW)
    await expect(row).to_have_class("fresh unread")
    for text in CONVERSATION[1:]:
        await lead_writes(running, text)
    await expect(row).to_contain_text("qualified", timeout=SLOW)
    assert await page.evaluate("performance.getEntriesByType('navigation').length") == 1  # all of it live
    await screenshot(page, "inbox")

    # Found by the name the lead writes under on WhatsApp (fake Evolution's pushName).
    await page.get_by_label("Telefone ou nome").fill("maria sou")
    await page.get_by_role("button", name="Buscar", exact=True).click()
    result = page.locator("#search-result")
    await expect(result).to_have_text(f"maria souza · wa:+{NUMBER}", timeout=SLOW)
    await result.get_by_role("link", name=f"wa:+{NUMBER}").click()

    # The conversation: the lead's messages, the agent's answers, the qualification; hand off.
    await expect(page.get_by_role("heading", name="Conversa")).to_be_visible()
    timeline = page.locator(".timeline")
    await expect(timeline).to_contain_text(CONVERSATION[2])
    await expect(timeline.locator("li.a-agent")).to_have_count(len(CONVERSATION), timeout=SLOW)
    await expect(page.locator("#qualification")).to_contain_text("convidados")
    await page.get_by_label("Motivo").fill("quer visitar o salão")
    await page.get_by_role("button", name="Passar para humano").click()
    await expect(page.locator("#handoff-state")).to_contain_text("Com um humano — quer visitar o salão")

    # The reply: a double click sends once, delivered on WhatsApp once, shown as a human's message.
    await page.get_by_role("textbox", name="Responder").fill(REPLY)
    await page.locator("#reply-send").dblclick()
    await expect(page.locator("main").get_by_role("status").first).to_contain_text("Mensagem enviada")
    await expect(timeline.locator("li.a-human")).to_contain_text(REPLY, timeout=SLOW)
    delivered = await eventually(lambda: _with(sent_to_the_lead(running), REPLY), timeout=30)
    assert delivered.count(REPLY) == 1

    # A lead writing markup: shown as text, never run; the handed-off lead gets no agent answer.
    await lead_writes(running, HOSTILE)
    await expect(timeline).to_contain_text(HOSTILE, timeout=SLOW)
    assert await page.locator("main img").count() == 0
    await page.get_by_label("Responsável", exact=True).fill("Ana")
    await page.get_by_role("button", name="Salvar").click()
    await expect(page.locator("main").get_by_role("status").first).to_contain_text("Responsável: Ana")
    await screenshot(page, "conversation")

    # Afternoon: the deal (a seller makes it through the API), moved along the pipeline.
    api = running.system.url("backoffice-api")
    auth = {"X-API-Key": key}
    body = {"lead_id": lead_id, "value": 30000, "event": {"type": "casamento", "guests": 120}}
    made = await running.http.post(f"{api}/v1/deals", json=body, headers=auth)
    assert made.status_code == 201, made.text
    deal_id = made.json()["deal_id"]
    await page.goto(f"{console}#/pipeline")
    card = page.locator(f'li[data-deal="{deal_id}"]')
    await expect(page.locator('section[data-stage="new"]')).to_contain_text("R$\u00a030.000,00")
    await card.get_by_role("button", name="→ Qualificado").click()
    await expect(page.locator(f'section[data-stage="qualified"] [data-deal="{deal_id}"]')).to_be_visible()
    # A colleague moves it while this board is open: the board's next move is refused, and says so.
    moved = await running.http.put(
        f"{api}/v1/deals/{deal_id}/stage", json={"stage": "proposal"}, headers=auth
    )
    assert moved.status_code == 200, moved.text
    await card.get_by_role("button", name="→ Proposta").click()
    await expect(page.locator("#pipeline-status")).to_contain_text("Outra pessoa mudou este negócio")
    await expect(page.locator(f'section[data-stage="proposal"] [data-deal="{deal_id}"]')).to_be_visible()
    await screenshot(page, "pipeline")

    # The deal page: the contract sent through autentique-service to fake Autentique, the signer reminded.
    await card.get_by_role("link").click()
    await expect(page.get_by_role("heading", name="Negócio", exact=True)).to_be_visible()
    await page.get_by_label("Nome do assinante").fill("Maria Souza")
    await page.get_by_label("E-mail").fill("maria@example.com")
    await page.get_by_role("button", name="Enviar contrato").dblclick()
    await expect(page.locator("#contract-status")).to_contain_text("Assinantes 0/1", timeout=SLOW)
    await expect(page.locator("#deal-stage")).to_have_text("Contrato enviado", timeout=SLOW)
    contract = await eventually(
        lambda: demo.find("contract.created", since, lambda e: e.payload.deal_id == deal_id), timeout=30
    )
    documents = (await running.http.get(f"{running.system.url('fake-autentique')}/_fake/documents")).json()
    assert sum(1 for d in documents if contract.payload.contract_id in str(d)) == 1  # a double click: one
    await page.get_by_role("button", name="Lembrar assinantes").click()
    await expect(page.locator("#deal-status")).to_contain_text("Lembrete enviado a: 1", timeout=SLOW)

    # Evening: the signer signs at fake Autentique, whose webhook wins the deal; the Purchase reaches Meta.
    fake_autentique = running.system.url("fake-autentique")
    url = f"{fake_autentique}/_fake/documents/{contract.payload.document_id}/sign"
    assert (await running.http.post(url, json={"signer": 0})).status_code < 300
    await expect(page.locator("#deal-stage")).to_have_text("Ganho", timeout=SLOW)
    await expect(page.locator("#contract-status")).to_contain_text("Assinantes 1/1", timeout=SLOW)
    await expect(page.locator("#stage-history")).to_contain_text("Contrato enviado → Ganho")
    reported = page.locator("#deal-conversions")
    await expect(reported).to_contain_text("Purchase", timeout=SLOW)
    await expect(reported).to_contain_text("sent")
    pdf = page.locator("#signed-pdf")
    await pdf.click()
    signed_pdf = re.compile(rf"/documentos/{contract.payload.document_id}/assinado\.pdf$")
    await expect(pdf).to_have_attribute("href", signed_pdf)  # the file's address as fake Autentique gives it
    signed = await demo.find("contract.signed", since, lambda e: e.payload.deal_id == deal_id)
    assert signed is not None
    events = (
        await running.http.get(
            f"{running.system.url('fake-graph')}/_fake/events", params={"pixel_id": PIXEL_ID}
        )
    ).json()
    at_meta = Counter(r["event"]["event_name"] for r in events if r["event"]["event_id"] == signed.id)
    assert at_meta == Counter({"Purchase": 1})
    await screenshot(page, "deal")
    for name in ("instances", "ops", "metrics"):
        await page.goto(f"{console}#/{name}")
        await expect(page.locator(f'main[data-ready="{name}"]')).to_be_attached()
        await screenshot(page, name)
    assert page.dialogs == []

    # Another company's key sees none of it.
    other = await operator_key(running, "cmp_01JOTHERC0MPANY00000000000")
    await page.get_by_role("button", name="Sair").click()
    await page.get_by_label("Chave de API").fill(other)
    await page.get_by_role("button", name="Entrar").click()
    await expect(page.locator("#live")).to_have_text("ao vivo")
    await page.goto(f"{console}#/inbox")
    await expect(page.locator('main[data-ready="inbox"]')).to_be_attached()
    assert NUMBER not in await page.locator("main").inner_text()
    await page.goto(f"{console}#/pipeline")
    await expect(page.locator('main[data-ready="pipeline"]')).to_be_attached()
    assert "30.000" not in await page.locator("main").inner_text()
    await page.goto(f"{console}#/deal/{deal_id}")
    await expect(page.get_by_role("alert")).to_contain_text("404")
    await page.goto(f"{console}#/lead/{lead_id}")
    await expect(page.get_by_role("alert")).to_contain_text("404")


async def _with(texts, text: str) -> list[str] | None:
    found = await texts
    return found if text in found else None
