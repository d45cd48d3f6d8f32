"""Settings for the operator adapters and their simulators (`MBOA_PROVIDERS__…`).

Going live is configuration only: see docs/providers.md for what to obtain from each operator
and which variable takes it.
"""

from __future__ import annotations

from pydantic import BaseModel, model_validator

from mboa.providers.mtn_momo.config import MtnMomoSettings
from mboa.providers.orange_money.config import OrangeMoneySettings
from mboa.simulator.config import SimulatorSettings


class ProvidersSettings(BaseModel):
    """Grouped per operator; each adapter package owns its own sub-model."""

    mtn_momo: MtnMomoSettings = MtnMomoSettings()
    orange_money: OrangeMoneySettings = OrangeMoneySettings()
    simulator: SimulatorSettings = SimulatorSettings()

    @model_validator(mode="after")
    def _default_to_the_simulators(self) -> ProvidersSettings:
        """An adapter whose `base_url` was not set talks to the simulator where it listens, so
        moving a simulator (`MBOA_PROVIDERS__SIMULATOR__MTN_PORT`) moves its adapter too."""
        simulator = f"http://{self.simulator.host}"
        if "base_url" not in self.mtn_momo.model_fields_set:
            self.mtn_momo.base_url = f"{simulator}:{self.simulator.mtn_port}"
        orange = f"{simulator}:{self.simulator.orange_port}"
        if "base_url" not in self.orange_money.model_fields_set:
            self.orange_money.base_url = orange
        if "base_url" not in self.orange_money.webpay.model_fields_set:
            self.orange_money.webpay.base_url = orange
        return self
