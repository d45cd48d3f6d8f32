"""What a member reads when an action fails, in the page's language: each error code a dashboard
form can meet, marked for the catalogs with `N_` (tests/dashboard/test_i18n.py checks both
languages have every one)."""

from __future__ import annotations

from mboa.dashboard.i18n import N_, translations

MESSAGES: dict[str, str] = {
    "invalid_credentials": N_("Incorrect email or password."),
    "rate_limit": N_("Too many tries. Wait a minute and try again."),
    "csrf_token_invalid": N_("This page was open too long. Try again."),
    "role_not_permitted": N_("Your role does not allow this. Ask an owner or an admin."),
    "session_expired": N_("Your session has ended: sign in again."),
    "parameter_invalid": N_("Something in the form is not right. Check it and try again."),
    "refund_amount_invalid": N_("Enter an amount above zero."),
    "refund_amount_exceeds_refundable": N_("This amount is more than what can still be refunded."),
    "refund_balance_insufficient": N_("Your balance cannot cover this refund."),
    "payment_intent_not_refundable": N_("This payment cannot be refunded."),
    "resource_missing": N_("This page does not exist, or belongs to another account."),
    "account_not_live": N_("This account cannot use live mode yet: it is not approved."),
    # Sign-up and two-factor sign-in (account_pages.py)
    # (email_taken and password_too_weak: the same words as the team pages' sign-up)
    # team, settings, password reset (issue 16 items 6 and 9)
    "invitation_pending": N_("This address already has a pending invitation: resend it instead."),
    "invitation_invalid": N_("This invitation link no longer works. Ask for a new invitation."),
    "invitation_email_mismatch": N_(
        "This invitation was sent to another address. Sign out, then sign in with that one."
    ),
    "reset_token_invalid": N_("This link no longer works. Ask for a new one."),
    "email_invalid": N_("Enter a valid email address."),
    "email_taken": N_("An account already uses this address: sign in instead."),
    "password_too_weak": N_(
        "This password is too easy to guess. Use at least 10 characters: a few unusual words."
    ),
    "two_factor_code_invalid": N_(
        "This code is not right, or was already used. Wait for the next code and try again."
    ),
    "two_factor_already_enabled": N_("Two-factor sign-in is already on."),
    "two_factor_not_enabled": N_("Two-factor sign-in is not on: set it up first."),
    "password_incorrect": N_("This password is not right."),
    # Developers (keys, webhooks)
    "api_key_inactive": N_("This key is already revoked or expired."),
    "webhook_url_invalid": N_(
        "This URL cannot receive events: use https (in test mode, http only to localhost)."
    ),
    "webhook_endpoint_limit": N_("You have as many endpoints as allowed: delete one first."),
    "webhook_endpoint_disabled": N_("This endpoint is disabled: enable it first."),
    "member_exists": N_("This person is already on the team."),
    "last_owner": N_("The account must keep at least one owner."),
    "owner_required": N_("Only an owner can add, remove or change an owner."),
    "phone_number_invalid": N_("This is not a valid phone number."),
    "phone_number_unsupported": N_("Only MTN Mobile Money and Orange Money numbers work here."),
    "balance_insufficient": N_("Your available balance is not enough for this payout."),
    "amount_too_small": N_("This amount is below the smallest payout."),
    "amount_too_large": N_("This amount is above what this operator sends in one transfer."),
    "currency_unsupported": N_("This currency cannot be paid out."),
    # going live and the staff console (issue 17)
    "kyc_incomplete": N_("Some information or documents are missing. Complete them, then submit."),
    "kyc_not_editable": N_("Your application is under review or approved: it cannot change now."),
    "kyc_document_invalid": N_("Send a PDF, PNG or JPEG file."),
    "kyc_document_too_large": N_("This file is too large (5 MB at most)."),
    "request_too_large": N_("This file is too large (5 MB at most)."),
    "merchant_status_invalid": N_("This decision does not apply to the account's current status."),
    "platform_admin_required": N_("Only Mboa Pay staff may open the console."),
    "staff_role_required": N_("Your staff role does not allow this."),
    "two_factor_required": N_("Turn on two-factor authentication to open the console."),
    "payout_unexpected_state": N_("This payout is no longer waiting for a decision."),
    # Staff management (console/staff.py)
    "staff_role_invalid": N_("Choose one of the staff roles."),
    "staff_user_not_found": N_(
        "No active account has this email. Create it first with mboa admin create."
    ),
    "staff_already_granted": N_("This person is already staff: change their role instead."),
    "staff_member_not_found": N_("This person is not a staff member."),
    "staff_self_change": N_(
        "You cannot change or revoke your own access: another superadmin must."
    ),
    "last_superadmin": N_("There must stay at least one superadmin."),
    # Double submits (submits.py)
    "idempotency_key_invalid": N_("This form is out of date. Check it, then send it again."),
    "idempotency_key_reused": N_(
        "This form was already sent with other values. Check it, then send it again."
    ),
    "idempotency_key_in_use": N_(
        "This form is still being sent. Wait a moment, then check whether it went through."
    ),
    # the logo on the Settings page (storage)
    "file_type_not_allowed": N_("Send a PNG, JPEG or WebP image."),
    "file_too_large": N_("This image is too large (2 MB at most)."),
    "file_empty": N_("Choose an image first."),
    "file_invalid": N_("This image could not be read: it is damaged or not an image."),
}
_FALLBACK = N_("Something went wrong. Try again.")


def error_message(code: str | None, locale: str) -> str | None:
    if code is None:
        return None
    return translations(locale).gettext(MESSAGES.get(code, _FALLBACK))
