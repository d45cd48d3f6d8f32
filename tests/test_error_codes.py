"""Every error code the code base can send is in the catalogue that `doc_url` points at."""

from __future__ import annotations

import re
from pathlib import Path

from mboa.error_codes import ERROR_CODES
from tests.helpers import Api, assert_error

SOURCE = Path(__file__).resolve().parents[1] / "mboa"
# `code = "x"` (a class's code), `code="x"` (one raise), and `code="x" if … else "y"`.
CODE = re.compile(r'\bcode\s*=\s*"([a-z_]+)"(?:\s+if\s+[^\n]+?\s+else\s+"([a-z_]+)")?')
# Operator simulators and wire models speak the operators' vocabularies, not ours.
NOT_OURS = ("simulator", "providers/mtn_momo", "providers/orange_money")


def codes_in_source() -> set[str]:
    found: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        if any(part in path.as_posix() for part in NOT_OURS) or path.name == "error_codes.py":
            continue
        for match in CODE.finditer(path.read_text()):
            found.update(code for code in match.groups() if code)
    return found


def test_every_code_sent_is_in_the_catalogue_and_every_entry_is_sent() -> None:
    used = codes_in_source()
    assert len(used) > 30  # the scan found the codes
    assert used - set(ERROR_CODES) == set(), "add them to mboa/error_codes.py"
    assert set(ERROR_CODES) - used == set(), "the catalogue lists codes nothing sends"


async def test_the_catalogue_is_served_with_an_anchor_per_code(api: Api) -> None:
    response = await api.http.get("/docs/errors")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    for code in ERROR_CODES:
        assert f'id="{code}"' in response.text


async def test_an_error_links_to_its_entry(api: Api) -> None:
    error = assert_error(await api.http.get("/v1/customers"), 401)
    assert error["doc_url"] == f"{api.state.settings.base_url}/docs/errors#{error['code']}"
