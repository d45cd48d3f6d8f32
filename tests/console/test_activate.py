"""The owner's Go live page over HTTP (docs/going-live.md): the forms, their errors in the
page's words, the roles, and the staff role mapping."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mboa.console.access import ROLE_PERMISSIONS, staff_role_of
from mboa.models import User
from tests.dashboard.conftest import csrf_of
from tests.helpers import Api
from tests.kyc.documents import JPEG, PDF, PROFILE, png

BrowserFor = Callable[..., Awaitable[Any]]


async def test_the_owner_fills_uploads_and_submits_from_the_page(
    shop: Api, browser_for: BrowserFor
) -> None:
    owner = await shop.signup(business="Chez Tonton")
    browser = await browser_for(owner)
    page = await browser.get("/dashboard/activate")
    assert page.status_code == 200
    assert 'action="/dashboard/activate/submit"' in page.text
    # A wrong number: the message, the typed values kept, nothing saved.
    wrong = await browser.post_form(
        "/dashboard/activate",
        "/dashboard/activate",
        **{**{k: str(v) for k, v in PROFILE.items()}, "settlement_phone": "12"},
    )
    assert wrong.status_code == 303
    shown = await browser.get("/dashboard/activate")
    assert 'role="alert"' in shown.text
    assert "Mama Ngono Couture SARL" in shown.text
    api_view = await shop.http.get(
        f"/v1/merchants/{owner.merchant_id}/kyc", headers=owner.user_headers
    )
    assert api_view.json()["profile"]["legal_name"] is None
    saved = await browser.post_form(
        "/dashboard/activate", "/dashboard/activate", **{k: str(v) for k, v in PROFILE.items()}
    )
    assert saved.status_code == 303
    # Not a PDF/PNG/JPEG: refused with words, nothing kept.
    token = csrf_of((await browser.get("/dashboard/activate")).text)
    bad = await browser.http.post(
        "/dashboard/activate/documents",
        data={"csrf": token, "kind": "proof_of_address"},
        files={"file": ("virus.pdf", b"MZ\x90\x00", "application/pdf")},
    )
    assert bad.status_code == 303
    assert "PDF, PNG" in (await browser.get("/dashboard/activate")).text
    # Without its CSRF token: refused, nothing kept.
    forged = await browser.http.post(
        "/dashboard/activate/documents",
        data={"kind": "proof_of_address"},
        files={"file": ("a.pdf", PDF, "application/pdf")},
    )
    assert forged.status_code == 303
    for kind, data in (
        ("representative_id", JPEG),
        ("business_registration", PDF),
        ("proof_of_address", png()),
    ):
        token = csrf_of((await browser.get("/dashboard/activate")).text)
        sent = await browser.http.post(
            "/dashboard/activate/documents",
            data={"csrf": token, "kind": kind},
            files={"file": (f"{kind}.bin", data, "application/octet-stream")},
        )
        assert sent.status_code == 303
    view = (
        await shop.http.get(f"/v1/merchants/{owner.merchant_id}/kyc", headers=owner.user_headers)
    ).json()
    assert [d["kind"] for d in view["documents"]] == [
        "representative_id",
        "business_registration",
        "proof_of_address",
    ]
    submitted = await browser.post_form("/dashboard/activate", "/dashboard/activate/submit")
    assert submitted.status_code == 303
    after = await browser.get("/dashboard/activate")
    assert 'data-status="submitted"' in after.text
    assert 'action="/dashboard/activate/submit"' not in after.text


async def test_a_missing_document_is_named_and_an_analyst_only_reads(
    shop: Api, browser_for: BrowserFor
) -> None:
    owner = await shop.signup()
    analyst = await shop.add_member(owner, "analyst")
    browser = await browser_for(owner)
    refused = await browser.post_form("/dashboard/activate", "/dashboard/activate/submit")
    assert refused.status_code == 303
    page = await browser.get("/dashboard/activate")
    assert 'role="alert"' in page.text
    assert '<ul class="missing">' in page.text
    reader = await browser_for(analyst)
    seen = await reader.get("/dashboard/activate")
    assert seen.status_code == 200
    assert 'action="/dashboard/activate/submit"' not in seen.text
    token = csrf_of(seen.text)
    sneaked = await reader.http.post(
        "/dashboard/activate", data={"csrf": token, "legal_name": "Pirate SARL"}
    )
    assert sneaked.status_code == 303
    view = (
        await shop.http.get(f"/v1/merchants/{owner.merchant_id}/kyc", headers=owner.user_headers)
    ).json()
    assert view["profile"]["legal_name"] is None


def test_staff_roles_and_the_platform_admin_flag() -> None:
    def user(role: str | None, admin: bool = False) -> User:
        return User(id="usr_x", email="x@mboa.cm", staff_role=role, is_platform_admin=admin)

    assert staff_role_of(user(None)) is None
    assert staff_role_of(user(None, admin=True)) == "superadmin"
    assert staff_role_of(user("support", admin=True)) == "support"
    assert staff_role_of(user("janitor")) is None
    assert "kyc:decide" not in ROLE_PERMISSIONS["support"]
    assert "kyc:decide" in ROLE_PERMISSIONS["compliance"]
    assert "payouts:approve" not in ROLE_PERMISSIONS["compliance"]
    assert "payouts:approve" in ROLE_PERMISSIONS["finance"]
    assert "staff:manage" in ROLE_PERMISSIONS["superadmin"]
