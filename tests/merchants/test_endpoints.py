"""Merchant accounts and their teams through the real API."""

from __future__ import annotations

from tests.helpers import Api, assert_error


async def test_open_retrieve_and_update_a_merchant(api: Api) -> None:
    account = await api.signup()
    opened = await api.http.post(
        "/v1/merchants", json={"name": "Second Shop"}, headers=account.user_headers
    )
    assert opened.status_code == 200, opened.text
    merchant = opened.json()
    assert merchant["id"].startswith("acct_")
    assert merchant["id"] != account.merchant_id

    updated = await api.http.post(
        f"/v1/merchants/{merchant['id']}",
        json={"name": "Second Shop SARL", "metadata": {"region": "Littoral"}},
        headers=account.user_headers,
    )
    assert updated.status_code == 200, updated.text
    fetched = await api.http.get(f"/v1/merchants/{merchant['id']}", headers=account.user_headers)
    assert fetched.status_code == 200
    assert fetched.json()["metadata"] == {"region": "Littoral"}

    # Someone else's merchant does not exist for this user.
    stranger = await api.signup()
    hidden = await api.http.get(f"/v1/merchants/{merchant['id']}", headers=stranger.user_headers)
    assert_error(hidden, 404, param="merchant_id")


async def test_team_add_change_remove_and_keep_an_owner(api: Api) -> None:
    owner = await api.signup()
    colleague = await api.signup()
    base = f"/v1/merchants/{owner.merchant_id}/members"

    added = await api.http.post(
        base, json={"email": colleague.email, "role": "developer"}, headers=owner.user_headers
    )
    assert added.status_code == 200, added.text
    member = added.json()
    assert member["object"] == "team_member"
    assert member["role"] == "developer"

    again = await api.http.post(
        base, json={"email": colleague.email, "role": "analyst"}, headers=owner.user_headers
    )
    assert_error(again, 409, code="member_exists", param="email")

    changed = await api.http.post(
        f"{base}/{member['id']}", json={"role": "analyst"}, headers=owner.user_headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["role"] == "analyst"

    # An analyst reads the team but cannot change it.
    listed = await api.http.get(base, headers=colleague.user_headers)
    assert listed.status_code == 200
    assert {m["role"] for m in listed.json()["data"]} == {"owner", "analyst"}
    refused = await api.http.delete(f"{base}/{member['id']}", headers=colleague.user_headers)
    assert_error(refused, 403)

    # The only owner can neither leave nor be demoted.
    owner_member = next(m for m in listed.json()["data"] if m["role"] == "owner")
    demote = await api.http.post(
        f"{base}/{owner_member['id']}", json={"role": "admin"}, headers=owner.user_headers
    )
    assert_error(demote, 400, code="last_owner", param="role")
    leave = await api.http.delete(f"{base}/{owner_member['id']}", headers=owner.user_headers)
    assert_error(leave, 400, code="last_owner")

    removed = await api.http.delete(f"{base}/{member['id']}", headers=owner.user_headers)
    assert removed.status_code == 204
    after = await api.http.get(base, headers=owner.user_headers)
    assert [m["role"] for m in after.json()["data"]] == ["owner"]
    gone = await api.http.get(f"/v1/merchants/{owner.merchant_id}", headers=colleague.user_headers)
    assert_error(gone, 404)


async def test_adding_an_email_nobody_signed_up_with_is_400(api: Api) -> None:
    owner = await api.signup()
    response = await api.http.post(
        f"/v1/merchants/{owner.merchant_id}/members",
        json={"email": "nobody@example.cm", "role": "developer"},
        headers=owner.user_headers,
    )
    # The URL's merchant exists: a missing object named in the body is a 400, as on Stripe.
    assert_error(response, 400, code="resource_missing", param="email")
