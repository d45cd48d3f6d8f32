"""Every dashboard endpoint enforces the caller's role on the merchant."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Account, Api, assert_error

# (method, path template, body, {role: allowed})
ALLOWED = {
    "owner": {"read", "account_write", "team_write", "keys_read", "keys_write"},
    "admin": {"read", "account_write", "team_write", "keys_read", "keys_write"},
    "developer": {"read", "keys_read", "keys_write"},
    "analyst": {"read"},
}


async def _calls(api: Api, owner: Account) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    key = await api.create_key(owner)
    spare = await api.signup()
    m = owner.merchant_id
    return [
        ("read", "GET", f"/v1/merchants/{m}", None),
        ("read", "GET", f"/v1/merchants/{m}/members", None),
        ("account_write", "POST", f"/v1/merchants/{m}", {"name": "Renamed"}),
        (
            "team_write",
            "POST",
            f"/v1/merchants/{m}/members",
            {"email": spare.email, "role": "analyst"},
        ),
        ("keys_read", "GET", f"/v1/merchants/{m}/api_keys", None),
        ("keys_read", "GET", f"/v1/merchants/{m}/api_keys/{key['id']}", None),
        ("keys_write", "POST", f"/v1/merchants/{m}/api_keys", {"name": "new"}),
        ("keys_write", "POST", f"/v1/merchants/{m}/api_keys/{key['id']}/revoke", None),
    ]


@pytest.mark.parametrize("role", ["owner", "admin", "developer", "analyst"])
async def test_role_matrix(api: Api, role: str) -> None:
    owner = await api.signup()
    user = owner if role == "owner" else await api.add_member(owner, role)
    for permission, method, path, body in await _calls(api, owner):
        response = await api.http.request(method, path, json=body, headers=user.user_headers)
        if permission in ALLOWED[role]:
            assert response.status_code == 200, (role, method, path, response.text)
        else:
            assert_error(response, 403, code="role_not_permitted", type_="permission_error")


async def test_non_member_gets_404_not_403(api: Api) -> None:
    owner = await api.signup()
    stranger = await api.signup()
    response = await api.http.get(
        f"/v1/merchants/{owner.merchant_id}", headers=stranger.user_headers
    )
    assert_error(response, 404)


class TestTeamRules:
    async def test_only_owner_can_appoint_owner(self, api: Api) -> None:
        owner = await api.signup()
        admin = await api.add_member(owner, "admin")
        newcomer = await api.signup()
        response = await api.http.post(
            f"/v1/merchants/{owner.merchant_id}/members",
            json={"email": newcomer.email, "role": "owner"},
            headers=admin.user_headers,
        )
        assert_error(response, 403, code="owner_required")

    async def test_last_owner_cannot_leave_or_be_demoted(self, api: Api) -> None:
        owner = await api.signup()
        members = await api.http.get(
            f"/v1/merchants/{owner.merchant_id}/members", headers=owner.user_headers
        )
        (me,) = members.json()["data"]
        demote = await api.http.post(
            f"/v1/merchants/{owner.merchant_id}/members/{me['id']}",
            json={"role": "admin"},
            headers=owner.user_headers,
        )
        assert_error(demote, 400, code="last_owner")
        leave = await api.http.delete(
            f"/v1/merchants/{owner.merchant_id}/members/{me['id']}", headers=owner.user_headers
        )
        assert_error(leave, 400, code="last_owner")

    async def test_removed_member_loses_access(self, api: Api) -> None:
        owner = await api.signup()
        dev = await api.add_member(owner, "developer")
        members = await api.http.get(
            f"/v1/merchants/{owner.merchant_id}/members", headers=owner.user_headers
        )
        dev_member = next(m for m in members.json()["data"] if m["user_id"] == dev.user_id)
        removed = await api.http.delete(
            f"/v1/merchants/{owner.merchant_id}/members/{dev_member['id']}",
            headers=owner.user_headers,
        )
        assert removed.status_code == 204
        response = await api.http.get(
            f"/v1/merchants/{owner.merchant_id}", headers=dev.user_headers
        )
        assert_error(response, 404)

    async def test_adding_unknown_email_and_duplicates(self, api: Api) -> None:
        owner = await api.signup()
        unknown = await api.http.post(
            f"/v1/merchants/{owner.merchant_id}/members",
            json={"email": "ghost@example.cm", "role": "admin"},
            headers=owner.user_headers,
        )
        assert_error(unknown, 400, code="resource_missing", param="email")
        member = await api.add_member(owner, "analyst")
        again = await api.http.post(
            f"/v1/merchants/{owner.merchant_id}/members",
            json={"email": member.email, "role": "admin"},
            headers=owner.user_headers,
        )
        assert_error(again, 409, code="member_exists")
