"""Phone parsing and operator detection (docs/providers-wire.md §3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mboa.exceptions import BadRequest
from mboa.providers import ProviderName
from mboa.providers.exceptions import InvalidPhoneNumber, UnsupportedPhoneNumber
from mboa.providers.phone import detect_provider, normalise_phone, parse_phone, resolve_provider


class TestParse:
    @pytest.mark.parametrize(
        "raw",
        ["670123456", "6 70 12 34 56", "+237 670 12 34 56", "237670123456", "00237670123456"],
    )
    def test_usual_writings_normalise_to_e164(self, raw: str) -> None:
        phone = parse_phone(raw)
        assert phone.e164 == "+237670123456"
        assert phone.national == "670123456"
        assert phone.msisdn == "237670123456"
        assert phone.masked == "*********456"

    @pytest.mark.parametrize("raw", ["", "hello", "6701", "+237 670 12 34 56 78"])
    def test_garbage_names_the_parameter(self, raw: str) -> None:
        with pytest.raises(InvalidPhoneNumber) as raised:
            parse_phone(raw, param="customer[phone]")
        assert raised.value.param == "customer[phone]"
        assert raised.value.code == "phone_number_invalid"
        assert isinstance(raised.value, BadRequest)

    def test_foreign_numbers_are_refused(self) -> None:
        with pytest.raises(UnsupportedPhoneNumber) as raised:
            parse_phone("+33612345678")
        assert raised.value.param == "phone"
        assert "Cameroonian" in raised.value.message

    def test_fixed_lines_are_refused(self) -> None:
        with pytest.raises(UnsupportedPhoneNumber, match="not a mobile"):
            parse_phone("222123456")

    def test_mtn_sandbox_numbers_only_in_test_mode(self) -> None:
        assert parse_phone("46733123451", allow_sandbox=True).e164 == "+46733123451"
        with pytest.raises(UnsupportedPhoneNumber):
            parse_phone("+46733123451")


class TestNormalise:
    """A contact number (a customer's): any country, no wallet needed, E.164 out."""

    @pytest.mark.parametrize(
        ("raw", "e164"),
        [
            ("6 70 12 34 56", "+237670123456"),
            ("222123456", "+237222123456"),
            ("+33 6 12 34 56 78", "+33612345678"),
        ],
    )
    def test_valid_numbers_of_any_country(self, raw: str, e164: str) -> None:
        assert normalise_phone(raw) == e164

    @pytest.mark.parametrize("raw", ["12", "+33612345678x", "+237 670", "not a number"])
    def test_invalid_numbers_name_the_parameter(self, raw: str) -> None:
        with pytest.raises(BadRequest) as raised:
            normalise_phone(raw, param="customer[phone]")
        assert raised.value.code == "parameter_invalid"
        assert raised.value.param == "customer[phone]"


class TestDetection:
    @pytest.mark.parametrize(
        ("national", "provider"),
        [
            ("650000000", ProviderName.mtn_momo),
            ("654999999", ProviderName.mtn_momo),
            ("670000000", ProviderName.mtn_momo),
            ("680000000", ProviderName.mtn_momo),
            ("683999999", ProviderName.mtn_momo),
            ("655000000", ProviderName.orange_money),
            ("659999999", ProviderName.orange_money),
            ("686000000", ProviderName.orange_money),
            ("687000000", ProviderName.orange_money),
            ("690000000", ProviderName.orange_money),
            ("699999999", ProviderName.orange_money),
            ("660000000", None),
            ("684000000", None),
            ("620000000", None),
        ],
    )
    def test_prefix_table(self, national: str, provider: ProviderName | None) -> None:
        assert detect_provider(national) is provider


class TestResolve:
    def test_prefix_decides_when_no_provider_is_given(self) -> None:
        phone, provider = resolve_provider("690123456")
        assert provider is ProviderName.orange_money
        assert phone.likely_provider is ProviderName.orange_money

    def test_explicit_provider_wins(self) -> None:
        # A number ported from Orange to MTN keeps its 69x prefix.
        _, provider = resolve_provider("690123456", "mtn_momo")
        assert provider is ProviderName.mtn_momo

    def test_ported_nexttel_number_with_explicit_provider(self) -> None:
        _, provider = resolve_provider("660123456", ProviderName.orange_money)
        assert provider is ProviderName.orange_money

    @pytest.mark.parametrize(
        ("raw", "network"), [("660123456", "Nexttel"), ("620123456", "Camtel")]
    )
    def test_other_networks_are_refused(self, raw: str, network: str) -> None:
        with pytest.raises(UnsupportedPhoneNumber) as raised:
            resolve_provider(raw, param="phone")
        assert network in raised.value.message
        assert raised.value.param == "phone"
        assert "123456" not in raised.value.message  # masked

    def test_camtel_fixed_wireless_is_refused_even_with_a_provider(self) -> None:
        with pytest.raises(UnsupportedPhoneNumber):
            resolve_provider("242123456", "mtn_momo")

    def test_unknown_prefix_asks_for_the_provider(self) -> None:
        with pytest.raises(UnsupportedPhoneNumber, match="pass provider"):
            resolve_provider("640123456")

    def test_unknown_provider_names_its_parameter(self) -> None:
        with pytest.raises(BadRequest) as raised:
            resolve_provider("670123456", "nexttel", provider_param="payment_method[provider]")
        assert raised.value.param == "payment_method[provider]"


@given(st.sampled_from(["650", "651", "67", "680", "655", "656", "686", "69"]), st.data())
def test_any_wallet_number_round_trips(prefix: str, data: st.DataObject) -> None:
    rest = data.draw(st.text("0123456789", min_size=9 - len(prefix), max_size=9 - len(prefix)))
    national = prefix + rest
    phone = parse_phone(f"+237 {national}")
    assert phone.e164 == f"+237{national}"
    assert parse_phone(phone.e164) == phone
    assert phone.likely_provider is not None
