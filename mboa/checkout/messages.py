"""What the payer reads when something goes wrong, in the page's language.

Every code a payment page can meet (an operator's refusal, a form error) has its plain-words
message here, marked for the catalogs with `N_` and translated when shown. A test fails on a
message that a catalog lacks (tests/checkout/test_i18n.py)."""

from __future__ import annotations

from mboa.checkout.i18n import translations
from mboa.exceptions import MboaError


def N_(message: str) -> str:
    """Marks a string for extraction (`pybabel extract`); translated where it is shown."""
    return message


MESSAGES: dict[str, str] = {
    # The operator's answer (`last_payment_error.code`, docs/payments.md).
    "insufficient_funds": N_(
        "Your wallet does not hold enough money. Top it up, or pay with another number."
    ),
    "payer_rejected": N_("The payment was refused on the phone. You can try again."),
    "payer_timeout": N_("The request was not approved in time. You can try again."),
    "payer_not_found": N_("This number has no active mobile money account. Check the number."),
    "limit_exceeded": N_("Your wallet's limit is reached. Pay with another number."),
    "operator_refused": N_("The operator refused this payment. Pay with another number."),
    "operator_unavailable": N_("The operator is unavailable. Try again in a minute."),
    "payment_failed": N_("The payment did not go through. You can try again."),
    # The form.
    "parameter_missing:phone": N_("Enter your mobile money number."),
    "phone_number_invalid": N_(
        "This is not a valid Cameroonian number. Check it: 9 digits starting with 6."
    ),
    "phone_number_unsupported": N_(
        "This number cannot pay here: only MTN MoMo and Orange Money numbers can."
    ),
    "parameter_invalid": N_("Something in the form is not right. Check it and try again."),
    "parameter_missing:amount": N_("Enter an amount."),
    "amount_too_small": N_("This amount is too small for this link."),
    "amount_too_large": N_("This amount is too large for this link."),
    "csrf_token_invalid": N_("This page was open too long. Try again."),
    "rate_limit": N_("Too many tries. Wait a minute and try again."),
    "rate_limit:phone": N_(
        "Too many payment requests went to this number. Try again in an hour, or pay with "
        "another number."
    ),
    "payment_intent_unexpected_state": N_(
        "A request is still waiting on a phone. Approve or refuse it there, or wait until "
        "it expires, then try again."
    ),
    "checkout_session_unexpected_state": N_("This payment page is closed."),
    "prompt_not_resendable": N_(
        "The request could not be sent again. Dial the code shown to approve it."
    ),
    "payment_link_inactive": N_("This payment link is no longer active."),
    "resource_missing": N_("This payment page does not exist. Check the link."),
}
_FALLBACK = N_("Something went wrong. Try again.")
BACK_TO_PAGE = N_("Back to the payment page")
_RETURNED = N_("You are back from Orange Money. Return to the shop's page to see your payment.")


def error_message(code: str | None, locale: str, param: str | None = None) -> str | None:
    """The payer's words for an error `code` (and the form field it names, if that matters)."""
    if code is None:
        return None
    message = MESSAGES.get(f"{code}:{param}") or MESSAGES.get(code, _FALLBACK)
    return translations(locale).gettext(message)


def page_title(exc: MboaError | None, locale: str) -> str:
    """The title of a page shown instead of a payment page: why it cannot be shown."""
    if exc is None:
        return translations(locale).gettext(_RETURNED)
    return error_message(exc.code, locale) or ""
