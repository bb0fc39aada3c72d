"""Secrets from the environment, and their removal from JSON-like data."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from pytest_genopt.redaction import REDACTED, redact, redact_text, secret_values

if TYPE_CHECKING:
    import pytest


def test_secret_values_match_names_case_insensitively() -> None:
    environ = {
        "ANTHROPIC_API_KEY": "sk-ant-0123456789",
        "github_token": "ghp_abcdefghijkl",
        "Aws_Secret_Access_Key": "wJalrXUtnFEMI/K7MDENG",
        "DB_PASSWORD": "hunter2hunter2",
        "SMTP_PASSWD": "p4ssw0rd!!",
        "GCP_CREDENTIALS": "credential-blob",
        "BASIC_AUTH": "user:longpassword",
        "HOME": "/home/someone/with/a/long/path",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
    }
    found = secret_values(environ)
    assert set(found) == {
        "sk-ant-0123456789",
        "ghp_abcdefghijkl",
        "wJalrXUtnFEMI/K7MDENG",
        "hunter2hunter2",
        "p4ssw0rd!!",
        "credential-blob",
        "user:longpassword",
    }
    assert [len(v) for v in found] == sorted((len(v) for v in found), reverse=True)


def test_secret_values_ignore_short_values_and_duplicates() -> None:
    environ = {"SHORT_AUTH": "1234567", "EMPTY_KEY": "", "A_KEY": "12345678", "B_KEY": "12345678"}
    assert secret_values(environ) == ("12345678",)


def test_secret_values_read_the_real_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", "supersecretvalue123")
    assert "supersecretvalue123" in secret_values()
    assert "supersecretvalue123" in secret_values(os.environ)


def test_redact_text_replaces_every_occurrence_longest_first() -> None:
    secrets = ["abcdefgh", "abcdefgh-and-more"]  # deliberately shortest first
    text = "x abcdefgh-and-more y abcdefgh z abcdefgh"
    assert redact_text(text, secrets) == f"x {REDACTED} y {REDACTED} z {REDACTED}"
    assert redact_text("nothing here", secrets) == "nothing here"
    assert redact_text("keep me", ["", *secrets]) == "keep me"  # an empty secret matches nothing


def test_redact_deep_copies_and_replaces_keys_and_values() -> None:
    secret = "supersecretvalue123"
    original: dict[str, Any] = {
        "evidence": [{"stdout": f"token={secret}\n", "value": 0.5, "ok": True, "none": None}],
        f"key-{secret}": ["plain", 3, (f"{secret}!", 2)],
        "nested": {"deeper": {"list": [[secret]]}},
    }
    snapshot = repr(original)
    result = redact(original, [secret])
    assert result == {
        "evidence": [{"stdout": f"token={REDACTED}\n", "value": 0.5, "ok": True, "none": None}],
        f"key-{REDACTED}": ["plain", 3, (f"{REDACTED}!", 2)],
        "nested": {"deeper": {"list": [[REDACTED]]}},
    }
    assert repr(original) == snapshot  # the input is untouched
    assert result["evidence"] is not original["evidence"]
    assert result["evidence"][0] is not original["evidence"][0]
    assert result["nested"]["deeper"]["list"][0] is not original["nested"]["deeper"]["list"][0]


def test_redact_leaves_non_strings_alone() -> None:
    marker = object()
    for value in (1, 2.5, True, None, marker):
        assert redact(value, ["12345678"]) is value
    assert redact(12345678, ["12345678"]) == 12345678  # numbers are not text
    assert redact([], ["12345678"]) == []
