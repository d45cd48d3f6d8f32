"""Every string of the payment pages exists in French and in English, and every failure a payer
can meet has its words (docs/checkout.md, "Languages")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from mboa.checkout.i18n import LOCALES, catalog_path, negotiate
from mboa.checkout.messages import MESSAGES, error_message
from mboa.checkout.rendering import money
from mboa.payments.service import ERRORS

ROOT = Path(__file__).resolve().parents[2]


def test_every_string_in_the_code_is_translated_in_both_catalogs(tmp_path: Path) -> None:
    template = tmp_path / "messages.pot"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "pybabel"),
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "N_",
            "-o",
            str(template),
            str(ROOT / "mboa" / "checkout"),
        ],
        check=True,
        capture_output=True,
    )
    with template.open("rb") as pot:
        wanted = {str(m.id) for m in read_po(pot) if m.id}
    assert len(wanted) > 50
    for locale in LOCALES:
        with catalog_path(locale).open("rb") as po:
            catalog = read_po(po)
        translated = {str(m.id) for m in catalog if m.id and m.string and not m.fuzzy}
        missing = sorted(wanted - translated)
        assert not missing, f"{locale}: translate these (make catalogs): {missing}"


def test_every_payment_failure_has_a_message_in_both_languages() -> None:
    codes = {code for code, _, _ in ERRORS.values()} | {"payment_failed"}
    assert codes <= set(MESSAGES)
    for code in codes:
        french, english = error_message(code, "fr"), error_message(code, "en")
        assert french
        assert english
        assert french != english, code


def test_amounts_and_languages() -> None:
    assert money(12500, "XAF", "fr") == "12\u202f500\u00a0FCFA"
    assert money(12500, "XAF", "en") == "12,500\u00a0FCFA"
    assert negotiate("en-US,en;q=0.9,fr;q=0.8") == "en"
    assert negotiate("de-DE, fr;q=0.3, en;q=0.2") == "fr"
    assert negotiate("en;q=0.5, fr") == "fr"
    assert negotiate(None) == "fr"
