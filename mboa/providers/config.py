"""Settings for the operator adapters and their simulators (`MBOA_PROVIDERS__…`).

Going live is configuration only: see docs/providers.md for what to obtain from each operator
and which variable takes it.
"""

from __future__ import annotations

from pydantic import BaseModel

from mboa.providers.mtn_momo.config import MtnMomoSettings
from mboa.providers.orange_money.config import OrangeMoneySettings
from mboa.simulator.config import SimulatorSettings


class ProvidersSettings(BaseModel):
    """Grouped per operator; each adapter package owns its own sub-model."""

    mtn_momo: MtnMomoSettings = MtnMomoSettings()
    orange_money: OrangeMoneySettings = OrangeMoneySettings()
    simulator: SimulatorSettings = SimulatorSettings()
