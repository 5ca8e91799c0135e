"""The contract PDF: a company's text template, filled with the deal in pt-BR, laid out by fpdf2.

Templates are plain UTF-8 text, one per company (`<templates_dir>/<company_id>.txt`), falling back to the
packaged `templates/default.txt`:

- `# Title` is the title (first line), `## Heading` a section heading, other lines are paragraphs;
- `$name` / `${name}` placeholders (:class:`string.Template`): contract_id, deal_id, lead_id, value
  (`R$ 15.000,00`), value_number (`15.000,00`), currency, event_type, event_date (`16 de dezembro de 2025`),
  event_guests, event_location, signers (names), issued_on. An unknown placeholder is the template's fault:
  :class:`TemplateInvalid`, answered 500 with the name, never a contract with a hole in it.

Money and dates go through Babel's CLDR data (`format_currency`, `format_date` in `pt_BR`) rather than
hand-made separators. The PDF uses the core Helvetica font in Windows-1252, which covers Portuguese; any
character outside it (an emoji in a name) becomes "?" instead of failing the contract.
"""

from __future__ import annotations

import string
from datetime import date
from importlib import resources
from pathlib import Path

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from fpdf import FPDF
from servicekit import ServiceError

from autentique_service.models import ContractCreate

LOCALE = "pt_BR"
TO_BE_DEFINED = "a definir"
PLACEHOLDERS = frozenset(
    {
        "contract_id",
        "deal_id",
        "lead_id",
        "value",
        "value_number",
        "currency",
        "event_type",
        "event_date",
        "event_guests",
        "event_location",
        "signers",
        "issued_on",
    }
)


class TemplateInvalid(ServiceError):
    """A company's contract template cannot be used (an unknown placeholder, unreadable file)."""


def money(value: float, currency: str) -> str:
    """``R$ 15.000,00`` (with a no-break space, as CLDR writes it)."""
    return format_currency(value, currency, locale=LOCALE)


def long_date(day: date) -> str:
    """``16 de dezembro de 2025``."""
    return format_date(day, format="long", locale=LOCALE)


def load_template(company_id: str, templates_dir: Path | None) -> str:
    if templates_dir is not None:
        own = templates_dir / f"{company_id}.txt"
        if own.is_file():
            try:
                return own.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise TemplateInvalid(f"contract template of {company_id} is unreadable: {exc}") from exc
    return resources.files("autentique_service").joinpath("templates/default.txt").read_text(encoding="utf-8")


def fill(template: str, request: ContractCreate, *, contract_id: str, issued_on: date) -> str:
    unknown = set(string.Template(template).get_identifiers()) - PLACEHOLDERS
    if unknown:
        names = ", ".join(sorted(unknown))
        raise TemplateInvalid(f"contract template of {request.company_id} has unknown placeholders: {names}")
    event = request.event
    values = {
        "contract_id": contract_id,
        "deal_id": request.deal_id,
        "lead_id": request.lead_id or TO_BE_DEFINED,
        "value": money(request.value, request.currency),
        "value_number": format_decimal(request.value, format="#,##0.00", locale=LOCALE),
        "currency": request.currency,
        "event_type": event.type or TO_BE_DEFINED,
        "event_date": long_date(event.date) if event.date else TO_BE_DEFINED,
        "event_guests": format_decimal(event.guests, locale=LOCALE)
        if event.guests is not None
        else TO_BE_DEFINED,
        "event_location": event.location or TO_BE_DEFINED,
        "signers": ", ".join(s.name for s in request.signers),
        "issued_on": long_date(issued_on),
    }
    try:
        return string.Template(template).substitute(values)
    except (ValueError, KeyError) as exc:
        raise TemplateInvalid(f"contract template of {request.company_id} is invalid: {exc}") from exc


def _printable(text: str) -> str:
    return text.encode("cp1252", errors="replace").decode("cp1252")


def render_pdf(text: str, *, signers: list[str]) -> bytes:
    """Lay out filled template text, then a signature line per signer."""
    pdf = FPDF(format="A4")
    pdf.core_fonts_encoding = "windows-1252"
    pdf.set_title(_printable(text.splitlines()[0].lstrip("# ").strip() if text.strip() else "Contrato"))
    pdf.set_margins(22, 20, 22)
    pdf.add_page()
    for line in text.splitlines():
        line = _printable(line.rstrip())
        if not line:
            pdf.ln(3)
        elif line.startswith("## "):
            pdf.ln(2)
            pdf.set_font("Helvetica", style="B", size=12)
            pdf.multi_cell(0, 7, line[3:], new_x="LMARGIN", new_y="NEXT")
        elif line.startswith("# "):
            pdf.set_font("Helvetica", style="B", size=15)
            pdf.multi_cell(0, 8, line[2:], align="C", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
        else:
            pdf.set_font("Helvetica", size=11)
            pdf.multi_cell(0, 6, line, align="J", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(14)
    for name in signers:
        pdf.set_font("Helvetica", size=11)
        pdf.cell(0, 6, "_" * 48, new_x="LMARGIN", new_y="NEXT")
        pdf.cell(0, 6, _printable(name), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(10)
    return bytes(pdf.output())


def render_contract(
    request: ContractCreate, *, contract_id: str, templates_dir: Path | None, issued_on: date
) -> bytes:
    text = fill(
        load_template(request.company_id, templates_dir),
        request,
        contract_id=contract_id,
        issued_on=issued_on,
    )
    return render_pdf(text, signers=[s.name for s in request.signers])
