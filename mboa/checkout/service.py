"""Checkout sessions, their payment page and payment links (docs/checkout.md).

A session wraps one payment intent (created with it, through the payments service) and moves
`open` → `complete` (its intent succeeded: `intent_succeeded`, called by the payments service in
the transaction that applies the success) or `open` → `expired` (`expire`, or the janitor once
`expires_at` passed). Each move writes its event in the same transaction.

The page is public. Its URL names the session and carries a secret (`url_secret`). A page view
(and the waiting screen's status) is one definer function that checks both and returns only
that session's page (`mboa_checkout_page`); a post finds the tenant by a definer function that
checks both (`page_tenant`), and everything after runs as the API role scoped to that tenant,
so row-level security applies as for any API request.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.auth.subject import AuthSubject, SubjectKind
from mboa.checkout.exceptions import (
    CheckoutSessionNotFound,
    CheckoutSessionUnexpectedState,
    PaymentLinkInactive,
    PaymentLinkNotFound,
    PromptNotResendable,
    UrlInvalid,
)
from mboa.checkout.repository import (
    CheckoutSessionRepository,
    PaymentLinkRepository,
    PublicPageReads,
)
from mboa.checkout.schemas import (
    AfterCompletion,
    AfterCompletionInput,
    CheckoutSessionCreate,
    CustomAmount,
    CustomerDetails,
    HostedConfirmation,
    PaymentLinkCreate,
    PaymentLinkUpdate,
    Redirect,
)
from mboa.checkout.schemas import CheckoutSession as CheckoutSessionObject
from mboa.checkout.schemas import PaymentLink as PaymentLinkObject
from mboa.config import PaymentsSettings
from mboa.events.service import event as event_service
from mboa.exceptions import BadRequest
from mboa.kit.ids import Prefix, new_id
from mboa.kit.pagination import CreatedRange, ListParams
from mboa.kit.schemas import merge_metadata
from mboa.kit.time import utc_now
from mboa.models import CheckoutSession, PaymentAttempt, PaymentIntent, PaymentLink
from mboa.payments.exceptions import AmountTooLarge, AmountTooSmall, CurrencyUnsupported
from mboa.payments.schemas import PaymentIntent as PaymentIntentObject
from mboa.payments.schemas import (
    PaymentIntentCancel,
    PaymentIntentConfirm,
    PaymentIntentCreate,
)
from mboa.payments.service import as_object as payment_intent_object
from mboa.payments.service import payment_intent as payment_intent_service
from mboa.postgres import Database, TenantContext
from mboa.providers.errors import ProviderError
from mboa.providers.phone import parse_phone
from mboa.providers.types import CollectionFlow, Product, ProviderName, TransactionRef

log = structlog.get_logger("mboa.checkout")

SECRET_BYTES = 24
"""The URL's secret: 192 random bits (32 base64url characters)."""
ID_LENGTH = len(Prefix.checkout_session) + 1 + 26
JANITOR_BATCH = 200


def page_path(session_id: str, secret: str) -> str:
    return f"/pay/{session_id}_{secret}"


def split_token(token: str) -> tuple[str, str] | None:
    """`cs_<ULID>_<secret>` → (id, secret); None for anything else."""
    if len(token) < ID_LENGTH + 2 or token[ID_LENGTH] != "_":
        return None
    session_id, secret = token[:ID_LENGTH], token[ID_LENGTH + 1 :]
    if not session_id.startswith(Prefix.checkout_session + "_") or len(secret) > 64:
        return None
    return session_id, secret


def check_url(value: str, *, param: str, livemode: bool) -> str:
    """An absolute http(s) URL (https in live mode): where we send the payer's browser."""
    parts = urlsplit(value)
    allowed = ("https",) if livemode else ("http", "https")
    if (
        parts.scheme not in allowed
        or not parts.hostname
        or any(c.isspace() or ord(c) < 32 for c in value)
    ):
        raise UrlInvalid(
            f"{param} must be an absolute {' or '.join(allowed)} URL"
            + (" (live mode)" if livemode else ""),
            param=param,
        )
    return value


