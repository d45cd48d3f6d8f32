"""Test helpers that drive the real API over HTTP (nothing of ours is mocked)."""

from __future__ import annotations

import dataclasses
import itertools
import time
from typing import Any

import httpx
import pyotp

from mboa.models import MerchantStatus, User
from mboa.state import AppState
from mboa.users.service import user as user_service
from mboa.users.two_factor import totp_box, two_factor
from tests.kyc.documents import JPEG, PDF, PROFILE, png

PASSWORD = "correct-horse-42"
_counter = itertools.count()


@dataclasses.dataclass
class Account:
    email: str
    user_id: str
    merchant_id: str
    access_token: str
    refresh_token: str
    secret_key: str
    publishable_key: str

    @property
    def user_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    @property
    def key_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret_key}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(
    response: httpx.Response,
    status: int,
    *,
    code: str | None = None,
    type_: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"type", "code", "message", "param", "request_id"} <= set(error), error
    assert error["request_id"] == response.headers["x-request-id"]
    assert error["message"]
    # Absolute, and naming the code's entry in the catalogue the API serves (mboa/error_codes.py).
    assert error["doc_url"].startswith("http"), error
    assert error["doc_url"].endswith(f"/docs/errors#{error['code']}"), error
    if code is not None:
        assert error["code"] == code, error
    if type_ is not None:
        assert error["type"] == type_, error
    if param is not None:
        assert error["param"] == param, error
    return dict(error)


def assert_safe(response: httpx.Response) -> None:
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff", (response.url, headers)
    assert headers["referrer-policy"] == "no-referrer", (response.url, headers)
    assert headers["cache-control"] == "no-store", (response.url, headers)


class Api:
    def __init__(self, http: httpx.AsyncClient, state: AppState) -> None:
        self.http = http
        self.state = state
        self._compliance: str | None = None

    async def signup(self, *, email: str | None = None, business: str = "Shop") -> Account:
        email = email or f"user{next(_counter)}-{id(self)}@example.cm"
        response = await self.http.post(
            "/v1/auth/signup",
            json={"email": email, "password": PASSWORD, "business_name": business},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        keys = {k["type"]: k["secret"] for k in body["api_keys"]}
        return Account(
            email=email,
            user_id=body["tokens"]["user"]["id"],
            merchant_id=body["account"]["id"],
            access_token=body["tokens"]["access_token"],
            refresh_token=body["tokens"]["refresh_token"],
            secret_key=keys["secret"],
            publishable_key=keys["publishable"],
        )

    async def login(
        self, email: str, password: str = PASSWORD, *, otp: str | None = None
    ) -> dict[str, Any]:
        body = {"email": email, "password": password}
        if otp is not None:
            body["otp"] = otp
        response = await self.http.post("/v1/auth/login", json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def create_key(
        self, account: Account, *, livemode: bool = False, **body: Any
    ) -> dict[str, Any]:
        response = await self.http.post(
            f"/v1/merchants/{account.merchant_id}/api_keys",
            params={"livemode": str(livemode).lower()},
            json=body,
            headers=account.user_headers,
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def staff(self, role: str = "superadmin", *, with_two_factor: bool = True) -> str:
        """A staff user with `role` (support, compliance, finance, superadmin; created the way
        `mboa admin create` does, then given the role) who has turned on two-factor sign-in, as
        the console and the staff API require; returns an access token from a sign-in with a
        code."""
        email = f"{role}{next(_counter)}@staff.mboa.cm"
        otp = None
        async with self.state.db.platform_transaction() as session:
            created = await user_service.create_platform_admin(
                session,
                email=email,
                password=PASSWORD,
                name=role.title(),
                settings=self.state.settings.auth,
            )
            user = await session.get(User, created.id)
            assert user is not None
            user.staff_role = role
            user.is_platform_admin = role == "superadmin"
            if with_two_factor:
                # Confirmed with the code of the step before, so the sign-in's code is unspent.
                box = totp_box(self.state.settings)
                secret = await two_factor.start(session, user.id, box)
                totp, step = pyotp.TOTP(secret), int(time.time()) // 30
                await two_factor.confirm(session, user.id, totp.at((step - 1) * 30), box)
                otp = totp.at(step * 30)
        return str((await self.login(email, otp=otp))["access_token"])

    async def submit_kyc(self, account: Account) -> None:
        """The owner's going-live application: profile, the three documents, submitted."""
        kyc = f"/v1/merchants/{account.merchant_id}/kyc"
        headers = account.user_headers
        response = await self.http.post(kyc, json=PROFILE, headers=headers)
        assert response.status_code == 200, response.text
        for kind, data in (
            ("representative_id", JPEG),
            ("business_registration", PDF),
            ("proof_of_address", png()),
        ):
            response = await self.http.post(
                f"{kyc}/documents",
                data={"kind": kind},
                files={"file": (f"{kind}.bin", data, "application/octet-stream")},
                headers=headers,
            )
            assert response.status_code == 200, response.text
        response = await self.http.post(f"{kyc}/submit", headers=headers)
        assert response.status_code == 200, response.text

    async def approve(self, account: Account, *, reason: str = "Documents checked.") -> None:
        """Take the account live the only way there is (docs/going-live.md): the owner submits
        the profile and documents, a compliance staff member approves with a reason."""
        await self.submit_kyc(account)
        if self._compliance is None:
            self._compliance = await self.staff("compliance")
        response = await self.http.post(
            f"/v1/admin/merchants/{account.merchant_id}/approve",
            json={"reason": reason},
            headers=bearer(self._compliance),
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == MerchantStatus.active

    async def live_account(self) -> tuple[Account, str]:
        """An approved merchant and its live secret key."""
        account = await self.signup()
        await self.approve(account)
        key = await self.create_key(account, livemode=True)
        return account, str(key["secret"])

    async def add_member(self, owner: Account, role: str) -> Account:
        member = await self.signup()
        response = await self.http.post(
            f"/v1/merchants/{owner.merchant_id}/members",
            json={"email": member.email, "role": role},
            headers=owner.user_headers,
        )
        assert response.status_code == 200, response.text
        return member

    async def create_customer(self, key: str, **body: Any) -> dict[str, Any]:
        response = await self.http.post("/v1/customers", json=body, headers=bearer(key))
        assert response.status_code == 200, response.text
        return dict(response.json())
