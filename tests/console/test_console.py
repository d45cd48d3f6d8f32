"""The staff console over HTTP (docs/going-live.md): who may open each route, the KYC decisions by
role, documents never reachable by another merchant, payouts approved from the console, and the
operators' numbers from seeded attempts."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import select, update

from mboa.kit.time import utc_now
from mboa.models import Notification, PaymentAttempt, PaymentIntent, ProviderEvent
from mboa.providers import breaker_board
from mboa.providers.breaker_repository import BreakerRepository
from tests.checkout.conftest import Stack
from tests.dashboard.conftest import csrf_of, next_totp_code, pay
from tests.helpers import Account, Api, bearer
from tests.kyc.documents import JPEG, PDF, PROFILE, png
from tests.payouts.helpers import create as create_payout
from tests.payouts.helpers import fund

BrowserFor = Callable[..., Awaitable[Any]]
StaffMember = Callable[[str], Awaitable[str]]


async def kyc_submitted(shop: Api) -> tuple[Account, dict[str, str]]:
    """A merchant whose owner submitted everything through the API; its documents' ids."""
    account = await shop.signup(business="Boutique Essomba")
    path = f"/v1/merchants/{account.merchant_id}/kyc"
    assert (
        await shop.http.post(path, json=PROFILE, headers=account.user_headers)
    ).status_code == 200
    ids = {}
    for kind, data in (
        ("representative_id", JPEG),
        ("business_registration", PDF),
        ("proof_of_address", png()),
    ):
        response = await shop.http.post(
            f"{path}/documents",
            data={"kind": kind},
            files={"file": (f"{kind}.bin", data, "application/octet-stream")},
            headers=account.user_headers,
        )
        assert response.status_code == 200, response.text
        ids[kind] = response.json()["id"]
    submitted = await shop.http.post(f"{path}/submit", headers=account.user_headers)
    assert submitted.json()["status"] == "submitted", submitted.text
    return account, ids


async def decide(browser: Any, merchant_id: str, action: str, reason: str) -> httpx.Response:
    page = await browser.get(f"/console/merchants/{merchant_id}")
    token = csrf_of((await browser.get("/console/ledger")).text) if page.status_code else ""
    return await browser.http.post(
        f"/console/merchants/{merchant_id}/decision",
        data={"csrf": token, "action": action, "reason": reason},
    )


async def test_every_route_refuses_the_anonymous_and_merchant_users(
    shop: Api, browser_for: BrowserFor, staff_member: StaffMember
) -> None:
    account, ids = await kyc_submitted(shop)
    m = account.merchant_id
    gets = [
        "/console",
        "/console/merchants",
        f"/console/merchants/{m}",
        f"/console/merchants/{m}/documents/{ids['proof_of_address']}",
        "/console/payouts",
        "/console/providers",
        "/console/ledger",
        "/console/audit",
        "/console/staff",
    ]
    superadmin_only = {"/console/staff"}
    posts = [
        f"/console/merchants/{m}/decision",
        f"/console/merchants/{m}/notes",
        f"/console/merchants/{m}/fee_plans",
        "/console/payouts/po_x/approve",
        "/console/ledger/verify",
        "/console/staff",
        "/console/staff/usr_x/role",
        "/console/staff/usr_x/revoke",
    ]
    anonymous = await browser_for()
    merchant = await browser_for(account)
    staff = await browser_for()
    await staff.sign_in(await staff_member("support"))
    for path in gets:
        refused = await anonymous.get(path)
        assert refused.status_code == 303, path
        assert refused.headers["location"].startswith("/dashboard/login?next=/console"), path
        forbidden = await merchant.get(path)
        assert forbidden.status_code == 403, path
        assert "Mboa Pay" in forbidden.text
        assert (await staff.get(path)).status_code == (403 if path in superadmin_only else 200), (
            path
        )
    for path in posts:
        assert (await anonymous.http.post(path, data={})).status_code == 303, path
        assert (await merchant.http.post(path, data={})).status_code == 403, path
    # After signing in, the sign-in page sends a staff member back to the console.
    fresh = await browser_for()
    shown = await fresh.get("/dashboard/login?next=/console/payouts")
    email = await staff_member("finance")
    signed = await fresh.http.post(
        "/dashboard/login",
        data={
            "csrf": csrf_of(shown.text),
            "email": email,
            "password": "correct-horse-42",
            "next": "/console/payouts",
        },
    )
    # Staff have two-factor sign-in: the code first, then back to the console.
    step = signed.headers["location"]
    assert step == "/dashboard/login/two-factor?next=%2Fconsole%2Fpayouts"
    coded = await fresh.post_form(
        step, "/dashboard/login/two-factor", code=next_totp_code(email), next="/console/payouts"
    )
    assert coded.headers["location"] == "/console/payouts"


