"""Sign-up and two-factor sign-in (docs/dashboard.md, "Sign-up" and "Two-factor sign-in"): the
sign-up page, turning TOTP on and off from the Security page, recovery codes (shown once, each
single-use), the sign-in's second step, `POST /v1/auth/login` with and without `otp`, a code
never accepted twice, wrong codes throttled, CSRF on every form, the secret encrypted at rest
and one member's two-factor state out of another's reach."""

from __future__ import annotations

import re
import time
from typing import Any

import asyncpg
import httpx
import pyotp
import pytest
from cryptography.exceptions import InvalidTag

from mboa.users.two_factor import totp_box
from tests.checkout.conftest import Stack
from tests.dashboard.conftest import Browser, csrf_of
from tests.helpers import PASSWORD, Account, Api

SECRET = re.compile(r'<code id="totp-secret">([A-Z2-7 ]+)</code>')
CODES = re.compile(r"<li><code>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</code></li>")
NEW_PASSWORD = "mango-plantain-harbour-71"


def code_at(secret: str, offset_steps: int = 0) -> str:
    """The code of the current 30-second step, or of one `offset_steps` away (within the window
    the server accepts: ±1)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


def wrong_code(secret: str) -> str:
    valid = {code_at(secret, step) for step in (-1, 0, 1)}
    return next(c for c in ("123456", "654321", "111111", "222222") if c not in valid)


async def start_two_factor(browser: Browser) -> str:
    """Security page → set up: the secret shown on the page (QR and text)."""
    started = await browser.post_form("/dashboard/security", "/dashboard/security/two-factor/start")
    assert started.status_code == 303, started.text
    page = await browser.get("/dashboard/security")
    found = SECRET.search(page.text)
    assert found, page.text
    assert 'src="data:image/svg+xml' in page.text  # the QR code, drawn on the server
    return found.group(1).replace(" ", "")


async def enable_two_factor(browser: Browser) -> tuple[str, list[str]]:
    """Turn two-factor sign-in on; returns the secret and the recovery codes shown once."""
    secret = await start_two_factor(browser)
    confirmed = await browser.post_form(
        "/dashboard/security", "/dashboard/security/two-factor/confirm", code=code_at(secret)
    )
    assert confirmed.status_code == 200, confirmed.text
    codes = CODES.findall(confirmed.text)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    return secret, codes


async def api_login(client: httpx.AsyncClient, email: str, **extra: Any) -> httpx.Response:
    return await client.post("/v1/auth/login", json={"email": email, "password": PASSWORD, **extra})


async def sign_in_with_code(browser: Browser, email: str, code: str) -> httpx.Response:
    """The password (→ the second step), then the code."""
    first = await browser.post_form(
        "/dashboard/login", "/dashboard/login", email=email, password=PASSWORD
    )
    assert first.status_code == 303
    assert first.headers["location"].startswith("/dashboard/login/two-factor")
    return await browser.post_form(
        first.headers["location"], "/dashboard/login/two-factor", code=code
    )


async def test_sign_up_page_creates_the_user_and_merchant_and_signs_in(
    client: httpx.AsyncClient, browser_for: Any
) -> None:
    browser = await browser_for()
    login = await browser.get("/dashboard/login")
    assert 'href="/dashboard/signup"' in login.text
    form = await browser.get("/dashboard/signup")
    assert form.status_code == 200
    for field in ("name", "email", "password", "business_name"):
        assert f'<label for="{field}">' in form.text
    created = await browser.post_form(
        "/dashboard/signup",
        "/dashboard/signup",
        name="Ama Nkeng",
        email="Ama.Signup@example.cm",
        password=NEW_PASSWORD,
        business_name="Boutique Ama",
    )
    assert created.status_code == 303, created.text
    assert created.headers["location"] == "/dashboard"
    home = await browser.get("/dashboard")
    assert home.status_code == 200
    assert "Boutique Ama" in home.text
    assert "Mode test" in home.text
    # The same user as the API's: its login works, and it owns the merchant.
    tokens = await api_login(client, "ama.signup@example.cm", password=NEW_PASSWORD)
    assert tokens.status_code == 200, tokens.text
    me = await client.get(
        "/v1/me", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"}
    )
    assert me.json()["name"] == "Ama Nkeng"
    assert [(m["merchant_name"], m["role"]) for m in me.json()["memberships"]] == [
        ("Boutique Ama", "owner")
    ]


async def test_sign_up_errors_come_back_to_the_form_and_write_nothing(
    shop: Api, browser_for: Any, owner_connection: asyncpg.Connection
) -> None:
    existing = await shop.signup()
    browser = await browser_for()
    taken = await browser.post_form(
        "/dashboard/signup",
        "/dashboard/signup",
        email=existing.email,
        password=NEW_PASSWORD,
        business_name="Deux",
    )
    assert taken.headers["location"] == "/dashboard/signup"
    page = await browser.get("/dashboard/signup")
    assert "Un compte utilise déjà cette adresse" in page.text
    assert 'value="Deux"' in page.text  # what was typed comes back (never the password)
    weak = await browser.post_form(
        "/dashboard/signup",
        "/dashboard/signup",
        email="weak@example.cm",
        password="password1",
        business_name="Faible",
    )
    assert weak.headers["location"] == "/dashboard/signup"
    page = await browser.get("/dashboard/signup")
    assert "trop facile à deviner" in page.text
    assert 'aria-invalid="true"' in page.text
    assert await owner_connection.fetchval("SELECT count(*) FROM users") == 1
    assert await owner_connection.fetchval("SELECT count(*) FROM merchants") == 1


async def test_enable_confirm_with_a_code_then_sign_in_needs_the_code(
    client: httpx.AsyncClient, shop: Api, browser_for: Any
) -> None:
    account = await shop.signup()
    browser = await browser_for(account)
    off = await browser.get("/dashboard/security")
    assert "2FA désactivée" in off.text
    secret = await start_two_factor(browser)
    # Not on until a code confirms it: a wrong code leaves it off, the password alone still works.
    refused = await browser.post_form(
        "/dashboard/security",
        "/dashboard/security/two-factor/confirm",
        code=wrong_code(secret),
    )
    assert refused.status_code == 303
    page = await browser.get("/dashboard/security")
    assert "Ce code n&#39;est pas bon" in page.text
    assert "2FA en cours d" in page.text
    assert (await api_login(client, account.email)).status_code == 200

    confirmed = await browser.post_form(
        "/dashboard/security", "/dashboard/security/two-factor/confirm", code=code_at(secret)
    )
    assert confirmed.status_code == 200
    assert "ne sont affichés qu'une fois" in confirmed.text
    assert len(CODES.findall(confirmed.text)) == 10
    on = await browser.get("/dashboard/security")
    assert "2FA activée" in on.text
    assert "Codes de secours inutilisés : 10" in on.text
    assert "totp-secret" not in on.text  # the secret is never shown again
    assert not CODES.findall(on.text)  # nor the recovery codes

    # The browser: password, then the second step; the session starts only after the code.
    other = await browser_for()
    first = await other.post_form(
        "/dashboard/login", "/dashboard/login", email=account.email, password=PASSWORD
    )
    assert first.headers["location"] == "/dashboard/login/two-factor?next=%2Fdashboard"
    assert "mboa_session=" not in first.headers.get("set-cookie", "")
    assert (await other.get("/dashboard")).status_code == 303  # not signed in yet
    step = await other.get(first.headers["location"])
    assert '<label for="code">' in step.text
    assert 'autocomplete="one-time-code"' in step.text
    done = await other.http.post(
        "/dashboard/login/two-factor",
        data={"csrf": csrf_of(step.text), "code": code_at(secret, 1), "next": "/dashboard"},
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/dashboard"
    assert (await other.get("/dashboard")).status_code == 200


async def test_api_login_with_and_without_the_code(
    client: httpx.AsyncClient, shop: Api, browser_for: Any
) -> None:
    account = await shop.signup()
    browser = await browser_for(account)
    secret, _ = await enable_two_factor(browser)

    without = await api_login(client, account.email)
    assert without.status_code == 401
    assert without.json()["error"]["code"] == "two_factor_code_required"
    assert without.json()["error"]["param"] == "otp"
    assert "access_token" not in without.text
    # The password is checked first: a wrong one says nothing about two-factor sign-in.
    wrong_password = await api_login(client, account.email, password="not-the-password-9")
    assert wrong_password.json()["error"]["code"] == "invalid_credentials"
    wrong = await api_login(client, account.email, otp=wrong_code(secret))
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "two_factor_code_invalid"

    code = code_at(secret, 1)
    ok = await api_login(client, account.email, otp=code)
    assert ok.status_code == 200, ok.text
    assert ok.json()["access_token"]
    # A code is accepted once: the same code again (in the same 30 s) is refused.
    reused = await api_login(client, account.email, otp=code)
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "two_factor_code_invalid"
    # An older step than the last one used is refused too.
    older = await api_login(client, account.email, otp=code_at(secret, -1))
    assert older.json()["error"]["code"] == "two_factor_code_invalid"


async def test_recovery_codes_work_once_and_new_ones_replace_them(
    client: httpx.AsyncClient, shop: Api, browser_for: Any
) -> None:
    account = await shop.signup()
    browser = await browser_for(account)
    secret, codes = await enable_two_factor(browser)

    # Typed as printed, upper-case or without the dashes: the same code.
    used = await api_login(client, account.email, otp=codes[0].upper().replace("-", " "))
    assert used.status_code == 200, used.text
    again = await api_login(client, account.email, otp=codes[0])
    assert again.json()["error"]["code"] == "two_factor_code_invalid"
    other = await browser_for()
    signed_in = await sign_in_with_code(other, account.email, codes[1])
    assert signed_in.headers["location"] == "/dashboard"
    assert "Codes de secours inutilisés : 8" in (await browser.get("/dashboard/security")).text

    # New codes need a current code from the app; the old ones stop working.
    refused = await browser.post_form(
        "/dashboard/security", "/dashboard/security/recovery-codes", code=codes[2]
    )
    assert refused.status_code == 303  # a recovery code is not enough to make new ones
    renewed = await browser.post_form(
        "/dashboard/security", "/dashboard/security/recovery-codes", code=code_at(secret, 1)
    )
    assert renewed.status_code == 200
    fresh = CODES.findall(renewed.text)
    assert len(fresh) == 10
    assert not set(fresh) & set(codes)
    stale = await api_login(client, account.email, otp=codes[2])
    assert stale.json()["error"]["code"] == "two_factor_code_invalid"
    assert (await api_login(client, account.email, otp=fresh[0])).status_code == 200


async def test_disable_needs_the_password_and_a_code(
    client: httpx.AsyncClient, shop: Api, browser_for: Any, owner_connection: asyncpg.Connection
) -> None:
    account = await shop.signup()
    browser = await browser_for(account)
    secret, codes = await enable_two_factor(browser)

    no_password = await browser.post_form(
        "/dashboard/security",
        "/dashboard/security/two-factor/disable",
        password="not-the-password-9",
        code=code_at(secret, 1),
    )
    assert no_password.status_code == 303
    page = await browser.get("/dashboard/security")
    assert "Ce mot de passe n&#39;est pas bon." in page.text
    assert "2FA activée" in page.text
    no_code = await browser.post_form(
        "/dashboard/security",
        "/dashboard/security/two-factor/disable",
        password=PASSWORD,
        code=wrong_code(secret),
    )
    assert no_code.status_code == 303
    assert "2FA activée" in (await browser.get("/dashboard/security")).text

    off = await browser.post_form(
        "/dashboard/security",
        "/dashboard/security/two-factor/disable",
        password=PASSWORD,
        code=code_at(secret, 1),
    )
    assert off.status_code == 303
    page = await browser.get("/dashboard/security")
    assert "La connexion en deux étapes est désactivée." in page.text
    assert "2FA désactivée" in page.text
    row = await owner_connection.fetchrow(
        "SELECT totp_secret_ciphertext, totp_enabled_at FROM users WHERE id = $1", account.user_id
    )
    assert row["totp_secret_ciphertext"] is None
    assert row["totp_enabled_at"] is None
    assert (
        await owner_connection.fetchval(
            "SELECT count(*) FROM user_recovery_codes WHERE user_id = $1", account.user_id
        )
        == 0
    )
    assert (await api_login(client, account.email)).status_code == 200
    assert (await api_login(client, account.email, otp=codes[0])).status_code == 200


async def test_wrong_codes_are_throttled_per_account(
    client: httpx.AsyncClient, shop: Api, browser_for: Any, stack: Stack
) -> None:
    account = await shop.signup()
    browser = await browser_for(account)
    secret, codes = await enable_two_factor(browser)
    limit = stack.settings.rate_limit.two_factor_failures_per_account
    assert limit == 5
    wrong = wrong_code(secret)
    # Wrong codes through both doors count together: the API and the dashboard's second step.
    for _ in range(limit - 2):
        response = await api_login(client, account.email, otp=wrong)
        assert response.json()["error"]["code"] == "two_factor_code_invalid"
    other = await browser_for()
    for _ in range(2):
        refused = await sign_in_with_code(other, account.email, wrong)
        assert refused.headers["location"].startswith("/dashboard/login/two-factor")
    # Locked: even a right code is refused now, with a Retry-After.
    locked = await api_login(client, account.email, otp=codes[0])
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    blocked = await sign_in_with_code(other, account.email, code_at(secret, 1))
    assert blocked.headers["location"].startswith("/dashboard/login/two-factor")
    page = await other.get(blocked.headers["location"])
    assert "Trop d&#39;essais" in page.text
    assert (await other.get("/dashboard")).status_code == 303


async def test_every_form_refuses_a_post_without_its_csrf_token(
    client: httpx.AsyncClient, shop: Api, browser_for: Any, owner_connection: asyncpg.Connection
) -> None:
    account = await shop.signup()
    browser = await browser_for(account)
    secret = await start_two_factor(browser)
    forged = {"csrf": "forged"}
    for path, fields in (
        ("/dashboard/security/two-factor/start", {}),
        ("/dashboard/security/two-factor/confirm", {"code": code_at(secret)}),
        ("/dashboard/security/recovery-codes", {"code": code_at(secret)}),
        ("/dashboard/security/two-factor/disable", {"password": PASSWORD, "code": "x"}),
    ):
        refused = await browser.http.post(path, data={**forged, **fields})
        assert refused.status_code == 303, path
        assert refused.headers["location"] == "/dashboard/security", path
    page = await browser.get("/dashboard/security")
    assert "Cette page est restée ouverte trop longtemps." in page.text
    assert SECRET.search(page.text).group(1).replace(" ", "") == secret  # type: ignore[union-attr]
    assert "2FA en cours d" in page.text  # not confirmed by the forged post

    anonymous = await browser_for()
    refused = await anonymous.http.post(
        "/dashboard/signup",
        data={
            **forged,
            "email": "forged@example.cm",
            "password": NEW_PASSWORD,
            "business_name": "Forgée",
        },
    )
    assert refused.headers["location"] == "/dashboard/signup"
    assert (
        await owner_connection.fetchval(
            "SELECT count(*) FROM users WHERE email = 'forged@example.cm'"
        )
        == 0
    )

    confirmed = await browser.post_form(
        "/dashboard/security", "/dashboard/security/two-factor/confirm", code=code_at(secret)
    )
    assert confirmed.status_code == 200
    second = await browser_for()
    first = await second.post_form(
        "/dashboard/login", "/dashboard/login", email=account.email, password=PASSWORD
    )
    for path in ("/dashboard/login/two-factor", "/dashboard/login/two-factor/cancel"):
        refused = await second.http.post(path, data={**forged, "code": code_at(secret, 1)})
        assert refused.status_code == 303, path
        assert refused.headers["location"] == "/dashboard/login", path
    assert (await second.get("/dashboard")).status_code == 303
    # The code the forged post carried is still unused: the real form takes it.
    done = await second.post_form(
        first.headers["location"], "/dashboard/login/two-factor", code=code_at(secret, 1)
    )
    assert done.headers["location"] == "/dashboard"


async def test_the_secret_is_encrypted_at_rest_and_codes_are_hashed(
    shop: Api, browser_for: Any, owner_connection: asyncpg.Connection, stack: Stack
) -> None:
    account = await shop.signup()
    browser = await browser_for(account)
    secret, codes = await enable_two_factor(browser)
    stored = await owner_connection.fetchval(
        "SELECT totp_secret_ciphertext FROM users WHERE id = $1", account.user_id
    )
    assert isinstance(stored, bytes)
    assert secret.encode() not in stored
    assert secret.lower().encode() not in stored
    box = totp_box(stack.settings)
    assert box.decrypt(stored, bound_to=account.user_id) == secret
    # Bound to its user: copied onto another user's row, it does not decrypt.
    with pytest.raises(InvalidTag):
        box.decrypt(stored, bound_to="usr_someone_else")
    hashes = await owner_connection.fetch(
        "SELECT code_hash, used_at FROM user_recovery_codes WHERE user_id = $1", account.user_id
    )
    assert len(hashes) == 10
    dump = " ".join(row["code_hash"] for row in hashes)
    for code in codes:
        assert code not in dump
        assert code.replace("-", "") not in dump


async def test_one_members_two_factor_is_out_of_anothers_reach(
    client: httpx.AsyncClient, shop: Api, browser_for: Any
) -> None:
    owner = await shop.signup()
    owner_browser = await browser_for(owner)
    secret, codes = await enable_two_factor(owner_browser)
    intruder: Account = await shop.signup()
    intruder_browser = await browser_for(intruder)
    # Their own page: two-factor off, nothing of the owner's.
    page = await intruder_browser.get("/dashboard/security")
    assert "2FA désactivée" in page.text
    assert secret not in page.text.replace(" ", "")
    # The owner's password and code on the intruder's session change only the intruder (off).
    refused = await intruder_browser.post_form(
        "/dashboard/security",
        "/dashboard/security/two-factor/disable",
        password=PASSWORD,
        code=code_at(secret, 1),
    )
    assert refused.status_code == 303
    shown = await intruder_browser.get("/dashboard/security")
    assert "La connexion en deux étapes n&#39;est pas activée" in shown.text
    # The owner's recovery codes do not open the intruder's account, nor skip its password.
    assert (await api_login(client, intruder.email, otp=codes[0])).status_code == 200
    still = await api_login(client, owner.email)
    assert still.json()["error"]["code"] == "two_factor_code_required"
    assert "2FA activée" in (await owner_browser.get("/dashboard/security")).text


async def test_the_second_step_needs_a_live_pending_state_from_the_password(
    shop: Api, browser_for: Any
) -> None:
    account = await shop.signup()
    browser = await browser_for(account)
    secret, _ = await enable_two_factor(browser)
    stranger = await browser_for()
    alone = await stranger.get("/dashboard/login/two-factor")
    assert alone.status_code == 303
    assert alone.headers["location"] == "/dashboard/login"
    # A pending state this server did not sign opens nothing, even with the step's form.
    first = await stranger.post_form(
        "/dashboard/login", "/dashboard/login", email=account.email, password=PASSWORD
    )
    step = await stranger.get(first.headers["location"])
    assert step.status_code == 200
    stranger.http.cookies.set(
        "mboa_2fa",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c3JfeCJ9.c2lnbmF0dXJl",
        domain="127.0.0.1",
        path="/dashboard",
    )
    assert (await stranger.get("/dashboard/login/two-factor")).status_code == 303
    refused = await stranger.http.post(
        "/dashboard/login/two-factor",
        data={"csrf": csrf_of(step.text), "code": code_at(secret, 1)},
    )
    assert refused.headers["location"] == "/dashboard/login"
    page = await stranger.get("/dashboard/login")
    assert "Votre session est terminée" in page.text
    assert (await stranger.get("/dashboard")).status_code == 303
