"""A payment's receipt as a PDF (fpdf2), in French or English: what the payer keeps.

Presentation only, as `rendering.py` is for the pages: the facts come from the receipts service
(`mboa.receipts.service.ReceiptFacts`), the words from the payment pages' catalogs (the same
`Amount`, `Paid to`, … as the success screen), the numbers from `mboa.web.formatting`
(`12 500 FCFA`, Cameroon time). The font is DejaVu Sans (a subset bundled in `fonts/`, its
licence beside it): every French accent, the narrow no-break space of French amounts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from pathlib import Path

from fpdf import FPDF
from PIL import Image

from mboa.checkout.i18n import translations
from mboa.checkout.rendering import OPERATOR_NAMES
from mboa.web.formatting import local_time, money

FONTS = Path(__file__).resolve().parent / "fonts"


def N_(message: str) -> str:
    return message


TITLE = N_("Payment receipt")
LABELS = {
    "amount": N_("Amount"),
    "merchant": N_("Paid to"),
    "date": N_("Date"),
    "operator": N_("Paid with"),
    "transaction": N_("Operator transaction ID"),
    "payer": N_("Payer"),
    "payment": N_("Payment ID"),
    "reference": N_("Reference"),
    "description": N_("Description"),
}
# Identifiers are printed bold and kept on one line (`_one_line_size`).
IDENTIFIERS = ("payment", "transaction")
MIN_IDENTIFIER_SIZE = 6.5
STATUS = N_("Payment received")
TEST = N_("Test mode: no real money moved.")
FOOTER = N_("Receipt issued by Mboa Pay on behalf of %(merchant)s.")


@dataclasses.dataclass(frozen=True, slots=True)
class ReceiptFacts:
    """Everything a receipt states, read once by the receipts service."""

    payment_intent_id: str
    merchant_name: str
    amount: int
    currency: str
    succeeded_at: dt.datetime
    provider: str | None
    operator_transaction_id: str | None
    phone_masked: str | None
    reference: str | None
    description: str | None
    livemode: bool


def render_receipt(facts: ReceiptFacts, locale: str, logo: bytes | None = None) -> bytes:
    """The receipt's PDF bytes (A5, one page). CPU work: call it in a thread."""
    gettext = translations(locale).gettext
    pdf = FPDF(format=(148, 210), unit="mm")  # A5
    pdf.set_creator("Mboa Pay")
    pdf.set_title(f"{gettext(TITLE)} {facts.payment_intent_id}")
    pdf.set_lang(locale)
    pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.set_margins(12, 12, 12)
    pdf.add_page()
    width = pdf.epw

    if not facts.livemode:
        pdf.set_fill_color(255, 237, 204)
        pdf.set_font("DejaVu", "B", 9)
        pdf.cell(width, 7, gettext(TEST), align="C", fill=True, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)

    if logo:
        _logo(pdf, logo)
    pdf.set_font("DejaVu", "B", 14)
    pdf.multi_cell(width, 7, facts.merchant_name, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("DejaVu", "", 11)
    pdf.set_text_color(90, 90, 90)
    pdf.cell(width, 6, gettext(TITLE), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(2)
    pdf.set_font("DejaVu", "B", 22)
    pdf.cell(width, 11, money(facts.amount, facts.currency, locale), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "B", 10)
    pdf.set_text_color(20, 110, 50)
    pdf.cell(width, 6, gettext(STATUS), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(4)

    rows = [
        ("merchant", facts.merchant_name),
        ("date", local_time(facts.succeeded_at, locale, "d MMMM y, HH:mm")),
        ("operator", OPERATOR_NAMES.get(facts.provider or "", facts.provider)),
        ("transaction", facts.operator_transaction_id),
        ("payer", facts.phone_masked),
        ("payment", facts.payment_intent_id),
        ("reference", facts.reference),
        ("description", facts.description),
    ]
    label_width = width * 0.36
    value_width = width - label_width
    pdf.set_draw_color(220, 220, 220)
    line = 5.5
    for name, value in rows:
        if not value:
            continue
        label = gettext(LABELS[name])
        identifier = name in IDENTIFIERS
        bold = "B" if identifier else ""
        size = _one_line_size(pdf, value_width, value) if identifier else 9.0
        pdf.set_font("DejaVu", "", 9)
        label_lines = _lines(pdf, label_width, line, label)
        pdf.set_font("DejaVu", bold, size)
        value_lines = _lines(pdf, value_width, line, value)
        height = line * max(label_lines, value_lines)
        if pdf.will_page_break(height + 1):
            pdf.add_page()
        top = pdf.get_y()
        pdf.set_font("DejaVu", "", 9)
        pdf.set_text_color(90, 90, 90)
        pdf.multi_cell(label_width, line, label, align="L", new_x="RIGHT", new_y="TOP")
        pdf.set_text_color(0, 0, 0)
        pdf.set_font("DejaVu", bold, size)
        pdf.multi_cell(value_width, line, value, align="L", new_x="LMARGIN", new_y="TOP")
        bottom = top + height + 1
        pdf.line(pdf.l_margin, bottom, pdf.l_margin + width, bottom)
        pdf.set_y(bottom + 1)

    pdf.ln(6)
    pdf.set_font("DejaVu", "", 8)
    pdf.set_text_color(110, 110, 110)
    pdf.multi_cell(width, 4.5, gettext(FOOTER) % {"merchant": facts.merchant_name}, align="L")
    return bytes(pdf.output())


def _one_line_size(pdf: FPDF, width: float, text: str) -> float:
    """The font size (9 pt, down to 6.5) at which an identifier fits on one line: a payer reads
    `pi_…` or the operator's transaction ID out to support, and a wrapped one gets misread (an
    id of wide letters, `pi_…MWW…`, is a third wider than one of digits)."""
    pdf.set_font("DejaVu", "B", 9)
    natural = pdf.get_string_width(text)
    room = width - 2 * pdf.c_margin  # a cell keeps a margin on both sides of its text
    if natural <= room:
        return 9.0
    return max(MIN_IDENTIFIER_SIZE, int(9.0 * room / natural * 10) / 10)


def _lines(pdf: FPDF, width: float, height: float, text: str) -> int:
    """How many lines `text` takes in a cell this wide, in the current font."""
    lines = pdf.multi_cell(width, height, text, dry_run=True, output="LINES")
    assert isinstance(lines, list)
    return max(len(lines), 1)


def _logo(pdf: FPDF, logo: bytes) -> None:
    """The merchant's logo (stored re-encoded, `mboa.storage.uploads`), at most 18 mm high
    and 45 mm wide; a logo that cannot be read is left out, the receipt is not."""
    try:
        with Image.open(io.BytesIO(logo)) as image:
            image.load()
            picture = image.convert("RGBA")
    except (OSError, ValueError):
        return
    ratio = picture.width / max(picture.height, 1)
    height = min(18.0, 45.0 / ratio)
    pdf.image(picture, x=pdf.l_margin, y=pdf.get_y(), h=height, w=height * ratio)
    pdf.set_y(pdf.get_y() + height + 3)
