from __future__ import annotations

from mboa.exceptions import BadRequest, NotFound


class WebhookEndpointNotFound(NotFound):
    pass


class EventNotFound(NotFound):
    pass


class WebhookUrlInvalid(BadRequest):
    code = "webhook_url_invalid"


class WebhookEndpointLimit(BadRequest):
    code = "webhook_endpoint_limit"


class WebhookEndpointDisabled(BadRequest):
    code = "webhook_endpoint_disabled"
