from __future__ import annotations

from mboa.exceptions import BadRequest, Forbidden, NotFound


class ApiKeyNotFound(NotFound):
    pass


class LiveModeNotEnabled(Forbidden):
    code = "account_not_live"


class ApiKeyNotActive(BadRequest):
    code = "api_key_inactive"


class InvalidScopes(BadRequest):
    code = "parameter_invalid"
