from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mboa.logging import mask_processor, mask_text


@pytest.mark.parametrize(
    ("raw", "leaked"),
    [
        ("Authorization: Bearer sk_test_abcdefghijklmnopqrstuvwx1234", "abcdefghijklmnop"),
        ("key rk_live_ZYXWVUTSRQPONMLKJIHGFEDC9876 used", "ZYXWVUTSRQPONMLK"),
        ("refresh rt_0123456789abcdefghijklmnopqrstuv", "0123456789abcdef"),
        ("payer +237677123456 approved", "677123"),
        ("payer 237690000001 approved", "690000"),
        ("payer 655443322 approved", "655443"),
    ],
)
def test_secrets_and_phone_numbers_are_masked(raw: str, leaked: str) -> None:
    masked = mask_text(raw)
    assert leaked not in masked
    assert masked != raw


def test_last_characters_stay_for_support() -> None:
    assert mask_text("sk_test_abcdefghijklmnopqrstuvwx1234").endswith("…1234")
    assert mask_text("+237677123456").endswith("456")


def test_processor_redacts_secret_fields_and_nested_values() -> None:
    event = {
        "event": "login",
        "password": "hunter2-hunter2",
        "headers": {"authorization": "Bearer sk_test_abcdefghijklmnopqrstuvwx1234", "x": "1"},
        "payer": {"msisdn": "237677123456"},
        "amounts": [1500, "677123456"],
    }
    out = mask_processor(None, "info", dict(event))
    assert out["password"] == "[redacted]"
    assert out["headers"]["authorization"] == "[redacted]"
    assert "677123" not in str(out)
    assert out["amounts"][0] == 1500


def _run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("MBOA_")}
    return subprocess.run(
        [sys.executable, "-m", "mboa", *args],
        env={**clean_env, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"MBOA_API__PORT": "eighty"}, "MBOA_API__PORT"),
        ({"MBOA_PORT": "0"}, "MBOA_PORT"),
        ({"MBOA_ENV": "staging"}, "MBOA_ENV"),
        ({"MBOA_DATABASE_URL": "mysql://x"}, "MBOA_DATABASE_URL"),
        ({"MBOA_ENV": "production"}, "MBOA_DATABASE_URL"),
        ({"MBOA_RATE_LIMIT__TEST_PER_SECOND": "-1"}, "MBOA_RATE_LIMIT__TEST_PER_SECOND"),
    ],
)
def test_bad_configuration_fails_with_one_clear_line(env: dict[str, str], variable: str) -> None:
    result = _run_cli("db", "upgrade", **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr
