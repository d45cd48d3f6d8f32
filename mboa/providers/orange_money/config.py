"""Orange Money settings (`MBOA_PROVIDERS__ORANGE_MONEY__…`). Defaults talk to the simulator."""

from __future__ import annotations

import base64

from pydantic import BaseModel, Field, SecretStr

from mboa.providers.resilience import ResilienceSettings


class OrangeWebPaySettings(BaseModel):
    """OM WebPay, the redirect flow on api.orange.com (docs/providers-wire.md §2.1)."""

    enabled: bool = True
    base_url: str = "http://127.0.0.1:8102"
    """`https://api.orange.com` in production."""
    token_path: str = "/oauth/v3/token"
    country: str = "cm"
    """Path segment: `cm` for Cameroon, `dev` for Orange's development sandbox."""
    currency: str = Field(default="XAF", pattern=r"^[A-Z]{3}$")
    """Wire currency: `XAF` for Cameroon, `OUV` in Orange's `dev` sandbox."""
    client_id: str = "simulator-webpay-client"
    client_secret: SecretStr = SecretStr("simulator-webpay-secret")
    merchant_key: SecretStr = SecretStr("simulator-merchant-key")
    lang: str = "fr"
    reference: str | None = "Mboa Pay"
    """Display text on Orange's payment page."""
    return_url: str = "http://127.0.0.1:8000/checkout/return"
    cancel_url: str = "http://127.0.0.1:8000/checkout/cancel"


class OrangeMoneySettings(BaseModel):
    """The omcoreapis merchant-payment (USSD push) and cash-in API (docs/providers-wire.md §2.2)."""

    enabled: bool = True
    base_url: str = "http://127.0.0.1:8102"
    """`https://api-s1.orange.cm` or `https://apiw.orange.cm`, as Orange Cameroon tells you."""
    api_path: str = "/omcoreapis/1.0.2"
    token_path: str = "/token"
    consumer_key: str = "simulator-consumer-key"
    consumer_secret: SecretStr = SecretStr("simulator-consumer-secret")
    x_auth_token: SecretStr | None = None
    """`X-AUTH-TOKEN` exactly as Orange issued it; when unset it is built from
    `api_username`/`api_password` as base64(user:password) (docs/providers-wire.md §2.2)."""
    api_username: str = "simulator-api-user"
    api_password: SecretStr = SecretStr("simulator-api-password")
    channel_user_msisdn: str = Field(default="699112233", pattern=r"^6\d{8}$")
    """The merchant's Orange Money number: 9 national digits, no 237."""
    pin: SecretStr = SecretStr("2222")
    """The merchant number's PIN, sent in every `mp/pay` and `cashin/pay`."""
    currency: str = Field(default="XAF", pattern=r"^[A-Z]{3}$")
    webpay: OrangeWebPaySettings = OrangeWebPaySettings()
    resilience: ResilienceSettings = ResilienceSettings()

    def auth_token(self) -> str:
        if self.x_auth_token is not None:
            return self.x_auth_token.get_secret_value()
        raw = f"{self.api_username}:{self.api_password.get_secret_value()}"
        return base64.b64encode(raw.encode()).decode()
