from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import jwt
import pytest
from typer.testing import CliRunner

from mboa import cli
from mboa.config import Settings
from mboa.dev import demo
from mboa.users.exceptions import WeakPassword
from mboa.users.service import user as user_service
from tests.helpers import PASSWORD, Api, assert_error, bearer


class TestSignup:
    async def test_creates_user_sandbox_merchant_and_test_keys(self, api: Api) -> None:
        response = await api.http.post(
            "/v1/auth/signup",
            json={"email": "Ama@Example.CM", "password": PASSWORD, "business_name": "Chez Ama"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["tokens"]["user"]["email"] == "ama@example.cm"
        assert body["account"]["status"] == "sandbox"
        assert body["account"]["live_enabled"] is False
        types = sorted(k["type"] for k in body["api_keys"])
        assert types == ["publishable", "secret"]
        for key in body["api_keys"]:
            assert key["livemode"] is False
            assert key["secret"].startswith("sk_test_" if key["type"] == "secret" else "pk_test_")
            assert len(key["secret"]) >= 8 + 43  # prefix + base62 of 32 random bytes
            assert key["redacted"].endswith(key["secret"][-4:])

    async def test_duplicate_email_conflicts(self, api: Api) -> None:
        account = await api.signup()
        response = await api.http.post(
            "/v1/auth/signup",
            json={"email": account.email.upper(), "password": PASSWORD, "business_name": "X"},
        )
        assert_error(response, 409, code="email_taken", param="email")

    async def test_weak_password_rejected_and_nothing_written(
        self, api: Api, owner_connection
    ) -> None:  # type: ignore[no-untyped-def]
        response = await api.http.post(
            "/v1/auth/signup",
            json={"email": "weak@example.cm", "password": "12345678901", "business_name": "X"},
        )
        assert_error(response, 400, code="password_too_weak", param="password")
        assert await owner_connection.fetchval("SELECT count(*) FROM users") == 0
        assert await owner_connection.fetchval("SELECT count(*) FROM merchants") == 0

    async def test_guessable_passwords_rejected_with_advice(self, api: Api) -> None:
        for password, advice in (
            ("password12", "very common password"),
            ("aaaaaaaaa1", 'Repeats like "aaa"'),
            ("ama@example.cm1", None),  # the email itself
        ):
            response = await api.http.post(
                "/v1/auth/signup",
                json={"email": "ama@example.cm", "password": password, "business_name": "X"},
            )
            error = assert_error(response, 400, code="password_too_weak", param="password")
            assert error["message"].startswith("This password is too easy to guess."), error
            if advice is not None:
                assert advice in error["message"], error

    async def test_short_password_rejected_before_strength(self, api: Api) -> None:
        response = await api.http.post(
            "/v1/auth/signup",
            json={"email": "ama@example.cm", "password": "x7#Qz!p2", "business_name": "X"},
        )
        error = assert_error(response, 400, code="password_too_weak", param="password")
        assert "at least 10 characters" in error["message"]

    async def test_password_taken_exactly_as_typed(self, api: Api) -> None:
        """Spaces are part of a password: never stripped, at sign-up or at login."""
        padded = f"  {PASSWORD}  "
        response = await api.http.post(
            "/v1/auth/signup",
            json={"email": "pad@example.cm", "password": padded, "business_name": " Chez Ama "},
        )
        assert response.status_code == 200, response.text
        assert response.json()["account"]["name"] == "Chez Ama"  # other fields are trimmed
        stripped = await api.http.post(
            "/v1/auth/login", json={"email": "pad@example.cm", "password": PASSWORD}
        )
        assert_error(stripped, 401, code="invalid_credentials")
        assert (await api.login("pad@example.cm", padded))["user"]["email"] == "pad@example.cm"
        # Eight characters between two spaces: the spaces count towards the ten.
        spaced = await api.http.post(
            "/v1/auth/signup",
            json={"email": "pad2@example.cm", "password": " x7#Qz!p2 ", "business_name": "X"},
        )
        assert spaced.status_code == 200, spaced.text

    async def test_invalid_email(self, api: Api) -> None:
        response = await api.http.post(
            "/v1/auth/signup",
            json={"email": "not-an-email", "password": PASSWORD, "business_name": "X"},
        )
        assert_error(response, 400, code="parameter_invalid", param="email")

    async def test_password_stored_as_argon2(self, api: Api, owner_connection) -> None:  # type: ignore[no-untyped-def]
        account = await api.signup()
        stored = await owner_connection.fetchval(
            "SELECT password_hash FROM users WHERE id = $1", account.user_id
        )
        assert stored.startswith("$argon2id$")
        assert PASSWORD not in stored


class TestLogin:
    async def test_login_returns_short_lived_access_token(self, api: Api) -> None:
        account = await api.signup()
        tokens = await api.login(account.email)
        assert 0 < tokens["expires_in"] <= api.state.settings.auth.access_token_ttl_seconds
        assert tokens["refresh_token"].startswith("rt_")
        me = await api.http.get("/v1/me", headers=bearer(tokens["access_token"]))
        assert me.status_code == 200
        body = me.json()
        assert body["email"] == account.email
        assert body["memberships"] == [
            {
                "merchant_id": account.merchant_id,
                "merchant_name": "Shop",
                "merchant_status": "sandbox",
                "role": "owner",
            }
        ]

    async def test_wrong_password_and_unknown_email_look_the_same(self, api: Api) -> None:
        account = await api.signup()
        wrong = await api.http.post(
            "/v1/auth/login", json={"email": account.email, "password": "nope-nope-nope-1"}
        )
        unknown = await api.http.post(
            "/v1/auth/login", json={"email": "nobody@example.cm", "password": PASSWORD}
        )
        assert_error(wrong, 401, code="invalid_credentials")
        assert_error(unknown, 401, code="invalid_credentials")
        assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]

    async def test_expired_access_token_is_rejected(self, api: Api) -> None:
        account = await api.signup()
        claims = jwt.decode(account.access_token, options={"verify_signature": False})
        claims["exp"] = int((dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)).timestamp())
        expired = jwt.encode(claims, api.state.jwt_secret, algorithm="HS256")
        response = await api.http.get("/v1/me", headers=bearer(expired))
        assert_error(response, 401, code="access_token_invalid")

    async def test_forged_token_is_rejected(self, api: Api) -> None:
        account = await api.signup()
        claims = jwt.decode(account.access_token, options={"verify_signature": False})
        forged = jwt.encode(claims, "another-secret-another-secret-123", algorithm="HS256")
        assert_error(await api.http.get("/v1/me", headers=bearer(forged)), 401)


