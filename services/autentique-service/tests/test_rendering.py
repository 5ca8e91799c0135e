"""pt-BR formatting and the PDF layout, without Redis or Autentique."""

import io
from datetime import date

import pypdf
import pytest
from autentique_service.models import ContractCreate
from autentique_service.rendering import TemplateInvalid, fill, long_date, money, render_contract, render_pdf


def request(**overrides) -> ContractCreate:
    body = {
        "deal_id": "deal_7",
        "company_id": "cmp_1",
        "value": 15000,
        "signers": [{"name": "João Açaí", "email": "joao@example.com", "delivery": "email"}],
    }
    return ContractCreate.model_validate(body | overrides)


def text_of(pdf: bytes) -> str:
    pages = pypdf.PdfReader(io.BytesIO(pdf)).pages
    return " ".join(" ".join(p.extract_text() for p in pages).replace("\xa0", " ").split())


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (15000, "BRL", "R$ 15.000,00"),
        (1234.5, "BRL", "R$ 1.234,50"),
        (0.99, "BRL", "R$ 0,99"),
        (10, "USD", "US$ 10,00"),
    ],
)
def test_money_is_written_the_brazilian_way(value, currency, expected) -> None:
    assert money(value, currency).replace("\xa0", " ") == expected


def test_dates_are_written_in_portuguese() -> None:
    assert long_date(date(2025, 12, 16)) == "16 de dezembro de 2025"


def test_missing_event_details_read_a_definir() -> None:
    text = fill(
        "$event_type em $event_date para $event_guests",
        request(),
        contract_id="ctr_1",
        issued_on=date(2026, 1, 2),
    )

    assert text == "a definir em a definir para a definir"


def test_a_template_with_a_broken_placeholder_is_invalid() -> None:
    with pytest.raises(TemplateInvalid, match="unknown placeholders: nome"):
        fill("Olá $nome", request(), contract_id="ctr_1", issued_on=date(2026, 1, 2))
    with pytest.raises(TemplateInvalid, match="is invalid"):
        fill("Custa 10$", request(), contract_id="ctr_1", issued_on=date(2026, 1, 2))


def test_the_default_template_renders_a_readable_pdf_with_the_deal() -> None:
    pdf = render_contract(
        request(
            event={"type": "Formatura", "date": "2026-07-04", "guests": 1500, "location": "Clube Náutico"}
        ),
        contract_id="ctr_01ABC",
        templates_dir=None,
        issued_on=date(2026, 1, 2),
    )

    text = text_of(pdf)
    assert pdf.startswith(b"%PDF-")
    for expected in (
        "Contrato nº ctr_01ABC",
        "negociação deal_7",
        "Formatura",
        "4 de julho de 2026",
        "Clube Náutico",
        "1.500 convidados",
        "R$ 15.000,00",
        "João Açaí",
        "Emitido em 2 de janeiro de 2026",
    ):
        assert expected in text


def test_characters_outside_the_pdf_font_become_question_marks_instead_of_failing() -> None:
    pdf = render_pdf("# Contrato “especial” – €\nCliente: Zoë 🎉", signers=["Zoë 🎉"])

    text = text_of(pdf)
    assert "Contrato “especial” – €" in text
    assert "Cliente: Zoë ?" in text
