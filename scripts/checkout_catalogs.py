"""Bring the payment pages' and the dashboard's catalogs in step with the code: `make catalogs`.

For each of `mboa/checkout` and `mboa/dashboard`: extracts every marked string (`babel.cfg`)
into its `locale/messages.pot`, then updates
`fr` and `en` from it: new strings appear untranslated (English gets its own text), strings gone
from the code leave. Translate the new `fr` entries by hand; `tests/checkout/test_i18n.py` fails
until every string has both languages. The pages compile the catalogs themselves when they start
(`mboa.checkout.i18n`): there is no build step to remember.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("checkout", "dashboard")


def extract(package: str) -> Catalog:
    template = ROOT / "mboa" / package / "locale" / "messages.pot"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "pybabel"),
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "N_",
            "--no-location",
            "--omit-header",
            "--sort-output",
            "-o",
            str(template),
            str(ROOT / "mboa" / package),
        ],
        check=True,
        capture_output=True,
    )
    with template.open("rb") as pot:
        return read_po(pot)


def update(package: str, template: Catalog, locale: str) -> None:
    path = ROOT / "mboa" / package / "locale" / locale / "LC_MESSAGES" / "messages.po"
    known: dict[Any, Any] = {}
    if path.exists():
        with path.open("rb") as po:
            known = {m.id: m.string for m in read_po(po) if m.id and _translated(m.string)}
    catalog = Catalog(locale=locale, project=f"Mboa Pay {package}", fuzzy=False)
    for message in template:
        if not message.id:
            continue
        if message.pluralizable:  # ngettext: (singular, plural) in, one form per plural rule out
            forms = catalog.num_plurals
            english = tuple(message.id[:forms]) + (message.id[1],) * max(forms - 2, 0)
            plural = known.get(message.id) or (english if locale == "en" else ("",) * forms)
            catalog.add(message.id, tuple(plural))
            continue
        text = known.get(message.id) or (str(message.id) if locale == "en" else "")
        catalog.add(message.id, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as po:
        write_po(po, catalog, omit_header=False, no_location=True, sort_output=True)


def _translated(string: Any) -> bool:
    return all(string) if isinstance(string, (list, tuple)) else bool(string)


def main() -> None:
    for package in PACKAGES:
        template = extract(package)
        for locale in ("fr", "en"):
            update(package, template, locale)


if __name__ == "__main__":
    main()