def with_session_id(url: str, session_id: str) -> str:
    """`success_url` with `session_id=cs_…` added to its query."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("session_id", session_id)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def render_session(cs: CheckoutSession, base_url: str | None) -> CheckoutSessionObject:
    return CheckoutSessionObject(
        id=cs.id,
        livemode=cs.livemode,
        created=cs.created_at,
        metadata=cs.metadata_,
        url=(base_url or "") + page_path(cs.id, cs.url_secret) if cs.status == "open" else None,
        status=cs.status,  # type: ignore[arg-type]
        payment_status="paid" if cs.status == "complete" else "unpaid",
        amount=cs.amount,
        currency=cs.currency,
        description=cs.description,
        success_url=cs.success_url,
        cancel_url=cs.cancel_url,
        locale=cs.locale,  # type: ignore[arg-type]
        customer=cs.customer_id,
        customer_details=CustomerDetails(**cs.customer_details) if cs.customer_details else None,
        payment_intent=cs.payment_intent_id,
        payment_link=cs.payment_link_id,
        expires_at=cs.expires_at,
        completed_at=cs.completed_at,
        expired_at=cs.expired_at,
    )


def render_link(link: PaymentLink, base_url: str) -> PaymentLinkObject:
    if link.after_completion_type == "redirect":
        after = AfterCompletion(
            type="redirect", redirect=Redirect(url=link.after_completion_url or "")
        )
    else:
        after = AfterCompletion(
            type="hosted_confirmation",
            hosted_confirmation=HostedConfirmation(custom_message=link.after_completion_message),
        )
    custom = None
    if link.amount is None:
        custom = CustomAmount(minimum=link.min_amount or 0, maximum=link.max_amount or 0)
    return PaymentLinkObject(
        id=link.id,
        livemode=link.livemode,
        created=link.created_at,
        metadata=link.metadata_,
        active=link.active,
        url=f"{base_url}/l/{link.id}",
        currency=link.currency,
        amount=link.amount,
        custom_amount=custom,
        description=link.description,
        fields=list(link.fields),  # type: ignore[arg-type]
        after_completion=after,
    )


def _public_subject(tenant: TenantContext) -> AuthSubject:
    """The payer on a public page: no permission of its own, only the page's tenant."""
    return AuthSubject(
        kind=SubjectKind.publishable_key,
        permissions=frozenset(),
        merchant_id=tenant.merchant_id,
        livemode=tenant.livemode,
    )


