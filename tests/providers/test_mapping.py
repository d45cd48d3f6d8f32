"""Status, reason and amount mapping: total functions that never raise on operator input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from mboa.providers import ProviderName
from mboa.providers.amounts import from_wire_amount, to_wire_amount
from mboa.providers.base import PaymentProvider
from mboa.providers.config import ProvidersSettings
from mboa.providers.errors import ProviderConfigurationError
from mboa.providers.masking import mask_mapping, mask_phone, mask_text
from mboa.providers.mtn_momo import MtnMomoSettings
from mboa.providers.mtn_momo import mapping as mtn
from mboa.providers.orange_money import mapping as orange
from mboa.providers.registry import (
    OPERATORS,
    SPECS,
    ProviderRegistry,
    build_provider,
    get_spec,
)
from mboa.providers.types import Capability, CollectionRequest, FailureCode, TransactionStatus


class TestStatuses:
    @pytest.mark.parametrize(
        ("raw", "status"),
        [
            ("PENDING", TransactionStatus.pending),
            ("CREATED", TransactionStatus.pending),
            ("SUCCESSFUL", TransactionStatus.succeeded),
            ("FAILED", TransactionStatus.failed),
            ("REVERSED_SOMEHOW", TransactionStatus.pending),
            (None, TransactionStatus.pending),
        ],
    )
    def test_mtn(self, raw: str | None, status: TransactionStatus) -> None:
        assert mtn.map_status(raw) is status

    @pytest.mark.parametrize(
        ("raw", "status"),
        [
            ("PENDING", TransactionStatus.pending),
            ("INITIATED", TransactionStatus.pending),
            ("SUCCESSFULL", TransactionStatus.succeeded),
            ("SUCCESS", TransactionStatus.succeeded),
            ("FAILED", TransactionStatus.failed),
            ("EXPIRED", TransactionStatus.failed),
            ("CANCELLED", TransactionStatus.failed),
            ("SOMETHING_NEW", TransactionStatus.pending),
        ],
    )
    def test_orange(self, raw: str, status: TransactionStatus) -> None:
        assert orange.map_status(raw) is status

    @given(st.one_of(st.none(), st.text()))
    def test_unknown_statuses_never_raise_and_are_never_success(self, raw: str | None) -> None:
        for mapper in (mtn.map_status, orange.map_status):
            status = mapper(raw)
            known = (raw or "").strip().upper() in {"SUCCESSFUL", "SUCCESSFULL", "SUCCESS"}
            assert status is not TransactionStatus.succeeded or known

    @given(st.one_of(st.none(), st.text()))
    def test_reasons_never_raise(self, raw: str | None) -> None:
        assert isinstance(mtn.map_reason(raw), FailureCode)
        assert isinstance(orange.map_failure("FAILED", (raw,), (raw,)), FailureCode)

    def test_orange_failure_from_french_messages(self) -> None:
        assert (
            orange.map_failure("FAILED", (None,), ("60019 :: Le solde du compte est insuffisant",))
            is FailureCode.insufficient_funds
        )
        assert orange.map_failure("FAILED", (), ("Utilisateur bloqué",)) is FailureCode.not_allowed
        assert orange.map_failure("EXPIRED", (), ()) is FailureCode.expired


class TestAmounts:
    @given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(["XAF", "EUR"]))
    def test_round_trip(self, amount: int, currency: str) -> None:
        assert from_wire_amount(to_wire_amount(amount, currency), currency) == amount

    def test_xaf_has_no_decimals(self) -> None:
        assert to_wire_amount(1500, "XAF") == "1500"
        assert to_wire_amount(1500, "EUR") == "15.00"
        assert from_wire_amount("1500.00", "XAF") == 1500
        with pytest.raises(ValueError, match="decimals"):
            from_wire_amount("1500.5", "XAF")

    @pytest.mark.parametrize("bad", ["abc", "", "NaN", "Infinity"])
    def test_unreadable_amounts(self, bad: str) -> None:
        with pytest.raises(ValueError, match="amount"):
            from_wire_amount(bad, "XAF")

    def test_floats_are_refused(self) -> None:
        with pytest.raises(TypeError):
            to_wire_amount(15.0, "XAF")  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            CollectionRequest(external_id="a", amount=15.0, currency="XAF")  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            CollectionRequest(external_id="a", amount=0, currency="XAF")


class TestMasking:
    def test_phone_keeps_three_digits(self) -> None:
        assert mask_phone("+237670123456") == "*********456"
        assert mask_phone("12") == "**"

    def test_mapping(self) -> None:
        masked = mask_mapping(
            {
                "Authorization": "Bearer abc",
                "pin": "2222",
                "payer": {"partyIdType": "MSISDN", "partyId": "237670123456"},
                "path": "/collection/v1_0/accountholder/msisdn/237670123456/active",
                "payToken": "MP22120771FEB7B21FD2381C3786",
            }
        )
        assert masked["Authorization"] == "***"
        assert masked["pin"] == "***"
        assert masked["payer"]["partyId"] == "*********456"
        assert "237670123456" not in masked["path"]
        assert masked["payToken"] == "MP22120771FEB7B21FD2381C3786"

    @given(st.text())
    def test_mask_text_never_leaks_long_numbers(self, text: str) -> None:
        import re

        assert not re.search(r"(?<![0-9A-Za-z])\d{8,15}(?![0-9A-Za-z])", mask_text(text))


class TestRegistry:
    async def test_every_provider_builds_and_satisfies_the_port(self) -> None:
        registry = ProviderRegistry(ProvidersSettings())
        for name in ProviderName:
            provider = registry.get(name)
            assert isinstance(provider, PaymentProvider)
            assert provider.spec is get_spec(name)
            assert registry.get(name) is provider
            assert provider.spec.supports(Capability.collect)
        await registry.aclose()

    def test_one_entry_per_operator(self) -> None:
        assert set(OPERATORS) == set(ProviderName)
        settings = ProvidersSettings()
        for name, entry in OPERATORS.items():
            assert entry.spec.name is name
            # Its settings group is the one named like it (MBOA_PROVIDERS__<NAME>__…).
            assert entry.settings_of(settings) is getattr(settings, name.value)

    def test_specs(self) -> None:
        assert set(SPECS) == set(ProviderName)
        assert get_spec(ProviderName.mtn_momo).supports(Capability.balance)
        assert not get_spec(ProviderName.orange_money).supports(Capability.balance)
        assert all(spec.currencies == {"XAF"} for spec in SPECS.values())

    async def test_disabled_provider_is_refused(self) -> None:
        settings = ProvidersSettings()
        settings.orange_money.enabled = False
        registry = ProviderRegistry(settings)
        assert registry.enabled() == [ProviderName.mtn_momo]
        with pytest.raises(ProviderConfigurationError, match="ENABLED"):
            registry.get(ProviderName.orange_money)
        await registry.aclose()

    def test_wire_currency_is_sandbox_only(self) -> None:
        MtnMomoSettings(wire_currency="EUR")
        with pytest.raises(ValidationError, match="sandbox"):
            MtnMomoSettings(wire_currency="EUR", target_environment="mtncameroon")

    async def test_build_provider(self) -> None:
        provider = build_provider(ProviderName.orange_money, ProvidersSettings())
        assert provider.spec.name is ProviderName.orange_money
        await provider.aclose()
