"""Build the run's backend from ``--genopt-backend`` (and wrap it for ``--genopt-record``).

Each backend module is imported only in its own branch, so a run pays only
for the backend it uses (the anthropic SDK is not imported for ``python:``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pytest_genopt.backends import Backend, BackendFatal
from pytest_genopt.plugin import plugin_backend_key
from pytest_genopt.terminal import terminal_line

if TYPE_CHECKING:
    from collections.abc import Callable

    import pytest

    from pytest_genopt.backends.prices import Price
    from pytest_genopt.config import Settings

#: default of ini ``genopt_exchange_timeout``: how long one exchange may wait, in seconds
DEFAULT_EXCHANGE_TIMEOUT = 3600.0


def make_backend(config: pytest.Config, settings: Settings) -> Backend:
    """The backend for ``settings.backend``, recording to ``settings.record`` when set.

    Raises :class:`BackendFatal` (one line) when the backend cannot be built:
    no API key, a bad ``genopt_prices`` or ``genopt_exchange_timeout`` ini value,
    a plugin's object that is not a Backend.
    """
    from pytest_genopt.redaction import secret_values

    spec = settings.backend
    invocation_dir = config.invocation_params.dir
    secrets = secret_values()
    # ini values are checked whatever the backend: a typo must not wait for the
    # day the other backend is chosen
    prices = _prices(config)
    timeout = _exchange_timeout(config)
    backend: Backend
    if spec.scheme == "anthropic":
        from pytest_genopt.backends.anthropic import DEFAULT_MODEL, AnthropicBackend

        model = spec.argument or settings.model or DEFAULT_MODEL
        backend = AnthropicBackend(model=model, prices=prices, secrets=secrets)
    elif spec.scheme == "python":
        from pytest_genopt.backends.python import PythonBackend

        backend = PythonBackend(spec.argument, config.rootpath)
    elif spec.scheme == "exchange":
        from pytest_genopt.backends.exchange import ExchangeBackend

        backend = ExchangeBackend(
            invocation_dir / spec.argument,
            timeout=timeout,
            name=str(spec),  # the spec as written: stable across machines in trailers
            secrets=secrets,
            notify=_terminal_line(config),
        )
    elif spec.scheme == "replay":
        from pytest_genopt.backends.cassette import ReplayBackend

        path = (invocation_dir / spec.argument).resolve()
        backend = ReplayBackend(path, secrets=secrets, match=_replay_match(config))
    elif spec.scheme == "search":
        from pytest_genopt.backends.search import SearchBackend

        backend = SearchBackend(seed=settings.seed)
    else:
        backend = _plugin_backend(config, str(spec))
    if settings.record is not None:
        from pytest_genopt.backends.cassette import RecordingBackend

        backend = RecordingBackend(backend, settings.record, secrets)
    return backend


def _plugin_backend(config: pytest.Config, spec: str) -> Backend:
    made = config.stash.get(plugin_backend_key, None)
    if made is None:
        raise BackendFatal(f"no plugin provided a backend for {spec!r}")
    if not isinstance(made, Backend):
        raise BackendFatal(
            f"the backend a plugin made for {spec!r} is a {type(made).__name__}, "
            "not a Backend (it needs name, propose, worst_case and close)"
        )
    return made


def _prices(config: pytest.Config) -> dict[str, Price]:
    from pytest_genopt.backends.prices import parse_price_overrides

    lines = _ini(config, "genopt_prices")
    if isinstance(lines, str):
        lines = [lines]
    try:
        return parse_price_overrides(list(lines or ()))
    except ValueError as exc:
        raise BackendFatal(f"genopt_prices (ini): {exc}") from None


def _ini(config: pytest.Config, name: str) -> Any:
    """An ini value, or None while the plugin does not declare ``name``."""
    try:
        return config.getini(name)
    except ValueError:  # "unknown configuration value"
        return None


def _exchange_timeout(config: pytest.Config) -> float:
    value = _ini(config, "genopt_exchange_timeout")
    if value in (None, "", []):
        return DEFAULT_EXCHANGE_TIMEOUT
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (seconds > 0 and math.isfinite(seconds)):
        raise BackendFatal(
            f"genopt_exchange_timeout (ini): invalid value {text!r}; "
            "expected a number of seconds > 0"
        )
    return seconds


def _replay_match(config: pytest.Config) -> str:
    from pytest_genopt.backends.cassette import MATCHES

    value = _ini(config, "genopt_replay_match")
    text = "position" if value in (None, "", []) else str(value).strip()
    if text not in MATCHES:
        raise BackendFatal(
            f"genopt_replay_match (ini): invalid value {text!r}; expected one of "
            + ", ".join(MATCHES)
        )
    return text


def _terminal_line(config: pytest.Config) -> Callable[[str], None]:
    """Write a line on the session's terminal (when it has one) at once."""

    def write(line: str) -> None:
        terminal_line(config, line)

    return write