async def test_support_reads_compliance_decides_and_the_owner_is_told(
    stack: Stack, shop: Api, browser_for: BrowserFor, staff_member: StaffMember
) -> None:
    account, ids = await kyc_submitted(shop)
    m = account.merchant_id
    support = await browser_for()
    await support.sign_in(await staff_member("support"))
    page = await support.get(f"/console/merchants/{m}")
    assert "Boutique Essomba" in page.text
    assert "RC/DLA/2024/B/1234" in page.text
    assert f"/console/merchants/{m}/documents/{ids['representative_id']}" in page.text
    assert 'action="/console/merchants/' + m + '/decision"' not in page.text  # hidden
    token = csrf_of((await support.get("/console/ledger")).text)
    refused = await support.http.post(
        f"/console/merchants/{m}/decision",
        data={"csrf": token, "action": "approve", "reason": "ok"},
    )
    assert refused.status_code == 403
    document = await support.get(f"/console/merchants/{m}/documents/{ids['business_registration']}")
    assert document.status_code == 200
    assert document.headers["content-type"] == "application/pdf"
    assert document.content == PDF

    compliance = await browser_for()
    await compliance.sign_in(await staff_member("compliance"))
    no_reason = await decide(compliance, m, "reject", "")
    assert no_reason.status_code == 303
    assert (await shop.http.get(f"/v1/merchants/{m}/kyc", headers=account.user_headers)).json()[
        "status"
    ] == "submitted"
    rejected = await decide(compliance, m, "reject", "Le justificatif de domicile est illisible.")
    assert rejected.status_code == 303
    kyc = (await shop.http.get(f"/v1/merchants/{m}/kyc", headers=account.user_headers)).json()
    assert kyc["status"] == "rejected"
    assert kyc["rejection_reason"] == "Le justificatif de domicile est illisible."
    # The owner fixes and resubmits; compliance approves.
    resubmitted = await shop.http.post(
        f"/v1/merchants/{m}/kyc/submit", headers=account.user_headers
    )
    assert resubmitted.json()["status"] == "submitted"
    assert (await decide(compliance, m, "approve", "Documents conformes.")).status_code == 303
    assert (await shop.http.get(f"/v1/merchants/{m}/kyc", headers=account.user_headers)).json()[
        "status"
    ] == "active"
    assert (await shop.create_key(account, livemode=True))["livemode"] is True
    # Finance may not decide on KYC either.
    finance = await browser_for()
    await finance.sign_in(await staff_member("finance"))
    assert (await decide(finance, m, "suspend", "x")).status_code == 403
    # A notice to the owner for each decision, for the mailer.
    async with stack.state.db.platform_transaction() as session:
        notices = (
            (
                await session.execute(
                    select(Notification)
                    .where(Notification.merchant_id == m)
                    .order_by(Notification.id)
                )
            )
            .scalars()
            .all()
        )
    assert [n.kind for n in notices] == ["account.updated.rejected", "account.updated.active"]
    assert notices[0].recipients == [account.email]
    assert "illisible" in notices[0].body
    # Notes: compliance writes one, support reads it.
    await compliance.post_form(
        f"/console/merchants/{m}",
        f"/console/merchants/{m}/notes",
        body="Volume élevé à surveiller.",
    )
    assert "Volume élevé à surveiller." in (await support.get(f"/console/merchants/{m}")).text


