from __future__ import annotations

from mboa.exceptions import BadRequest, Forbidden, NotFound, Unauthorized


class SignInRequired(Unauthorized):
    """No dashboard session cookie, or one whose login session has ended: the sign-in page."""

    code = "session_expired"


class DashboardCsrfInvalid(Forbidden):
    code = "csrf_token_invalid"


class NoAccount(Forbidden):
    """A user who belongs to no merchant (removed from every team)."""

    code = "role_not_permitted"


class PageNotFound(NotFound):
    pass


class FormInvalid(BadRequest):
    code = "parameter_invalid"


class SignInAgain(Unauthorized):
    """The sign-in's second step without its pending state (expired after 5 minutes)."""

    code = "session_expired"