class TestRefresh:
    async def test_rotation_issues_new_tokens_and_spends_the_old(self, api: Api) -> None:
        account = await api.signup()
        first = await api.http.post(
            "/v1/auth/refresh", json={"refresh_token": account.refresh_token}
        )
        assert first.status_code == 200, first.text
        new_refresh = first.json()["refresh_token"]
        assert new_refresh != account.refresh_token
        again = await api.http.post("/v1/auth/refresh", json={"refresh_token": new_refresh})
        assert again.status_code == 200

    async def test_reuse_of_a_spent_token_revokes_the_session(self, api: Api) -> None:
        account = await api.signup()
        rotated = await api.http.post(
            "/v1/auth/refresh", json={"refresh_token": account.refresh_token}
        )
        current = rotated.json()
        reuse = await api.http.post(
            "/v1/auth/refresh", json={"refresh_token": account.refresh_token}
        )
        assert_error(reuse, 401, code="refresh_token_reused")
        # The thief's reuse ended the session for everyone holding its tokens.
        after = await api.http.post(
            "/v1/auth/refresh", json={"refresh_token": current["refresh_token"]}
        )
        assert_error(after, 401)
        me = await api.http.get("/v1/me", headers=bearer(current["access_token"]))
        assert_error(me, 401, code="session_expired")

    @pytest.mark.parametrize("rotations", [2, 5])
    async def test_reuse_of_a_token_several_rotations_old_revokes_the_session(
        self, api: Api, rotations: int
    ) -> None:
        account = await api.signup()
        tokens = [account.refresh_token]
        access = account.access_token
        for _ in range(rotations):
            rotated = await api.http.post("/v1/auth/refresh", json={"refresh_token": tokens[-1]})
            assert rotated.status_code == 200, rotated.text
            tokens.append(rotated.json()["refresh_token"])
            access = rotated.json()["access_token"]
        # The first token, spent `rotations` rotations ago, comes back: it leaked.
        reuse = await api.http.post("/v1/auth/refresh", json={"refresh_token": tokens[0]})
        assert_error(reuse, 401, code="refresh_token_reused")
        after = await api.http.post("/v1/auth/refresh", json={"refresh_token": tokens[-1]})
        assert_error(after, 401)
        me = await api.http.get("/v1/me", headers=bearer(access))
        assert_error(me, 401, code="session_expired")

    async def test_concurrent_refresh_with_one_token_succeeds_once(self, api: Api) -> None:
        account = await api.signup()
        results = await asyncio.gather(
            *[
                api.http.post("/v1/auth/refresh", json={"refresh_token": account.refresh_token})
                for _ in range(4)
            ]
        )
        assert sorted(r.status_code for r in results).count(200) == 1

    async def test_unknown_token(self, api: Api) -> None:
        response = await api.http.post("/v1/auth/refresh", json={"refresh_token": "rt_nope"})
        assert_error(response, 401, code="refresh_token_invalid")


class TestLogout:
    async def test_logout_ends_access_and_refresh(self, api: Api) -> None:
        account = await api.signup()
        response = await api.http.post("/v1/auth/logout", headers=account.user_headers)
        assert response.status_code == 204
        assert_error(await api.http.get("/v1/me", headers=account.user_headers), 401)
        refresh = await api.http.post(
            "/v1/auth/refresh", json={"refresh_token": account.refresh_token}
        )
        assert_error(refresh, 401)

    async def test_other_sessions_survive(self, api: Api) -> None:
        account = await api.signup()
        other = await api.login(account.email)
        await api.http.post("/v1/auth/logout", headers=account.user_headers)
        assert (
            await api.http.get("/v1/me", headers=bearer(other["access_token"]))
        ).status_code == 200


class TestPasswordsSetOutsideTheApi:
    def test_admin_create_refuses_a_guessable_password_before_anything_starts(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("MBOA_DATA_DIR", str(tmp_path))
        result = CliRunner().invoke(
            cli.app,
            ["admin", "create", "--email", "staff@example.cm", "--password", "password12"],
        )
        assert result.exit_code == 2, result.output
        assert "too easy to guess" in result.output
        assert list(tmp_path.iterdir()) == []  # no embedded server was started

    def test_demo_passwords_pass_the_rules(self) -> None:
        settings = Settings().auth
        user_service.check_password(
            demo.DEMO_PASSWORD, settings, user_inputs=(demo.DEMO_EMAIL, "Demo Merchant")
        )
        user_service.check_password(demo.STAFF_PASSWORD, settings, user_inputs=(demo.STAFF_EMAIL,))
        with pytest.raises(WeakPassword):
            user_service.check_password("password12", settings)