async def test_documents_are_never_reachable_from_another_merchant(
    shop: Api, browser_for: BrowserFor, staff_member: StaffMember
) -> None:
    owner, ids = await kyc_submitted(shop)
    other = await shop.signup(business="Autre")
    mine = await browser_for(owner)
    theirs = await browser_for(other)
    for document_id in ids.values():
        assert (await mine.get(f"/dashboard/activate/documents/{document_id}")).status_code == 200
        assert (await theirs.get(f"/dashboard/activate/documents/{document_id}")).status_code == 404
        # The console's route, as a merchant user: refused whoever owns the document.
        assert (
            await mine.get(f"/console/merchants/{owner.merchant_id}/documents/{document_id}")
        ).status_code == 403
    page = await theirs.get("/dashboard/activate")
    assert "Boutique Essomba" not in page.text
    # In the console, a document named under another merchant's id is not found.
    staff = await browser_for()
    await staff.sign_in(await staff_member("support"))
    for document_id in ids.values():
        crossed = await staff.get(f"/console/merchants/{other.merchant_id}/documents/{document_id}")
        assert crossed.status_code == 404


async def test_finance_approves_and_rejects_payouts_from_the_console(
    stack: Stack, shop: Api, browser_for: BrowserFor, staff_member: StaffMember
) -> None:
    account, live_key = await shop.live_account()
    threshold = stack.settings.payouts.approval_threshold
    await fund(stack.state.db, account.merchant_id, 3 * threshold, livemode=True)
    big = (await create_payout(shop.http, live_key, amount=threshold + 1)).json()
    other = (await create_payout(shop.http, live_key, amount=threshold + 2)).json()
    assert big["review_status"] == "awaiting"
    support = await browser_for()
    await support.sign_in(await staff_member("support"))
    listed = await support.get("/console/payouts")
    assert big["id"] in listed.text
    assert other["id"] in listed.text
    assert f"/console/payouts/{big['id']}/approve" not in listed.text
    token = csrf_of((await support.get("/console/ledger")).text)
    refused = await support.http.post(f"/console/payouts/{big['id']}/approve", data={"csrf": token})
    assert refused.status_code == 403
    finance = await browser_for()
    await finance.sign_in(await staff_member("finance"))
    approved = await finance.post_form("/console/payouts", f"/console/payouts/{big['id']}/approve")
    assert approved.status_code == 303
    rejected = await finance.post_form("/console/payouts", f"/console/payouts/{other['id']}/reject")
    assert rejected.status_code == 303
    seen = await shop.http.get(f"/v1/payouts/{big['id']}", headers=bearer(live_key))
    assert seen.json()["review_status"] == "approved"
    gone = await shop.http.get(f"/v1/payouts/{other['id']}", headers=bearer(live_key))
    assert gone.json()["status"] == "canceled"
    assert big["id"] not in (await finance.get("/console/payouts")).text
    # Twice: an error message, nothing changes.
    again = await finance.post_form("/console/ledger", f"/console/payouts/{big['id']}/approve")
    assert again.status_code == 303
    assert "attend plus de décision" in (await finance.get("/console/payouts")).text