class CheckoutSessionService:
    # -- API -----------------------------------------------------------------------------------

    async def create(
        self,
        session: AsyncSession,
        auth: AuthSubject,
        body: CheckoutSessionCreate,
        settings: PaymentsSettings,
        base_url: str,
    ) -> CheckoutSessionObject:
        livemode = auth.tenant.livemode
        check_url(body.success_url, param="success_url", livemode=livemode)
        if body.cancel_url is not None:
            check_url(body.cancel_url, param="cancel_url", livemode=livemode)
        phone = None
        if body.phone is not None:
            phone = parse_phone(body.phone, allow_sandbox=not livemode).e164
        cs = await self._open(
            session,
            auth,
            settings,
            amount=body.amount,
            currency=body.currency,
            reference=body.reference,
            description=body.description,
            customer=body.customer,
            expires_in=body.expires_in,
            metadata=body.metadata or {},
            success_url=body.success_url,
            cancel_url=body.cancel_url,
            locale=body.locale,
            phone=phone,
        )
        return render_session(cs, base_url)

    async def _open(
        self,
        session: AsyncSession,
        auth: AuthSubject,
        settings: PaymentsSettings,
        *,
        amount: int,
        currency: str,
        reference: str | None,
        description: str | None,
        customer: str | None,
        expires_in: int | None,
        metadata: dict[str, str],
        success_url: str | None,
        cancel_url: str | None,
        locale: str,
        phone: str | None,
        link: PaymentLink | None = None,
        completion_message: str | None = None,
        customer_details: dict[str, str] | None = None,
    ) -> CheckoutSession:
        # The intent checks amount, currency, reference, customer and expiry, naming the
        # parameter; the session shares its expiry.
        intent = await payment_intent_service.create_awaiting_payment_method(
            session,
            auth,
            PaymentIntentCreate(
                amount=amount,
                currency=currency,
                reference=reference,
                description=description,
                customer=customer,
                expires_in=expires_in,
            ),
            settings,
        )
        tenant = auth.tenant
        cs = CheckoutSession(
            id=new_id(Prefix.checkout_session),
            merchant_id=tenant.merchant_id,
            livemode=tenant.livemode,
            created_at=utc_now(),
            metadata_=metadata,
            url_secret=secrets.token_urlsafe(SECRET_BYTES),
            status="open",
            payment_intent_id=intent.id,
            payment_link_id=link.id if link is not None else None,
            amount=intent.amount,
            currency=intent.currency,
            description=description,
            success_url=success_url,
            cancel_url=cancel_url,
            completion_message=completion_message,
            locale=locale,
            customer_id=customer,
            phone=phone,
            customer_details=customer_details or None,
            expires_at=intent.expires_at,
        )
        session.add(cs)
        await session.flush()
        return cs

    async def retrieve(
        self, session: AsyncSession, session_id: str, base_url: str
    ) -> CheckoutSessionObject:
        return render_session(await self._get(session, session_id), base_url)

    async def list(
        self,
        session: AsyncSession,
        params: ListParams,
        base_url: str,
        *,
        status: str | None,
        payment_intent: str | None,
        payment_link: str | None,
        created: CreatedRange | None,
    ) -> tuple[list[CheckoutSessionObject], bool]:
        repository = CheckoutSessionRepository.from_session(session)
        statement = repository.list_statement(
            status=status, payment_intent=payment_intent, payment_link=payment_link, created=created
        )
        rows, has_more = await repository.paginate(statement, params)
        return [render_session(cs, base_url) for cs in rows], has_more

    async def expire(
        self, session: AsyncSession, session_id: str, base_url: str
    ) -> CheckoutSessionObject:
        """Close an open session now: its intent is canceled (`abandoned`). Refused while an
        attempt is with the operator: the payer may be approving it."""
        cs = await CheckoutSessionRepository.from_session(session).get_for_update(session_id)
        if cs is None:
            raise CheckoutSessionNotFound(f"No such checkout session: '{session_id}'", param="id")
        if cs.status != "open":
            raise CheckoutSessionUnexpectedState(f"This checkout session is {cs.status}.")
        intent = await session.get(PaymentIntent, cs.payment_intent_id)
        assert intent is not None
        if intent.status == "processing":
            raise CheckoutSessionUnexpectedState(
                "A payment attempt of this session is with the operator; it cannot be expired "
                "until the payer answers or the attempt times out."
            )
        if intent.status == "requires_payment_method":
            await payment_intent_service.cancel(
                session, intent.id, PaymentIntentCancel(cancellation_reason="abandoned")
            )
        await self._expired(session, cs)
        return render_session(cs, base_url)

    async def _get(self, session: AsyncSession, session_id: str) -> CheckoutSession:
        cs = await CheckoutSessionRepository.from_session(session).get(session_id)
        if cs is None:
            raise CheckoutSessionNotFound(f"No such checkout session: '{session_id}'", param="id")
        return cs

    async def _expired(self, session: AsyncSession, cs: CheckoutSession) -> None:
        before = cs.status
        cs.status = "expired"
        cs.expired_at = utc_now()
        await self._event(session, "checkout.session.expired", cs, previous={"status": before})

    async def _event(
        self,
        session: AsyncSession,
        type: str,
        cs: CheckoutSession,
        *,
        previous: dict[str, Any] | None = None,
    ) -> None:
        await session.flush()
        await event_service.record(
            session,
            merchant_id=cs.merchant_id,
            livemode=cs.livemode,
            type=type,
            snapshot=render_session(cs, None).model_dump(mode="json"),
            previous_attributes=previous,
        )

    # -- the payments service's hook, and the janitor ------------------------------------------

    async def intent_succeeded(self, session: AsyncSession, intent: PaymentIntent) -> None:
        """In the transaction that applies the intent's success: its session (if any)
        completes, with its event."""
        cs = await CheckoutSessionRepository.from_session(session).of_intent_for_update(
            intent.merchant_id, intent.livemode, intent.id
        )
        if cs is None or cs.status == "complete":
            return
        # An expired session whose intent still succeeds is complete all the same: the
        # intent never succeeds after its own cancellation (a late success is refunded).
        before = cs.status
        cs.status = "complete"
        cs.completed_at = utc_now()
        cs.expired_at = None
        await self._event(session, "checkout.session.completed", cs, previous={"status": before})

    async def janitor(self, db: Database) -> int:
        """Expire open sessions past `expires_at` (their intents are the payments janitor's)."""
        now = utc_now()
        async with db.platform_transaction() as session:
            ids = await CheckoutSessionRepository.from_session(session).expired_open_ids(
                now, JANITOR_BATCH
            )
        expired = 0
        for session_id in ids:
            async with db.platform_transaction() as session:
                cs = await CheckoutSessionRepository.from_session(session).get_for_update(
                    session_id
                )
                if cs is None or cs.status != "open" or cs.expires_at > now:
                    continue
                intent = await session.get(PaymentIntent, cs.payment_intent_id)
                if intent is not None and intent.status == "succeeded":
                    await self.intent_succeeded(session, intent)
                    continue
                await self._expired(session, cs)
                expired += 1
        return expired


