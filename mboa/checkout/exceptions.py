from __future__ import annotations

from mboa.exceptions import BadRequest, Conflict, Forbidden, NotFound


class CheckoutSessionNotFound(NotFound):
    pass


class PaymentLinkNotFound(NotFound):
    pass


class CheckoutSessionUnexpectedState(Conflict):
    code = "checkout_session_unexpected_state"


class UrlInvalid(BadRequest):
    code = "url_invalid"


class PaymentLinkInactive(Conflict):
    code = "payment_link_inactive"


class CsrfTokenInvalid(Forbidden):
    code = "csrf_token_invalid"


class PromptNotResendable(Conflict):
    code = "prompt_not_resendable"
