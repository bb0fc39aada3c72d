"""Secrets by the names of their variables and by their shape, both ways (no false alarms)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_genopt.redaction import (
    REDACTED,
    is_secret_name,
    looks_like_secret_file,
    redact,
    redact_text,
    secret_values,
)

if TYPE_CHECKING:
    from pathlib import Path

# Made-up values of the real shapes.
ANTHROPIC = "sk-ant-api03-" + "a1B2c3D4e5" * 9
OPENAI = "sk-proj-" + "Z9y8X7w6V5u4T3s2R1q0" * 2
OPENAI_OLD = "sk-" + "Ab12Cd34Ef56Gh78Ij90Kl12Mn34"
GITHUB = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
GITHUB_APP = "ghs_" + "0123456789abcdefABCDEF0123456789abcd"
GITHUB_PAT = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"
AWS_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_STS_ID = "ASIAY34FZKBOKMUTVV7A"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SLACK = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----"
)


@pytest.mark.parametrize(
    "secret", [ANTHROPIC, OPENAI, OPENAI_OLD, GITHUB, GITHUB_APP, GITHUB_PAT, AWS_ID, AWS_STS_ID,
               SLACK, JWT, PRIVATE_KEY],
)  # fmt: skip
def test_shapes_are_caught_with_no_variable_set(secret: str) -> None:
    text = f"E   AssertionError: got {secret!r} from the server\nnext line"
    redacted = redact_text(text, ())
    assert secret not in redacted
    assert redacted == f"E   AssertionError: got '{REDACTED}' from the server\nnext line"
    nodeid = f"tests/test_api.py::test_call[{secret}]"
    assert redact({nodeid: 1.0}, ()) == {f"tests/test_api.py::test_call[{REDACTED}]": 1.0}


def test_aws_secret_key_next_to_its_id_and_by_name() -> None:
    text = f"aws_access_key_id={AWS_ID}\naws_secret_access_key = {AWS_SECRET}\n"
    assert (
        redact_text(text, ())
        == f"aws_access_key_id={REDACTED}\naws_secret_access_key = {REDACTED}\n"
    )
    assert (
        redact_text(f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}", ())
        == f"AWS_SECRET_ACCESS_KEY={REDACTED}"
    )
    assert redact_text(f"{AWS_ID} {AWS_SECRET}", ()) == f"{REDACTED} {REDACTED}"


def test_private_key_block_cut_short_is_still_redacted() -> None:
    text = "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA75\n[truncated]"
    assert redact_text(text, ()) == f"key:\n{REDACTED}"
    public = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n"
    assert redact_text(public, ()) == public


def test_credentials_inside_urls_keep_the_user_and_host() -> None:
    assert redact_text("git clone https://bob:hunter2@example.com/r.git", ()) == (
        f"git clone https://bob:{REDACTED}@example.com/r.git"
    )
    assert redact_text("postgresql://app:s3cr%40t@db:5432/x and redis://:pw@cache", ()) == (
        f"postgresql://app:{REDACTED}@db:5432/x and redis://:{REDACTED}@cache"
    )
    plain = "see https://example.com/a:b and user@example.com and http://host:8080/x"
    assert redact_text(plain, ()) == plain


@pytest.mark.parametrize(
    "text",
    [
        "commit 3f786850e387550fdab836ed7e6dc881de23001b (HEAD -> main)",
        "a1b2c3d4e5f60718293a4b5c6d7e8f9001122334455667788990aabbccddeeff0",  # sha-256
        "run id 123e4567-e89b-12d3-a456-426614174000",
        "data = 'SGVsbG8sIFdvcmxkIQ==' + 'dGVzdCBkYXRhIGZvciBiYXNlNjQgZW5jb2Rpbmc='",
        "import sklearn; task-runner sk-learn; desk-top; ask-ant",
        "def test_ghp_prefix(): assert token.startswith('ghp_')",
        "AKIA is the prefix of an AWS key id",
        "eyJhbGciOiJIUzI1NiJ9 alone is just base64 of a header",
        "xoxb- alone; mailto:user@example.com; ssh://git@github.com/o/r.git",
        "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY without a key id nearby",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact_text(text, ()) == text


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("ANTHROPIC_API_KEY", True),
        ("OPENAI_API_KEY", True),
        ("SSH_KEY", True),
        ("DB_PASSWORD", True),
        ("PGPASSWORD", True),
        ("smtp_passwd", True),
        ("GPG_PASSPHRASE", True),
        ("CLIENT_SECRET", True),
        ("GITHUB_TOKEN", True),
        ("HF_TOKEN", True),
        ("AWS_ACCESS_KEY_ID", True),
        ("GCP_CREDENTIALS", True),
        ("BASIC_AUTH", True),
        ("TOKENIZERS_PARALLELISM", False),
        ("GIT_AUTHOR_NAME", False),
        ("HOME", False),
        ("PATH", False),
        ("PYTHONHASHSEED", False),
    ],
)
def test_is_secret_name(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_strong_names_have_no_minimum_length_and_short_values_stay_whole_words() -> None:
    environ = {
        "DB_PASSWORD": "pw42",
        "GITHUB_TOKEN": "tok",
        "DEPLOY_KEY": "k9",
        "FEATURE_TOKEN": "true",  # a flag, no secret
        "SHORT_AUTH": "abc12",  # a weak name: 8 characters at least
        "TOKENIZERS_PARALLELISM": "false",
        "GIT_AUTHOR_NAME": "Test Author",
    }
    assert set(secret_values(environ)) == {"pw42", "tok", "k9"}
    text = "login pw42 with tok; stokes k9s pw42x"
    assert redact_text(text, secret_values(environ)) == (
        f"login {REDACTED} with {REDACTED}; stokes k9s pw42x"
    )


def test_secret_files(tmp_path: Path) -> None:
    files = {
        ".env": "A=1\n",
        ".env.local": "A=1\n",
        "prod.env": "A=1\n",
        ".envrc": "export A=1\n",
        "server.pem": "x\n",
        "tls.key": "x\n",
        "id_rsa": "x\n",
        "id_ed25519_work": "x\n",
        ".netrc": "machine m login l password p\n",
        "notes.txt": f"keep this safe\n{PRIVATE_KEY}\n",
    }
    ordinary = {
        ".env.example": "A=\n",
        ".envrc.example": "export A=\n",
        "id_rsa.pub": "ssh-rsa AAAA\n",
        "keys.py": "KEYS = []\n",
        "environment.py": "E = 1\n",
        "cert.txt": "-----BEGIN CERTIFICATE-----\n",
    }
    for name, text in {**files, **ordinary}.items():
        (tmp_path / name).write_text(text)
    assert [n for n in sorted(files) if not looks_like_secret_file(tmp_path / n)] == []
    assert [n for n in sorted(ordinary) if looks_like_secret_file(tmp_path / n)] == []
    assert not looks_like_secret_file(tmp_path / "missing.txt")