checkout_session = CheckoutSessionService()


# -- the payment page -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class PageView:
    """Everything the payment page shows, decided here (the template only presents it)."""

    state: str
    """`form`, `waiting`, `redirect` (Orange WebPay), `succeeded`, `expired`."""
    session_id: str
    merchant_name: str
    amount: int
    currency: str
    description: str | None
    livemode: bool
    locale: str
    phone: str | None
    cancel_url: str | None
    success_redirect: str | None
    completion_message: str | None
    expires_at: dt.datetime
    provider: str | None
    phone_masked: str | None
    error_code: str | None
    redirect_url: str | None
    operator_transaction_id: str | None
    paid_at: dt.datetime | None
    can_resend: bool
    logo_key: str | None = None
    """The merchant's logo in object storage; the page shows it by a signed URL."""


@dataclasses.dataclass(frozen=True, slots=True)
class LinkView:
    """Everything a payment link's page shows."""

    id: str
    livemode: bool
    merchant_name: str
    active: bool
    currency: str
    amount: int | None
    min_amount: int | None
    max_amount: int | None
    description: str | None
    fields: tuple[str, ...]
    logo_key: str | None = None


def page_state(
    cs_status: str,
    expires_at: dt.datetime,
    intent_status: str,
    attempt_status: str | None,
    flow: str | None,
    now: dt.datetime,
) -> str:
    if intent_status == "succeeded" or cs_status == "complete":
        return "succeeded"
    if cs_status == "expired" or intent_status == "canceled" or expires_at <= now:
        return "expired"
    if intent_status == "processing" and attempt_status == "pending":
        return "redirect" if flow == CollectionFlow.redirect else "waiting"
    return "form"


