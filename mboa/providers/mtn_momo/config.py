"""MTN MoMo settings (`MBOA_PROVIDERS__MTN_MOMO__…`). Defaults talk to the local simulator."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, model_validator

from mboa.providers.resilience import ResilienceSettings

# The simulator pre-provisions this sandbox API user so a fresh checkout works without the
# provisioning dance (docs/providers-wire.md §1.3). Never valid at MTN.
SIMULATOR_API_USER = "6f1e2c1a-4b7d-4c3e-9a55-1d2b3c4d5e6f"
SIMULATOR_API_KEY = "5151d5f4a9e84b2c9d2e1f0a3b4c5d6e"


class MtnProductCredentials(BaseModel):
    """Credentials of one MoMo product; each product has its own (docs/providers-wire.md §1.1)."""

    subscription_key: SecretStr = SecretStr("simulator-subscription-key")
    """`Ocp-Apim-Subscription-Key`: the product's primary key from the MoMo partner portal."""
    api_user: str = SIMULATOR_API_USER
    """API user (a UUID): sandbox-provisioned, or issued by MTN for production."""
    api_key: SecretStr = SecretStr(SIMULATOR_API_KEY)


class MtnMomoSettings(BaseModel):
    enabled: bool = True
    base_url: str = "http://127.0.0.1:8101"
    """`https://sandbox.momodeveloper.mtn.com` (sandbox) or `https://proxy.momoapi.mtn.com`
    (production), docs/providers-wire.md §1.1."""
    target_environment: str = "sandbox"
    """`X-Target-Environment`: `sandbox`, or `mtncameroon` in production."""
    currency: str = Field(default="XAF", pattern=r"^[A-Z]{3}$")
    """The only currency this account takes (XAF in Cameroon)."""
    wire_currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    """Currency written on the wire when it differs from `currency`: only for MTN's own sandbox,
    which accepts EUR only (docs/providers-wire.md §1.1). Leave unset in production."""
    collection: MtnProductCredentials = MtnProductCredentials()
    disbursement: MtnProductCredentials = MtnProductCredentials()
    resilience: ResilienceSettings = ResilienceSettings()

    @model_validator(mode="after")
    def _sandbox_only_overrides(self) -> MtnMomoSettings:
        if self.wire_currency is not None and self.target_environment != "sandbox":
            raise ValueError("wire_currency is for MTN's sandbox only; unset it in production")
        return self
