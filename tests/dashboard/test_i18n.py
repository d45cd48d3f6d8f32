"""Every string of the dashboard exists in French and in English, and every error a form can
meet has its words (docs/dashboard.md, "Languages")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from mboa.dashboard.i18n import catalog_path
from mboa.dashboard.messages import MESSAGES, error_message
from mboa.dashboard.service import search_filters
from mboa.web.i18n import LOCALES

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
            str(ROOT / "mboa" / "dashboard"),
        ],
        check=True,
        capture_output=True,
    )
    with template.open("rb") as pot:
        wanted = {m.id for m in read_po(pot) if m.id}
    assert len(wanted) > 50
    for locale in LOCALES:
        with catalog_path(locale).open("rb") as po:
            catalog = read_po(po)
        translated = {
            m.id
            for m in catalog
            if m.id and not m.fuzzy and (all(m.string) if isinstance(m.string, tuple) else m.string)
        }
        missing = sorted(map(str, wanted - translated))
        assert not missing, f"{locale}: translate these (make catalogs): {missing}"


def test_every_form_error_has_words_in_both_languages() -> None:
    for code in MESSAGES:
        french, english = error_message(code, "fr"), error_message(code, "en")
        assert french
        assert english
        assert french != english, code


def test_the_search_box_reads_ids_numbers_and_words() -> None:
    assert search_filters("pi_01JD5Z8Q4Y") == {"intent_id": "pi_01JD5Z8Q4Y"}
    assert search_filters("cus_01JD") == {"customer_id": "cus_01JD"}
    assert search_filters("+237 6 70 00") == {
        "phone_part": "23767000",
        "text_part": "+237 6 70 00",
    }
    assert search_filters("order-67") == {"text_part": "order-67"}
    assert search_filters("   ") == {}
