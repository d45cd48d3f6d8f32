"""How authenticators appear in the OpenAPI document.

FastAPI lists a route's security requirement when one of its dependencies is a `SecurityBase`;
every authenticator derives from `BearerScheme`, so exactly the routes that check a bearer token
declare it, and public routes (sign-up, log-in, operator callbacks, health) declare none.
"""

from __future__ import annotations

from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase


class BearerScheme(SecurityBase):
    model = HTTPBearerModel(
        description=(
            "A secret or restricted API key (`sk_…`, `rk_…`) for the public API, or a user access"
            " token (`POST /v1/auth/login`) for the team and staff routes."
        )
    )
    scheme_name = "bearer"