class CheckoutPageService:
    async def tenant(self, session: AsyncSession, token: str) -> tuple[str, TenantContext]:
        """The session id and tenant of a page URL; 404 for anything that does not match."""
        parts = split_token(token)
        tenant = None
        if parts is not None:
            tenant = await CheckoutSessionRepository.from_session(session).page_tenant(*parts)
        if parts is None or tenant is None:
            raise CheckoutSessionNotFound("No such payment page.")
        return parts[0], tenant

    async def view(self, reads: asyncpg.Connection, token: str) -> PageView:
        """What the payment page shows, from one statement (`mboa_checkout_page`: the session
        whose id and secret the URL carries, or nothing: 404)."""
        row = await self._page_row(reads, token)
        now = utc_now()
        state = page_state(
            row["status"],
            row["expires_at"],
            row["intent_status"],
            row["attempt_status"],
            row["flow"],
            now,
        )
        redirect = None
        if state == "succeeded" and row["success_url"]:
            redirect = with_session_id(row["success_url"], row["id"])
        return PageView(
            state=state,
            session_id=row["id"],
            merchant_name=row["merchant_name"],
            amount=row["amount"],
            currency=row["currency"],
            description=row["description"],
            livemode=row["livemode"],
            locale=row["locale"],
            phone=row["phone"],
            cancel_url=row["cancel_url"],
            success_redirect=redirect,
            completion_message=row["completion_message"],
            expires_at=row["expires_at"],
            provider=row["provider"],
            phone_masked=row["phone_masked"],
            error_code=row["error_code"] if state == "form" else None,
            redirect_url=row["redirect_url"] if state == "redirect" else None,
            operator_transaction_id=row["operator_transaction_id"],
            paid_at=row["succeeded_at"],
            can_resend=bool(
                state == "waiting"
                and row["provider"] == ProviderName.orange_money
                and row["prompt_sent"]
            ),
            logo_key=row["merchant_logo_key"],
        )

    async def intent_of(self, session: AsyncSession, session_id: str) -> str:
        """The payment intent of a page's checkout session (the request is already scoped to
        the page's tenant)."""
        cs = await CheckoutSessionRepository.from_session(session).get(session_id)
        if cs is None:
            raise CheckoutSessionNotFound("No such payment page.")
        return cs.payment_intent_id

    async def _page_row(self, reads: asyncpg.Connection, token: str) -> asyncpg.Record:
        parts = split_token(token)
        row = await PublicPageReads(reads).checkout_page(*parts) if parts is not None else None
        if row is None:
            raise CheckoutSessionNotFound("No such payment page.")
        return row

    async def confirm(
        self,
        session: AsyncSession,
        session_id: str,
        settings: PaymentsSettings,
        *,
        phone: str | None,
        provider: ProviderName | None,
    ) -> None:
        """The payer's number (or Orange WebPay: Orange and no number): a new attempt."""
        cs = await CheckoutSessionRepository.from_session(session).get_for_update(session_id)
        if cs is None:
            raise CheckoutSessionNotFound("No such payment page.")
        if cs.status != "open" or cs.expires_at <= utc_now():
            raise CheckoutSessionUnexpectedState("This payment page is closed.")
        if not phone and provider is not ProviderName.orange_money:
            raise BadRequest(
                "Enter your mobile money number.", param="phone", code="parameter_missing"
            )
        await payment_intent_service.confirm(
            session,
            cs.payment_intent_id,
            PaymentIntentConfirm(phone=phone or None, provider=provider),
            settings,
        )

    async def latest_attempt(self, session: AsyncSession, session_id: str) -> PaymentAttempt | None:
        """The page's latest attempt: the resend action limits prompts per its phone number
        before `resend` pushes again."""
        found = await CheckoutSessionRepository.from_session(session).page(session_id)
        if found is None:
            raise CheckoutSessionNotFound("No such payment page.")
        return found[2]

    async def resend(self, providers: Any, attempt: PaymentAttempt | None) -> None:
        """Push the prompt of the waiting attempt again (Orange Money `mp/push`; MTN MoMo
        cannot: its payers dial *126#)."""
        if (
            attempt is None
            or attempt.status != "pending"
            or attempt.provider != ProviderName.orange_money
            or attempt.flow != CollectionFlow.push
            or not attempt.operator_reference
        ):
            raise PromptNotResendable("No prompt can be sent again for this payment.")
        ref = TransactionRef(
            provider=ProviderName.orange_money,
            product=Product.collection,
            reference=attempt.operator_reference,
            flow=CollectionFlow.push,
            external_id=attempt.id,
            amount=attempt.amount,
        )
        try:
            await providers.get(ProviderName.orange_money).resend_prompt(ref)
        except ProviderError as exc:
            log.warning("checkout_resend_failed", attempt_id=attempt.id, error=type(exc).__name__)
            raise PromptNotResendable("The operator did not send the prompt again.") from None

    async def status(self, reads: asyncpg.Connection, token: str) -> dict[str, Any]:
        """What the waiting screen follows: the page's state, and a failure's code (the same
        one statement as the page)."""
        row = await self._page_row(reads, token)
        state = page_state(
            row["status"],
            row["expires_at"],
            row["intent_status"],
            row["attempt_status"],
            row["flow"],
            utc_now(),
        )
        return {
            "state": state,
            "attempt": row["attempt_id"],
            "error": row["error_code"] if state == "form" else None,
            "redirect_url": row["redirect_url"] if state == "redirect" else None,
        }

    # -- payment links ---------------------------------------------------------------------------

    async def link_tenant(self, session: AsyncSession, link_id: str) -> TenantContext:
        tenant = None
        if link_id.startswith(Prefix.payment_link + "_") and len(link_id) <= 40:
            tenant = await PaymentLinkRepository.from_session(session).public_tenant(link_id)
        if tenant is None:
            raise PaymentLinkNotFound("No such payment link.")
        return tenant

    async def link_view(self, reads: asyncpg.Connection, link_id: str) -> LinkView:
        """What a payment link's page shows, from one statement (`mboa_payment_link_page`)."""
        row = None
        if link_id.startswith(Prefix.payment_link + "_") and len(link_id) <= 40:
            row = await PublicPageReads(reads).payment_link(link_id)
        if row is None:
            raise PaymentLinkNotFound("No such payment link.")
        return LinkView(
            id=row["id"],
            livemode=row["livemode"],
            merchant_name=row["merchant_name"],
            active=row["active"],
            currency=row["currency"],
            amount=row["amount"],
            min_amount=row["min_amount"],
            max_amount=row["max_amount"],
            description=row["description"],
            fields=tuple(row["fields"]),
            logo_key=row["merchant_logo_key"],
        )

    async def open_from_link(
        self,
        session: AsyncSession,
        tenant: TenantContext,
        link_id: str,
        settings: PaymentsSettings,
        *,
        amount: str | None,
        name: str | None,
        note: str | None,
        locale: str,
    ) -> str:
        """A visit's checkout session; returns its page path."""
        found = await PaymentLinkRepository.from_session(session).with_merchant_name(link_id)
        if found is None:
            raise PaymentLinkNotFound("No such payment link.")
        link, _ = found
        if not link.active:
            raise PaymentLinkInactive("This payment link is no longer active.")
        if link.amount is not None:
            chosen = link.amount
        else:
            digits = "".join(c for c in (amount or "") if c.isdigit())
            if not digits or len(digits) > 12:
                raise BadRequest("Enter an amount.", param="amount", code="parameter_missing")
            chosen = int(digits)
            if chosen < (link.min_amount or 0):
                raise AmountTooSmall(f"At least {link.min_amount}.", param="amount")
            if chosen > (link.max_amount or 0):
                raise AmountTooLarge(f"At most {link.max_amount}.", param="amount")
        details = {}
        if "name" in link.fields and name:
            details["name"] = name.strip()[:200]
        if "note" in link.fields and note:
            details["note"] = note.strip()[:500]
        redirect = link.after_completion_url if link.after_completion_type == "redirect" else None
        message = None
        if link.after_completion_type == "hosted_confirmation":
            message = link.after_completion_message or ""
        cs = await checkout_session._open(
            session,
            _public_subject(tenant),
            settings,
            amount=chosen,
            currency=link.currency,
            reference=None,
            description=link.description,
            customer=None,
            expires_in=None,
            metadata={},
            success_url=redirect,
            cancel_url=None,
            locale=locale,
            phone=None,
            link=link,
            completion_message=message,
            customer_details=details,
        )
        return page_path(cs.id, cs.url_secret)


