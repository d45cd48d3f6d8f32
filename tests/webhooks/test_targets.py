"""Where a webhook may go (`mboa/webhooks/targets.py`, docs/webhooks.md §SSRF): the refusal
rules address by address, the URL checks made when an endpoint is saved, and the check of every
address a name resolves to at send time."""

from __future__ import annotations

import ipaddress

import pytest

from mboa.webhooks.targets import TargetRefused, check_url, refusal, resolve

REFUSED_IN_BOTH_MODES = {
    # RFC 1918 private ranges, their edges included
    "10.0.0.1": "private",
    "10.255.255.255": "private",
    "172.16.0.1": "private",
    "172.31.255.254": "private",
    "192.168.0.1": "private",
    "192.168.255.255": "private",
    # shared address space (CGNAT), "this network", documentation, benchmarking
    "100.64.0.1": "private",
    "0.1.2.3": "private",
    "192.0.2.10": "private",
    "198.18.0.1": "private",
    # link-local, the cloud metadata address among them
    "169.254.0.1": "link-local",
    "169.254.169.254": "link-local",
    "fe80::1": "link-local",
    "febf:ffff::1": "link-local",
    # unspecified
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    # multicast and broadcast
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "ff02::1": "multicast",
    "255.255.255.255": "reserved",
    "240.0.0.1": "reserved",
    # IPv6 unique local (fc00::/7) and the deprecated site-local (fec0::/10)
    "fc00::1": "private",
    "fd12:3456:789a::1": "private",
    "fec0::1": "private",
    # IPv6 forms that carry a refused IPv4 address
    "::ffff:10.0.0.1": "private",
    "::ffff:169.254.169.254": "link-local",
    "::ffff:0.0.0.0": "unspecified",
    "2002:a00:1::1": "private",  # 6to4 of 10.0.0.1
    "2002:7f00:1::1": "loopback",  # 6to4 of 127.0.0.1: not this host, refused in test mode too
    "2002:a9fe:a9fe::1": "link-local",  # 6to4 of 169.254.169.254
    "::127.0.0.1": "reserved",  # IPv4-compatible (deprecated)
    "64:ff9b::a00:1": "reserved",  # NAT64 of 10.0.0.1
    "2001:db8::1": "private",  # documentation
}
LOOPBACK = ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"]
PUBLIC = ["8.8.8.8", "93.184.216.34", "172.32.0.1", "192.169.0.1", "2606:4700::1111"]


@pytest.mark.parametrize("address", sorted(REFUSED_IN_BOTH_MODES))
@pytest.mark.parametrize("livemode", [True, False], ids=["live", "test"])
def test_private_link_local_and_special_addresses_are_refused(address: str, livemode: bool) -> None:
    reason = refusal(ipaddress.ip_address(address), livemode=livemode)
    assert reason is not None, address
    assert REFUSED_IN_BOTH_MODES[address] in reason, (address, reason)


@pytest.mark.parametrize("address", LOOPBACK)
def test_loopback_is_refused_in_live_mode_only(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), livemode=True) == "a loopback address"
    assert refusal(ipaddress.ip_address(address), livemode=False) is None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), livemode=True) is None
    assert refusal(ipaddress.ip_address(address), livemode=False) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://10.1.2.3/hook",
        "https://172.20.0.1/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://127.0.0.1/hook",
        "https://[::1]/hook",
        "https://[fe80::1]/hook",
        "https://[fd00::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::ffff:192.168.1.1]/hook",
        "https://0.0.0.0/hook",
        "https://224.0.0.251/hook",
        "http://example.com/hook",
        "http://localhost:3000/hook",
        "https://user:pass@example.com/hook",
        "ftp://example.com/hook",
    ],
)
def test_live_mode_refuses_these_urls_when_saved(url: str) -> None:
    with pytest.raises(TargetRefused):
        check_url(url, livemode=True)


def test_live_and_test_mode_take_these_urls_when_saved() -> None:
    check_url("https://example.com/hook", livemode=True)
    check_url("https://93.184.216.34/hook", livemode=True)
    check_url("https://localhost/hook", livemode=True)  # a name: checked when resolved
    check_url("http://localhost:3000/hook", livemode=False)
    check_url("http://127.0.0.1:3000/hook", livemode=False)
    check_url("http://[::1]:3000/hook", livemode=False)
    with pytest.raises(TargetRefused):
        check_url("http://example.com/hook", livemode=False)
    with pytest.raises(TargetRefused):
        check_url("http://10.0.0.5/hook", livemode=False)


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.0.0.7"],
        ["93.184.216.34", "10.0.0.7"],  # one private address among public ones is enough
        ["93.184.216.34", "169.254.169.254"],
        ["2606:4700::1111", "fd00::7"],
        ["::ffff:127.0.0.1"],
        ["93.184.216.34", "fe80::1%eth0"],
    ],
)
async def test_a_name_is_refused_when_any_address_it_resolves_to_is(
    dns: dict[str, list[str]], addresses: list[str]
) -> None:
    dns["hooks.shop.example"] = addresses
    with pytest.raises(TargetRefused, match=r"hooks\.shop\.example resolves to"):
        await resolve("https://hooks.shop.example/in", livemode=True, resolve_within=5)


async def test_a_public_name_is_pinned_to_its_checked_address(dns: dict[str, list[str]]) -> None:
    dns["hooks.shop.example"] = ["93.184.216.34", "93.184.216.35"]
    target = await resolve(
        "https://hooks.shop.example:8443/in?x=1", livemode=True, resolve_within=5
    )
    assert str(target.url) == "https://93.184.216.34:8443/in?x=1"
    assert target.host_header == "hooks.shop.example:8443"
    assert target.sni_hostname == "hooks.shop.example"
    assert str(target.address) == "93.184.216.34"
