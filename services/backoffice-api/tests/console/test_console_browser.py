"""The console in a real headless Chromium (Debian's package, driven by Playwright from PyPI) against the real
app served by uvicorn on a free port, over the real Redis: sign in, a lead published on the bus appears live,
its conversation, the handoff; another company's key sees none of it; a lead's markup stays text; the CSP
refuses inline script. The harness (the app served, the browser, the page) is this folder's conftest.
Screenshots of each page go to ``.artifacts/console/`` (``CONSOLE_SCREENSHOTS`` overrides)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from eventbus import Bus, Consumer, DeadLetters, Envelope, PermanentFailure, Subscription
from eventbus.payloads import ContractCreated, LeadCreated, LeadQualified
from eventbus.testing import samples
from eventbus.testing.waiting import eventually
from ulid import ULID

expect = pytest.importorskip("playwright.sync_api").expect

COMPANY, OTHER = "cmp_A", "cmp_B"
READ_ONLY = ("leads:read", "events:read")
EVERY = (
    "leads:read", "leads:write", "deals:read", "contracts:read", "instances:read", "metrics:read",
    "events:read", "ops:admin",
)  # fmt: skip


def lead(company: str = COMPANY, phone: str = "+5511988887777", **fields: Any) -> Envelope[Any]:
    payload = LeadCreated(
        lead_id=f"lead_{ULID()}",
        company_id=company,
        channel="whatsapp",
        source="ads",
        lead_external_id=f"wa:{phone}",
        **fields,
    )
    return Envelope.new(payload, source="agent-runtime", company_id=company, occurred_at=datetime.now(UTC))


def message(company: str, phone: str, body: str) -> Envelope[Any]:
    return Envelope.new(
        samples.message_received(lead=phone, body=body), source="evolution-manager", company_id=company
    )


def test_a_lead_published_on_the_bus_appears_live_and_is_handed_off(page, served, upstreams):
    served.sign_in(page, served.key(scopes=EVERY))
    expect(page.locator("#inbox-rows")).to_have_text("Nada por aqui.")
    arrived = lead(phone="+5511911112222")
    served.publish(arrived)
    row = page.locator(f'tr[data-lead="{arrived.payload.lead_id}"]')
    expect(row).to_contain_text("wa:+5511911112222")  # live: no reload
    expect(page.locator("#inbox-rows tr")).to_have_count(1)  # and "nothing here" is gone
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    served.publish(message(COMPANY, "+5511911112222", "Quero um buffet para 80 pessoas"))
    expect(row).to_contain_text("Quero um buffet para 80 pessoas")

    row.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Conversa")).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text("Quero um buffet para 80 pessoas")
    served.publish(message(COMPANY, "+5511911112222", "Pode ser em março?"))
    expect(page.locator(".timeline li").last).to_contain_text("Pode ser em março?")  # live here too
    shown = page.locator("main").inner_text()
    assert "null" not in shown and "undefined" not in shown  # absent values are left out, not printed
    page.get_by_label("Motivo").fill("cliente pediu um humano")
    page.get_by_role("button", name="Passar para humano").click()
    expect(page.locator("#handoff-state")).to_contain_text("Com um humano — cliente pediu um humano")
    assert upstreams.handoffs[arrived.payload.lead_id]["reason"] == "cliente pediu um humano"
    assert "wbk_" not in page.url  # nothing secret in the address bar
    page.get_by_role("button", name="Devolver ao agente").click()
    expect(page.locator("#handoff-state")).to_have_text("Com o agente")
    assert arrived.payload.lead_id not in upstreams.handoffs


def test_a_new_leads_first_message_shows_on_its_row_though_it_came_before_the_lead(page, served):
    # As the services publish them: evolution-manager the message, then agent-runtime, which read it, the lead.
    served.sign_in(page, served.key(scopes=EVERY))
    phone = "+5511955501234"
    served.publish(message(COMPANY, phone, "Oi! Quero fazer meu casamento com vocês"))
    arrived = lead(phone=phone)
    served.publish(arrived)
    row = page.locator(f'tr[data-lead="{arrived.payload.lead_id}"]')
    expect(row).to_contain_text("Oi! Quero fazer meu casamento com vocês")
    expect(row).to_have_class("fresh unread")
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1


def test_another_companys_key_sees_none_of_it(page, served):
    mine = lead(phone="+5511933334444")
    served.publish(mine)
    other_key = served.key(OTHER, EVERY)
    served.sign_in(page, other_key)
    served.publish(lead(phone="+5511955556666"), lead(OTHER, phone="+5511977778888"))
    expect(page.locator("#inbox-rows")).to_contain_text("wa:+5511977778888")  # its own arrives live…
    page.reload()
    expect(page.locator("#inbox-rows")).to_contain_text("wa:+5511977778888")
    body = page.locator("main").inner_text()
    assert "+5511933334444" not in body and "+5511955556666" not in body  # …the other company's never
    page.goto(f"{served.url}/console/#/lead/{mine.payload.lead_id}")
    expect(page.get_by_role("alert")).to_contain_text("404")


def test_a_leads_markup_is_shown_as_text_and_never_runs(page, served):
    hostile = "<img src=x onerror=alert(1)>"
    arrived = lead(phone="+5511922223333")
    served.publish(arrived, message(COMPANY, "+5511922223333", hostile))
    served.sign_in(page, served.key(scopes=EVERY))
    page.goto(f"{served.url}/console/#/lead/{arrived.payload.lead_id}")
    expect(page.locator(".timeline")).to_contain_text(hostile)
    expect(page.get_by_text(hostile)).to_be_visible()
    assert page.locator("main img").count() == 0
    page.goto(f"{served.url}/console/#/inbox")
    expect(page.locator(f'tr[data-lead="{arrived.payload.lead_id}"]')).to_contain_text(hostile)
    assert page.locator("main img").count() == 0 and page.dialogs == []


def test_the_csp_refuses_an_inline_script(page, served):
    response = page.goto(f"{served.url}/console/")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.evaluate(
        """() => { const s = document.createElement('script'); s.textContent = 'window.ran = true';
                   document.head.append(s); }"""
    )
    assert page.evaluate("window.ran === undefined")
    deadline = time.monotonic() + 5
    while not violations and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert any("inline script" in v for v in violations), violations


def test_a_button_the_key_may_not_use_says_why(page, served):
    arrived = lead(phone="+5511944445555")
    served.publish(arrived)
    served.sign_in(page, served.key(scopes=READ_ONLY))
    expect(page.locator("nav a.denied", has_text="Métricas")).to_have_attribute(
        "title", "Sua chave não tem o escopo metrics:read"
    )
    page.goto(f"{served.url}/console/#/lead/{arrived.payload.lead_id}")
    expect(page.get_by_role("button", name="Passar para humano")).to_be_disabled()
    expect(page.locator("#handoff-why")).to_have_text("Sua chave não tem o escopo leads:write")
    page.goto(f"{served.url}/console/#/metrics")
    expect(page.get_by_role("note")).to_have_text("Sua chave não tem o escopo metrics:read.")


def test_the_inbox_catches_up_after_the_live_stream_drops(page, serve):
    # Streams end after 1 s: the reader must reconnect, and re-read the list, again and again.
    with serve(sse_max_lifetime_seconds=1.0) as served:
        streams = []
        page.on("request", lambda r: streams.append(r) if r.url.endswith("/v1/events/stream") else None)
        served.sign_in(page, served.key(scopes=EVERY))
        page.wait_for_timeout(2500)
        arrived = lead(phone="+5511966667777")
        served.publish(arrived)
        expect(page.locator(f'tr[data-lead="{arrived.payload.lead_id}"]')).to_be_visible()
        assert len(streams) >= 2
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1


def test_screenshots_of_every_page(page, served, screenshot, screenshots):
    phone = "+5511912345678"
    arrived = lead(phone=phone)
    qualified = LeadQualified.model_validate(
        {
            "lead_id": arrived.payload.lead_id,
            "company_id": COMPANY,
            "score": 0.82,
            "criteria": ["date", "guests", "budget"],
        }
    )
    served.publish(
        arrived,
        message(COMPANY, phone, "Olá! Quero um orçamento para um casamento com 120 convidados em março."),
        Envelope.new(qualified, source="agent-runtime", company_id=COMPANY),
        *(lead(phone=f"+55119000000{n:02d}") for n in range(6)),
    )
    served.sign_in(page, served.key(scopes=EVERY))
    expect(page.locator(f'tr[data-lead="{arrived.payload.lead_id}"]')).to_contain_text("casamento")
    screenshot(page, "inbox")
    for name, heading in (
        ("contracts", "Contratos"),
        ("instances", "Instâncias"),
        ("ops", "Operações"),
        ("metrics", "Métricas"),
    ):
        page.goto(f"{served.url}/console/#/{name}")
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        expect(page.locator(f'main[data-ready="{name}"]')).to_be_attached()
        screenshot(page, name)
    page.goto(f"{served.url}/console/#/lead/{arrived.payload.lead_id}")
    expect(page.locator(".timeline")).to_contain_text("casamento")
    screenshot(page, "conversation")
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(f"{served.url}/console/#/inbox")
    expect(page.locator(f'tr[data-lead="{arrived.payload.lead_id}"]')).to_be_visible()
    screenshot(page, "inbox-phone")
    assert {p.stem for p in screenshots.glob("*.png")} >= {"inbox", "conversation", "metrics", "inbox-phone"}


def test_labels_switch_to_english_and_the_choice_is_kept(page, served):
    served.sign_in(page, served.key(scopes=EVERY))
    page.get_by_label("Idioma").select_option("en")
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    expect(page.get_by_role("link", name="Metrics")).to_be_visible()
    page.reload()  # the key survives a reload of the tab (sessionStorage), the language too
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    assert page.evaluate("document.documentElement.lang") == "en"


def test_a_dead_letter_is_purged_only_after_a_confirmation(page, served):
    async def dead_letter() -> None:
        """What facebook-capi's group does with an event it cannot take: dead-letters it at once."""

        async def refuse(event: Envelope[Any]) -> None:
            raise PermanentFailure("meta said no")

        async with Bus.from_url(served.admin_url, source="tests", settings=served.bus_settings) as bus:
            subscription = Subscription("lead.created", refuse)
            consumer = Consumer(bus, "facebook-capi", [subscription], name="c1", block=timedelta(seconds=0.1))
            async with consumer.running():
                await bus.publish(lead(phone="+5511987654321"))
                letters = DeadLetters(bus, "lead.created", "facebook-capi")
                await eventually(lambda: _count(letters))

    served.run(dead_letter())
    served.sign_in(page, served.key(scopes=EVERY))
    page.get_by_role("link", name="Operações").click()
    page.get_by_label("Canal → Grupo").select_option("lead.created|facebook-capi")
    rows = page.locator("#dead-letters tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("meta said no")
    rows.get_by_role("button", name="Apagar").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Cancelar").click()
    expect(rows).to_contain_text("meta said no")  # cancelled: still there
    rows.get_by_role("button", name="Apagar").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Sim").click()
    expect(page.locator("main").get_by_role("status")).to_contain_text("Apagadas: 1")
    expect(rows).to_have_text("Nada por aqui.")


async def _count(letters: DeadLetters) -> int | None:
    return await letters.count() or None


def test_the_inbox_fits_a_default_rate_limit(page, served):
    # 30 leads with a message each, read with a key at the default 100/min and bursts of 20: the first page
    # is a handful of requests (no request per lead), so nothing is refused and every last message shows.
    phones = [f"+55119800000{n:02d}" for n in range(30)]
    served.publish(*(lead(phone=phone) for phone in phones))
    served.publish(*(message(COMPANY, phone, f"mensagem {phone[-2:]}") for phone in phones))
    refused = []
    page.on("response", lambda r: refused.append(r.url) if r.status == 429 else None)
    served.sign_in(page, served.key(scopes=EVERY, roomy=False))
    rows = page.locator("#inbox-rows tr")
    expect(rows).to_have_count(30)
    for row in range(30):
        expect(rows.nth(row)).to_contain_text("mensagem ")
    assert refused == []


def test_the_conversation_shows_the_leads_deal_and_contract(page, served):
    arrived = lead(phone="+5511923456789")
    served.publish(arrived)
    key = served.key(scopes=(*EVERY, "deals:write"))
    body = {"lead_id": arrived.payload.lead_id, "value": 12000, "event": {"type": "casamento", "guests": 120}}
    created = httpx.post(f"{served.url}/v1/deals", json=body, headers={"X-API-Key": key}, timeout=10)
    assert created.status_code == 201, created.text
    deal = created.json()
    contract = ContractCreated(
        contract_id=f"ctr_{ULID()}",
        deal_id=deal["deal_id"],
        company_id=COMPANY,
        value=12000,
        currency="BRL",
        lead_id=arrived.payload.lead_id,
        status="pending",
    )
    served.publish(Envelope.new(contract, source="autentique-service", company_id=COMPANY))
    served.sign_in(page, key)
    expect(page.locator(f'tr[data-lead="{arrived.payload.lead_id}"]')).to_contain_text("contract_sent")
    page.goto(f"{served.url}/console/#/lead/{arrived.payload.lead_id}")
    expect(page.locator("#deal")).to_have_text("R$\u00a012.000,00 · casamento · 120")
    expect(page.locator("#contract")).to_contain_text("Contratos: pending")