checkout_page = CheckoutPageService()


# -- payment links (API) ------------------------------------------------------------------------


def _after_completion(
    value: AfterCompletionInput | None, livemode: bool
) -> tuple[str, str | None, str | None]:
    if value is None:
        return "hosted_confirmation", None, None
    if value.type == "redirect":
        url = (value.redirect or {}).get("url")
        if not url:
            raise BadRequest(
                "after_completion[redirect][url] is required",
                param="after_completion[redirect][url]",
            )
        check_url(url, param="after_completion[redirect][url]", livemode=livemode)
        return "redirect", url, None
    message = (value.hosted_confirmation or {}).get("custom_message")
    if message is not None and len(message) > 500:
        raise BadRequest(
            "custom_message is at most 500 characters",
            param="after_completion[hosted_confirmation][custom_message]",
        )
    return "hosted_confirmation", None, message


class PaymentLinkService:
    async def create(
        self,
        session: AsyncSession,
        auth: AuthSubject,
        body: PaymentLinkCreate,
        settings: PaymentsSettings,
        base_url: str,
    ) -> PaymentLinkObject:
        tenant = auth.tenant
        currency = body.currency.upper()
        if currency not in settings.currencies:
            raise CurrencyUnsupported(
                f"currency {body.currency!r} is not supported; use {', '.join(settings.currencies)}",
                param="currency",
            )
        most = max(settings.max_amount.values())
        if (body.amount is None) == (body.custom_amount is None):
            raise BadRequest("Give either amount or custom_amount.", param="amount")
        low = body.amount if body.amount is not None else body.custom_amount.minimum  # type: ignore[union-attr]
        high = body.amount if body.amount is not None else body.custom_amount.maximum  # type: ignore[union-attr]
        param = "amount" if body.amount is not None else "custom_amount"
        if low < settings.min_amount:
            raise AmountTooSmall(f"amounts start at {settings.min_amount} {currency}", param=param)
        if high > most:
            raise AmountTooLarge(f"amounts go up to {most} {currency}", param=param)
        if low > high:
            raise BadRequest(
                "custom_amount[minimum] is above custom_amount[maximum]",
                param="custom_amount[minimum]",
            )
        kind, url, message = _after_completion(body.after_completion, tenant.livemode)
        link = PaymentLink(
            id=new_id(Prefix.payment_link),
            merchant_id=tenant.merchant_id,
            livemode=tenant.livemode,
            created_at=utc_now(),
            metadata_=body.metadata or {},
            active=body.active,
            currency=currency,
            amount=body.amount,
            min_amount=None if body.amount is not None else low,
            max_amount=None if body.amount is not None else high,
            description=body.description,
            fields=sorted(set(body.fields)),
            after_completion_type=kind,
            after_completion_url=url,
            after_completion_message=message,
        )
        session.add(link)
        await session.flush()
        return render_link(link, base_url)

    async def _get(self, session: AsyncSession, link_id: str) -> PaymentLink:
        link = await PaymentLinkRepository.from_session(session).get(link_id)
        if link is None:
            raise PaymentLinkNotFound(f"No such payment link: '{link_id}'", param="id")
        return link

    async def retrieve(
        self, session: AsyncSession, link_id: str, base_url: str
    ) -> PaymentLinkObject:
        return render_link(await self._get(session, link_id), base_url)

    async def update(
        self,
        session: AsyncSession,
        auth: AuthSubject,
        link_id: str,
        body: PaymentLinkUpdate,
        base_url: str,
    ) -> PaymentLinkObject:
        link = await self._get(session, link_id)
        if body.active is not None:
            link.active = body.active
        if body.description is not None:
            link.description = body.description or None
        if body.fields is not None:
            link.fields = sorted(set(body.fields))
        if body.after_completion is not None:
            kind, url, message = _after_completion(body.after_completion, auth.tenant.livemode)
            link.after_completion_type = kind
            link.after_completion_url = url
            link.after_completion_message = message
        link.metadata_ = merge_metadata(link.metadata_, body.metadata)
        await session.flush()
        return render_link(link, base_url)

    async def list(
        self,
        session: AsyncSession,
        params: ListParams,
        base_url: str,
        *,
        active: bool | None,
        created: CreatedRange | None,
    ) -> tuple[list[PaymentLinkObject], bool]:
        repository = PaymentLinkRepository.from_session(session)
        rows, has_more = await repository.paginate(
            repository.list_statement(active=active, created=created), params
        )
        return [render_link(link, base_url) for link in rows], has_more

    async def url(self, session: AsyncSession, link_id: str, base_url: str) -> str:
        """The link's public URL (what its QR code encodes)."""
        return f"{base_url}/l/{(await self._get(session, link_id)).id}"

    async def payment_intents(
        self, session: AsyncSession, link_id: str, params: ListParams
    ) -> tuple[Sequence[PaymentIntentObject], bool]:
        """The payment intents of the link's checkout sessions, newest first."""
        await self._get(session, link_id)
        repository = CheckoutSessionRepository.from_session(session)
        intents, has_more = await repository.intents_of_link(
            link_id, params.limit, params.starting_after
        )
        attempts: dict[str, PaymentAttempt] = await repository.latest_attempts(intents)
        return [
            payment_intent_object(i, attempts.get(i.latest_attempt_id or "")) for i in intents
        ], has_more


payment_link = PaymentLinkService()
