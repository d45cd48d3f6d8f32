"""Going live through the API (docs/going-live.md): the profile, the three documents, the
submission refused while something is missing, staff's rejection and approval, and live keys
refused until the account is active."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import Account, Api, assert_error, bearer
from tests.kyc.documents import JPEG, PDF, PROFILE, png


def _kyc(account: Account) -> str:
    return f"/v1/merchants/{account.merchant_id}/kyc"


async def upload(
    api: Api, account: Account, kind: str, data: bytes, name: str = "doc.pdf"
) -> httpx.Response:
    return await api.http.post(
        f"{_kyc(account)}/documents",
        data={"kind": kind},
        files={"file": (name, data, "application/octet-stream")},
        headers=account.user_headers,
    )


async def complete(api: Api, account: Account) -> None:
    response = await api.http.post(_kyc(account), json=PROFILE, headers=account.user_headers)
    assert response.status_code == 200, response.text
    for kind, data in (
        ("representative_id", JPEG),
        ("business_registration", PDF),
        ("proof_of_address", png()),
    ):
        uploaded = await upload(api, account, kind, data)
        assert uploaded.status_code == 200, uploaded.text


async def _live_key(api: Api, account: Account) -> httpx.Response:
    return await api.http.post(
        f"/v1/merchants/{account.merchant_id}/api_keys",
        params={"livemode": "true"},
        json={},
        headers=account.user_headers,
    )


async def _events(api: Api, account: Account) -> list[dict[str, Any]]:
    response = await api.http.get(
        "/v1/events", params={"type": "account.updated"}, headers=account.key_headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def test_the_whole_round_trip(api: Api) -> None:
    account = await api.signup(business="Mama Ngono Couture")
    staff = await api.staff("compliance")

    fresh = (await api.http.get(_kyc(account), headers=account.user_headers)).json()
    assert fresh["status"] == "sandbox"
    assert fresh["editable"] is True
    assert "legal_name" in fresh["missing"]
    assert "documents[proof_of_address]" in fresh["missing"]

    # Profile only: the submission names each missing document, and nothing changes.
    await api.http.post(_kyc(account), json=PROFILE, headers=account.user_headers)
    assert (await upload(api, account, "representative_id", JPEG)).status_code == 200
    refused = await api.http.post(f"{_kyc(account)}/submit", headers=account.user_headers)
    error = assert_error(refused, 400, code="kyc_incomplete")
    assert "documents[business_registration]" in error["message"]
    assert "documents[proof_of_address]" in error["message"]
    assert "representative_id" not in error["message"]
    assert (await api.http.get(_kyc(account), headers=account.user_headers)).json()[
        "status"
    ] == "sandbox"

    await complete(api, account)
    assert_error(await _live_key(api, account), 403)
    submitted = await api.http.post(f"{_kyc(account)}/submit", headers=account.user_headers)
    assert submitted.status_code == 200, submitted.text
    body = submitted.json()
    assert body["status"] == "submitted"
    assert body["missing"] == []
    assert body["editable"] is False
    assert body["profile"]["settlement_phone"] == "+237670000001"
    assert [d["kind"] for d in body["documents"]] == [
        "representative_id",
        "business_registration",
        "proof_of_address",
    ]
    # Frozen under review.
    frozen = await api.http.post(
        _kyc(account), json={"city": "Yaoundé"}, headers=account.user_headers
    )
    assert_error(frozen, 400, code="kyc_not_editable")

    rejected = await api.http.post(
        f"/v1/admin/merchants/{account.merchant_id}/reject",
        json={"reason": "The proof of address is older than three months."},
        headers=bearer(staff),
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    seen = (await api.http.get(_kyc(account), headers=account.user_headers)).json()
    assert seen["rejection_reason"] == "The proof of address is older than three months."
    assert seen["editable"] is True
    assert_error(await _live_key(api, account), 403)

    # Fix and resubmit.
    assert (await upload(api, account, "proof_of_address", PDF)).status_code == 200
    again = await api.http.post(f"{_kyc(account)}/submit", headers=account.user_headers)
    assert again.json()["status"] == "submitted", again.text

    approved = await api.http.post(
        f"/v1/admin/merchants/{account.merchant_id}/approve",
        json={"reason": "Proof of address is recent."},
        headers=bearer(staff),
    )
    assert approved.json()["status"] == "active", approved.text
    assert (await _live_key(api, account)).status_code == 200
    assert (await api.http.get(_kyc(account), headers=account.user_headers)).json()[
        "rejection_reason"
    ] is None

    # account.updated for each change (test mode shown here; live mode has the same).
    statuses = [e["data"]["object"]["status"] for e in await _events(api, account)]
    assert statuses == ["active", "submitted", "rejected", "submitted"]


async def test_documents_are_checked_by_their_bytes_and_size(api: Api) -> None:
    account = await api.signup()
    assert_error(
        await upload(api, account, "proof_of_address", b"MZ\x90\x00 not a pdf", "x.pdf"),
        400,
        code="kyc_document_invalid",
    )
    assert_error(await upload(api, account, "passport_photo", PDF), 400, param="kind")
    limit = api.state.settings.kyc.max_document_bytes
    too_big = PDF + b"0" * limit
    response = await upload(api, account, "proof_of_address", too_big)
    assert response.status_code == 413, response.text
    listed = (await api.http.get(_kyc(account), headers=account.user_headers)).json()
    assert listed["documents"] == []


async def test_another_merchant_and_other_roles_are_refused(api: Api) -> None:
    owner = await api.signup()
    other = await api.signup()
    analyst = await api.add_member(owner, "analyst")

    async def post_document(headers: dict[str, str]) -> httpx.Response:
        return await api.http.post(
            f"{_kyc(owner)}/documents",
            data={"kind": "proof_of_address"},
            files={"file": ("a.pdf", PDF, "application/pdf")},
            headers=headers,
        )

    assert_error(await api.http.get(_kyc(owner), headers=other.user_headers), 404)
    assert_error(await api.http.post(_kyc(owner), json={}, headers=other.user_headers), 404)
    assert_error(await api.http.post(f"{_kyc(owner)}/submit", headers=other.user_headers), 404)
    assert_error(await post_document(other.user_headers), 404)
    assert (await api.http.get(_kyc(owner), headers=analyst.user_headers)).status_code == 200
    assert_error(
        await api.http.post(_kyc(owner), json={"city": "Douala"}, headers=analyst.user_headers),
        403,
    )
    assert_error(await post_document(analyst.user_headers), 403)
    assert_error(await api.http.get(_kyc(owner)), 401)
    seen = (await api.http.get(_kyc(owner), headers=owner.user_headers)).json()
    assert seen["documents"] == []
    assert seen["profile"]["city"] is None
