"""Every error `code` a client can receive, with what it means and what to do.

Each error object carries `doc_url`, which points at this catalogue as served by the API itself
(`GET /docs/errors#<code>`, docs/api-conventions.md §D7). A test scans the source for codes and fails
on one that is missing here.
"""

from __future__ import annotations

import html
from typing import Final

ERROR_CODES: Final[dict[str, str]] = {
    # Requests
    "parameter_invalid": "A parameter has a value we cannot accept; `param` names it.",
    "parameter_missing": "A required parameter is missing; `param` names it.",
    "parameter_unknown": "The request names a parameter this endpoint does not take (often a "
    "typo); `param` names it. Nothing was done.",
    "parameter_invalid_string": "A text parameter contains the NUL character (\\u0000), which "
    "cannot be stored.",
    "body_invalid": "The request body must be a JSON object.",
    "body_invalid_json": "The request body is not valid JSON.",
    "unsupported_content_type": "Send request bodies as `application/json`.",
    "request_too_large": "The request body is over the size limit (1 MB).",
    "method_not_allowed": "This HTTP method is not allowed on this URL; the `Allow` header lists "
    "those that are.",
    "resource_missing": "The URL, or the object an id names, does not exist (or belongs to "
    "another account or mode).",
    "conflict": "The request conflicts with the current state of the object.",
    "event_stream_test_mode_only": "The event stream (`GET /v1/events/stream`, `mboa listen`) "
    "serves test mode only: use a `sk_test_` key. Live events reach you through webhook "
    "endpoints, and can be listed with `GET /v1/events`.",
    # Authentication and permissions
    "authentication_required": "Send an API key or an access token in the Authorization header.",
    "api_key_missing": "No API key was sent: use `Authorization: Bearer sk_test_…`.",
    "api_key_invalid": "The API key is not one we issued, or was mistyped.",
    "api_key_revoked": "The API key was revoked; use another key of the account.",
    "api_key_expired": "The API key has expired; roll it from the dashboard.",
    "api_key_inactive": "The API key is already revoked or expired: it cannot be rolled or "
    "revoked again.",
    "access_token_invalid": "The access token is invalid or expired; refresh it or log in again.",
    "refresh_token_invalid": "The refresh token is invalid or expired; log in again.",
    "refresh_token_reused": "A refresh token was used twice, so the whole session was ended as "
    "a precaution; log in again.",
    "session_expired": "The session has ended; log in again.",
    "invalid_credentials": "The email or password is wrong.",
    "password_too_weak": "Choose a longer, less common password.",
    "permission_denied": "The caller may not do this.",
    "insufficient_permissions": "The API key's scopes do not allow this request; use a key "
    "with the needed permission.",
    "role_not_permitted": "Your role in this account does not allow this; ask an owner.",
    "platform_admin_required": "Only Mboa Pay staff may call this endpoint.",
    "account_not_live": "The account is not approved for live mode yet: use test keys until it is.",
    # Two-factor sign-in (issue 16)
    "two_factor_code_required": "The password is right and this user has two-factor sign-in: "
    "send the 6-digit code of their authenticator app (or a recovery code) as `otp`.",
    "two_factor_code_invalid": "The two-factor code is wrong, expired or already used; wait for "
    "the next code of the authenticator app, or use an unused recovery code.",
    "two_factor_already_enabled": "Two-factor sign-in is already on for this user.",
    "two_factor_not_enabled": "Two-factor sign-in is not on (or not being set up) for this user.",
    "password_incorrect": "The password typed to confirm this change is wrong.",
    # Accounts and teams
    "email_taken": "An account already uses this email address.",
    "member_exists": "This person is already a member of the account.",
    "last_owner": "An account must keep at least one owner.",
    "owner_required": "Only an owner of the account can do this.",
    # Team invitations and password resets (issue 16)
    "invitation_pending": "This email already has a pending invitation: resend or revoke it.",
    "invitation_invalid": "This invitation link is not valid: it was used, revoked or has "
    "expired. Ask for a new one.",
    "invitation_email_mismatch": "This invitation was sent to another email address: sign in "
    "with that one.",
    "reset_token_invalid": "This password-reset link is not valid: it was used or has expired. "
    "Ask for a new one.",
    "email_invalid": "This is not a valid email address.",
    "merchant_status_invalid": "The merchant is not in a state that allows this change.",
    # Going live and the staff console (issue 17, docs/going-live.md)
    "kyc_incomplete": "The going-live submission lacks required fields or documents; the message "
    "lists each one. Fill them in, then submit again.",
    "kyc_not_editable": "The business profile and documents cannot change now: they are under "
    "review, or the account is already approved.",
    "kyc_document_invalid": "The document is not a PDF, PNG or JPEG file (read from its bytes), "
    "or its kind is not one of representative_id, business_registration, proof_of_address.",
    "kyc_document_too_large": "The document is larger than the limit (5 MB by default).",
    "staff_role_required": "Your staff role does not allow this action in the console.",
    "two_factor_required": "The staff console needs two-factor authentication: turn it on first.",
    "staff_role_invalid": "The staff role is not one of support, compliance, finance, superadmin.",
    "staff_user_not_found": "No active user has this email: staff roles are granted to existing "
    "accounts only (create a new person's with `mboa admin create`).",
    "staff_already_granted": "This user is already staff: change their role instead.",
    "staff_member_not_found": "This user is not (or is no longer) a staff member.",
    "staff_self_change": "A superadmin cannot change or revoke their own staff access: another "
    "superadmin must.",
    "last_superadmin": "This change would leave no superadmin: make someone else superadmin first.",
    "phone_number_invalid": "The phone number is not a valid number; send it in E.164 form "
    "(+2376…).",
    "phone_number_unsupported": "The phone number is valid but no supported operator serves it.",
    # Webhooks
    "webhook_url_invalid": "The webhook endpoint's URL is not allowed: live mode needs an https "
    "URL to a public address; test mode also takes http to localhost.",
    "webhook_endpoint_limit": "The account has the most webhook endpoints a mode may have (16); "
    "delete one first.",
    "webhook_endpoint_disabled": "The webhook endpoint is disabled: enable it (status=enabled) "
    "before resending events to it.",
    # Payments
    "amount_too_small": "The amount is below the smallest payment we take (100 XAF by default).",
    "amount_too_large": "The amount is above what the operator takes in one payment; ask for "
    "less, or split the payment.",
    "currency_unsupported": "The currency is not one we collect in; use XAF.",
    "reference_taken": "Another payment intent of this mode already has this `reference`; "
    "references are yours and unique. Retrieve that intent instead.",
    "payment_intent_unexpected_state": "The payment intent's status does not allow this action "
    "(e.g. confirming a succeeded intent, or canceling one while an attempt runs).",
    # Checkout (issue 15)
    "checkout_session_unexpected_state": "The checkout session's status does not allow this "
    "(e.g. expiring a completed session, or one whose payment is with the operator right now).",
    "url_invalid": "`success_url`, `cancel_url` and redirect URLs must be absolute http(s) URLs "
    "(https in live mode).",
    "payment_link_inactive": "This payment link was deactivated; the merchant can activate it "
    "again (`active: true`).",
    "csrf_token_invalid": "The payment page's form was not sent from the page itself (or the page "
    "is too old); reload the page and try again.",
    "prompt_not_resendable": "The prompt cannot be sent again: the operator cannot (MTN MoMo: dial "
    "*126# to approve) or no request is waiting.",
    # Payouts (issue 13 point 5)
    "balance_insufficient": "The amount is above your available balance (collected money "
    "becomes available after the settlement delay); ask for less, or wait.",
    "payout_unexpected_state": "The payout's status does not allow this action (e.g. canceling "
    "a payout already in transit, or approving one that needs no review).",
    # Refunds (issue 13 point 4)
    "refund_amount_invalid": "A refund's amount must be a positive integer in XAF.",
    "refund_amount_exceeds_refundable": "The amount is above what is left to refund on this "
    "payment (what was received, less the refunds pending or made).",
    "refund_balance_insufficient": "Your balance cannot cover this refund, even with this "
    "payment's own pending funds; refund less, or wait for other payments to settle.",
    "payment_intent_not_refundable": "The payment intent received no money (or has no wallet "
    "to give it back to), so there is nothing to refund.",
    # Files (issue 17: storage, receipts, logos)
    "file_too_large": "The uploaded file is over its size limit (a logo: 2 MB; a document: 10 MB).",
    "file_empty": "The upload has no file, or the file is empty; send it as the multipart "
    "field `file`.",
    "file_type_not_allowed": "This kind of file is not accepted here (we look at its content, "
    "not its name): a logo is PNG, JPEG or WebP; a document PDF, PNG or JPEG.",
    "file_invalid": "The file is damaged or is not what its content claims (an image that "
    "does not decode, a truncated PDF).",
    "file_rejected": "The file was refused by the virus scan.",
    "signed_url_invalid": "The file link has expired or was altered; ask for a new one.",
    "receipt_unavailable": "Only a succeeded payment has a receipt; this one has not "
    "succeeded (yet).",
    # Idempotency
    "idempotency_key_invalid": "The Idempotency-Key header must be 1 to 255 printable characters.",
    "idempotency_key_in_use": "A request with the same Idempotency-Key is still being "
    "processed; retry shortly.",
    "idempotency_key_reused": "The Idempotency-Key was used for a different request; use a new "
    "key for new parameters.",
    # Limits and availability
    "rate_limit": "Too many requests; wait for the time in `Retry-After`.",
    "database_busy": "Every database connection stayed busy; retry in a moment with the same "
    "Idempotency-Key.",
    "service_unavailable": "A service is briefly unavailable; retry with the same Idempotency-Key.",
    "internal_error": "Something went wrong on our side. It has been logged; retry later with "
    "the same Idempotency-Key.",
    # Ledger
    "ledger_busy": "The ledger was busy with a concurrent write; retry with the same "
    "Idempotency-Key (the retry is answered as a replay if the first one went through).",
    "ledger_error": "The ledger refused the operation as malformed.",
    "posting_rejected": "The ledger refused the movement of money (for example, insufficient "
    "funds, or the same key used for different content).",
    "fee_plan_missing": "No fee plan applies to this operator and currency: a platform set-up "
    "error, logged for our staff.",
}


_docs_base = ""


def serve_docs_at(base_url: str) -> None:
    """Where this process's API is reached (`Settings.base_url`): set once when the app is
    built, so that every `doc_url` is absolute as Stripe's are."""
    global _docs_base
    _docs_base = base_url.rstrip("/")


def doc_url(code: str) -> str:
    return f"{_docs_base}/docs/errors#{code}"


def render_catalogue() -> str:
    """The catalogue as one HTML page, one anchor per code."""
    rows = "\n".join(
        f'<dt id="{html.escape(code)}"><code>{html.escape(code)}</code></dt>'
        f"<dd>{html.escape(text)}</dd>"
        for code, text in sorted(ERROR_CODES.items())
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Mboa Pay API errors</title></head><body>"
        "<h1>Error codes</h1><p>Every error response is "
        '<code>{"error": {"type", "code", "message", "param", "doc_url", "request_id"}}</code>; '
        "<code>doc_url</code> links here.</p>"
        f"<dl>\n{rows}\n</dl></body></html>"
    )