async def test_provider_health_from_seeded_attempts(
    stack: Stack, shop: Api, browser_for: BrowserFor, staff_member: StaffMember
) -> None:
    account = await shop.signup()
    intents = [await pay(shop.http, account.secret_key) for _ in range(4)]
    ids = [i["id"] for i in intents]
    statuses: list[str] = []
    for _ in range(100):  # the simulator approves; its callbacks arrive before the success
        async with stack.state.db.platform_transaction() as session:
            statuses = list(
                (
                    await session.execute(
                        select(PaymentIntent.status).where(PaymentIntent.id.in_(ids))
                    )
                ).scalars()
            )
        if statuses == ["succeeded"] * 4:
            break
        await asyncio.sleep(0.2)
    assert statuses == ["succeeded"] * 4
    # Seed: the attempts' results and timestamps (latencies 10, 20, 30, 40 s; one failure).
    now = utc_now()
    async with stack.state.db.platform_transaction() as session:
        attempts = (
            (
                await session.execute(
                    select(PaymentAttempt).where(PaymentAttempt.payment_intent_id.in_(ids))
                )
            )
            .scalars()
            .all()
        )
        assert len(attempts) == 4
        for index, attempt in enumerate(sorted(attempts, key=lambda a: a.id)):
            created = now - dt.timedelta(minutes=10)
            await session.execute(
                update(PaymentAttempt)
                .where(PaymentAttempt.id == attempt.id)
                .values(
                    status="failed" if index == 3 else "succeeded",
                    created_at=created,
                    sent_at=created,
                    finished_at=created + dt.timedelta(seconds=10 * (index + 1)),
                )
            )
        received = (
            (
                await session.execute(
                    select(ProviderEvent.attempt_id).where(
                        ProviderEvent.attempt_id.in_([a.id for a in attempts])
                    )
                )
            )
            .scalars()
            .all()
        )
    staff = await browser_for()
    await staff.sign_in(await staff_member("support"))
    page = (await staff.get("/console/providers")).text
    row = page.split('data-provider="mtn_momo"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="num attempts">4</td>' in row
    assert "75.0 %" in row  # 3 succeeded of 4 final
    assert "25.0 s" in row  # p50 of 10, 20, 30, 40
    assert "38.5 s" in row  # p95 (linear interpolation)
    assert f"{len(set(received))} / 4" in row
    orange = page.split('data-provider="orange_money"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="num attempts">0</td>' in orange


async def test_ledger_verify_runs_on_demand(
    shop: Api, browser_for: BrowserFor, staff_member: StaffMember
) -> None:
    staff = await browser_for()
    await staff.sign_in(await staff_member("support"))
    before = await staff.get("/console/ledger")
    assert 'id="verify-result"' not in before.text or "Checked" in before.text
    ran = await staff.post_form("/console/ledger", "/console/ledger/verify")
    assert ran.status_code == 303
    after = await staff.get("/console/ledger")
    assert 'id="verify-result"' in after.text
    assert "ledger verify: OK" in after.text


async def test_finance_sets_a_fee_plan_and_compliance_may_not(
    shop: Api, browser_for: BrowserFor, staff_member: StaffMember
) -> None:
    account = await shop.signup(business="Grossiste Bafoussam")
    m = account.merchant_id
    page = f"/console/merchants/{m}"
    compliance = await browser_for()
    await compliance.sign_in(await staff_member("compliance"))
    assert f'action="/console/merchants/{m}/fee_plans"' not in (await compliance.get(page)).text
    token = csrf_of((await compliance.get("/console/ledger")).text)
    refused = await compliance.http.post(
        f"{page}/fee_plans",
        data={
            "csrf": token,
            "operator": "orange_money",
            "percent_bps": "150",
            "fixed_amount": "0",
            "settlement_delay_seconds": "3600",
        },
    )
    assert refused.status_code == 403
    finance = await browser_for()
    await finance.sign_in(await staff_member("finance"))
    wrong = await finance.post_form(
        page,
        f"{page}/fee_plans",
        operator="orange_money",
        percent_bps="1,5",
        fixed_amount="0",
        settlement_delay_seconds="3600",
    )
    assert wrong.status_code == 303
    assert 'role="alert"' in (await finance.get(page)).text
    saved = await finance.post_form(
        page,
        f"{page}/fee_plans",
        operator="orange_money",
        percent_bps="150",
        fixed_amount="25",
        settlement_delay_seconds="3600",
    )
    assert saved.status_code == 303
    staff_token = await shop.staff()
    plans = (
        await shop.http.get(f"/v1/admin/merchants/{m}/fee_plans", headers=bearer(staff_token))
    ).json()
    orange = next(p for p in plans if p["operator"] == "orange_money")
    assert (orange["percent_bps"], orange["fixed_amount"], orange["default"]) == (150, 25, False)
    mtn = next(p for p in plans if p["operator"] == "mtn_momo")
    assert mtn["default"] is True


async def test_staff_without_two_factor_cannot_open_the_console(
    browser_for: Any, staff_member: Callable[..., Awaitable[str]]
) -> None:
    staff = await browser_for()
    await staff.sign_in(await staff_member("superadmin", with_two_factor=False))
    sent = await staff.get("/console")
    assert sent.status_code == 303
    assert sent.headers["location"] == "/console/security"
    # A POST is refused, with the way to the enrolment page (tests/console/test_enrolment.py).
    token = csrf_of((await staff.get("/console/security")).text)
    refused = await staff.http.post("/console/ledger/verify", data={"csrf": token})
    assert refused.status_code == 403
    assert "Activez l&#39;authentification à deux facteurs" in refused.text
    # Once it is on, the console opens.
    enabled = await browser_for()
    await enabled.sign_in(await staff_member("superadmin"))
    assert (await enabled.get("/console")).status_code == 200


async def test_staff_read_every_merchants_audit_log(
    api: Api, browser_for: Any, staff_member: Callable[..., Awaitable[str]]
) -> None:
    first = await api.signup(business="Premier")
    second = await api.signup(business="Second")
    for account in (first, second):
        created = await api.http.post(
            f"/v1/merchants/{account.merchant_id}/api_keys",
            json={"name": "audited"},
            headers=account.user_headers,
        )
        assert created.status_code == 200, created.text
    support = await browser_for()
    await support.sign_in(await staff_member("support"))
    page = await support.get("/console/audit?action=api_key.*")
    assert page.status_code == 200
    assert first.merchant_id in page.text
    assert second.merchant_id in page.text
    narrowed = await support.get(f"/console/audit?merchant={first.merchant_id}")
    assert first.merchant_id in narrowed.text
    assert second.merchant_id not in narrowed.text
    merchant_user = await browser_for(first)
    assert (await merchant_user.get("/console/audit")).status_code == 403


async def test_operator_breakers_as_the_workers_report_them(
    stack: Stack, browser_for: BrowserFor, staff_member: StaffMember
) -> None:
    """The stack's worker publishes its breakers with each sample (all closed: it never
    tripped); a second worker whose MTN collection breaker is open shows as such, and drops
    out when it stops reporting."""
    breaker_board.forget()  # earlier tests' adapters tripped breakers in this same process
    redis = stack.state.redis
    prefix = stack.state.settings.worker.queue_prefix
    staff = await browser_for()
    await staff.sign_in(await staff_member("support"))

    def breaker_cell(page: str, provider: str) -> str:
        row = page.split(f'data-provider="{provider}"', 1)[1].split("</tr>", 1)[0]
        return row.split('<td class="breaker"', 1)[1].split("</td>", 1)[0]

    for _ in range(150):  # the worker samples every 5 s
        cell = breaker_cell((await staff.get("/console/providers")).text, "mtn_momo")
        if 'data-state="closed"' in cell:
            break
        await asyncio.sleep(0.1)
    assert 'data-state="closed"' in cell
    assert "fermé (1 worker" in cell

    await BreakerRepository(redis, prefix).publish(
        "other-worker:1", {"mtn_momo:collection": "opened"}
    )
    page = (await staff.get("/console/providers")).text
    cell = breaker_cell(page, "mtn_momo")
    assert 'data-state="opened"' in cell
    assert "collection" in cell
    assert "sur 1 de 2 workers" in cell
    assert 'data-state="closed"' in breaker_cell(page, "orange_money")
    assert 0 < await redis.ttl(f"{prefix}:breakers:other-worker:1") <= breaker_board.TTL_SECONDS

    await redis.delete(f"{prefix}:breakers:other-worker:1")  # as when its TTL runs out
    cell = breaker_cell((await staff.get("/console/providers")).text, "mtn_momo")
    assert 'data-state="closed"' in cell
