"""The python, exchange, record/replay backends and the registry that builds backends."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from pytest_genopt.backends import (
    Backend,
    BackendError,
    BackendFatal,
    Proposal,
    Usage,
    proposal_from_raw,
)
from pytest_genopt.backends.anthropic import DEFAULT_MODEL, AnthropicBackend
from pytest_genopt.backends.cassette import (
    CASSETTE_VERSION,
    RecordingBackend,
    ReplayBackend,
    normalize_request,
)
from pytest_genopt.backends.exchange import ExchangeBackend
from pytest_genopt.backends.python import PythonBackend
from pytest_genopt.backends.registry import make_backend
from pytest_genopt.config import BackendSpec
from pytest_genopt.plugin import plugin_backend_key, settings_key
from pytest_genopt.prompt import render
from pytest_genopt.protocol import (
    Edit,
    EvidenceItem,
    ParameterView,
    Request,
    RequestSettings,
    Response,
)
from pytest_genopt.redaction import REDACTED, secret_values

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

SECRET = "supersecretvalue123"
FIXED = "def add(a, b):\n    return a + b\n"
VALID = {"edits": [{"parameter": "calc.py::add", "text": FIXED}], "rationale": "add, not subtract"}


def make_request(
    *,
    run: str = "run-1",
    iteration: int = 1,
    message: str = "assert -1 == 3",
    stdout: str = "",
    seed: int = 7,
    evidence: int = 2,
) -> Request:
    items = (
        EvidenceItem(
            test="tests/test_calc.py::test_small",
            outcome="failed",
            value=0.0,
            message=message,
            traceback=("calc.py:3: in add\n    return a - b",),
            trace=({"call": "add", "args": [1, 2], "return": -1},),
            stdout=stdout,
            feedback=("too small",),
        ),
        EvidenceItem(test="tests/test_calc.py::test_zero", outcome="passed", value=1.0),
    )
    return Request(
        run=run,
        iteration=iteration,
        objective="mean value of the tests",
        settings=RequestSettings(horizon=2, batch_size=2, seed=seed),
        parameters=(
            ParameterView(
                id="calc.py::add",
                kind="function",
                path="calc.py",
                language="python",
                text="def add(a, b):\n    return a - b\n",
            ),
        ),
        evidence=items[:evidence],
    )


def listing(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


# -- python ---------------------------------------------------------------------

OPTIMIZER = """\
CALLS = []


def valid(request):
    CALLS.append(request)
    answer = {
        "edits": [{"parameter": request["parameters"][0]["id"], "text": FIXED}],
        "rationale": "iteration %d, %d evidence items" % (
            request["iteration"], len(request["evidence"])
        ),
    }
    request["evidence"].clear()  # a later call must still get the full request
    return answer


def words(request):
    return "I would change the minus to a plus"


def items(request):
    return [{"parameter": "calc.py::add", "text": FIXED}]


def boom(request):
    raise ValueError("bad\\n   thing happened")


def silent(request):
    raise RuntimeError()


def unserializable(request):
    return {"edits": {1, 2}, "rationale": "a set"}


NOT_CALLABLE = 42
FIXED = "def add(a, b):\\n    return a + b\\n"
"""


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh optimizer module in ``tmp_path`` (not yet importable), under a unique name."""
    name = f"genopt_optimizer_{uuid.uuid4().hex[:10]}"
    (tmp_path / f"{name}.py").write_text(OPTIMIZER, encoding="utf-8")
    monkeypatch.setattr(sys, "path", list(sys.path))  # the backend prepends the rootdir
    yield name
    for loaded in [m for m in sys.modules if m.startswith(name)]:
        del sys.modules[loaded]


def test_python_valid_answer_from_module_on_rootdir(tmp_path: Path, module: str) -> None:
    assert module not in sys.modules
    backend = PythonBackend(f"{module}:valid", tmp_path)
    assert isinstance(backend, Backend)
    assert backend.name == f"python:{module}:valid"
    request = make_request()
    first = backend.propose(request)
    second = backend.propose(make_request(iteration=2))
    assert first.response == Response(
        edits=(Edit("calc.py::add", text=FIXED),), rationale="iteration 1, 2 evidence items"
    )
    assert first.invalid_reason is None
    assert first.raw == first.response.to_json()
    assert first.usage == Usage()
    # each call gets a fresh dict, even though the function emptied the last one
    assert second.response is not None
    assert second.response.rationale == "iteration 2, 2 evidence items"
    assert sys.path[0] == str(tmp_path)
    assert backend.worst_case(request) == Usage()
    backend.close()


@pytest.mark.parametrize(
    ("function", "reason"),
    [
        ("words", "the response must be a JSON object, got a string"),
        ("items", "the response must be a JSON object, got a list"),
    ],
)
def test_python_non_dict_is_invalid(
    tmp_path: Path, module: str, function: str, reason: str
) -> None:
    proposal = PythonBackend(f"{module}:{function}", tmp_path).propose(make_request())
    assert proposal.response is None
    assert proposal.invalid_reason == reason
    assert proposal.raw is not None


def test_python_unserializable_answer_is_invalid_with_repr(tmp_path: Path, module: str) -> None:
    proposal = PythonBackend(f"{module}:unserializable", tmp_path).propose(make_request())
    assert proposal.response is None
    assert proposal.invalid_reason is not None
    assert proposal.invalid_reason.startswith("the answer is not JSON-serializable")
    assert "set" in proposal.invalid_reason
    assert proposal.raw == '{"edits": {1, 2}, "rationale": "a set"}'  # a JSON-like preview
    json.dumps(proposal.raw)  # the journal can hold it


def test_python_exception_is_one_line_backend_error(tmp_path: Path, module: str) -> None:
    with pytest.raises(BackendError) as info:
        PythonBackend(f"{module}:boom", tmp_path).propose(make_request())
    assert str(info.value) == f"python:{module}:boom raised ValueError: bad thing happened"
    with pytest.raises(BackendError) as info:
        PythonBackend(f"{module}:silent", tmp_path).propose(make_request())
    assert str(info.value) == f"python:{module}:silent raised RuntimeError"


def test_python_missing_module_or_function_is_fatal(tmp_path: Path, module: str) -> None:
    cases = {
        "genopt_no_such_module_here:fn": "cannot import module 'genopt_no_such_module_here'",
        f"{module}:missing": f"module {module!r} has no 'missing'",
        f"{module}:NOT_CALLABLE": "is a int, not a function",
    }
    for target, expected in cases.items():
        backend = PythonBackend(target, tmp_path)  # lazy: nothing is imported yet
        with pytest.raises(BackendFatal) as info:
            backend.propose(make_request())
        message = str(info.value)
        assert message.startswith(f"python:{target}: ")
        assert expected in message
        assert "\n" not in message


def test_python_package_module_and_broken_module(
    tmp_path: Path, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / f"{module}_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "opt.py").write_text("def propose(request):\n    return 'no'\n", encoding="utf-8")
    (tmp_path / f"{module}_broken.py").write_text("def f(:\n", encoding="utf-8")
    proposal = PythonBackend(f"{module}_pkg.opt:propose", tmp_path).propose(make_request())
    assert proposal.invalid_reason == "the response must be a JSON object, got a string"
    with pytest.raises(BackendFatal, match=r"importing .*_broken' raised SyntaxError"):
        PythonBackend(f"{module}_broken:f", tmp_path).propose(make_request())


# -- record and replay ------------------------------------------------------------

SPENT = Usage(input_tokens=120, output_tokens=30, cache_read_input_tokens=7, cost_usd=0.0125)


class Scripted:
    """A backend whose outcomes are given in advance: raw answers or exceptions to raise."""

    def __init__(self, outcomes: Sequence[object]) -> None:
        self.name = "scripted:v1"
        self.outcomes = list(outcomes)
        self.closed = False

    def propose(self, request: Request) -> Proposal:
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return proposal_from_raw(outcome, SPENT)

    def worst_case(self, request: Request) -> Usage:
        return Usage(input_tokens=999)

    def close(self) -> None:
        self.closed = True


def outcome(backend: Backend, request: Request) -> Proposal | tuple[str, str]:
    """The backend's answer, or the kind and message of what it raised."""
    try:
        return backend.propose(request)
    except (BackendError, BackendFatal) as exc:
        return type(exc).__name__, str(exc)


def read_cassette(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


OTHER = {"edits": [{"parameter": "calc.py::add", "search": "-", "replace": "+"}], "rationale": ""}
SCRIPT: list[object] = [
    VALID,
    "just words",
    {"edits": []},
    BackendError("anthropic: overloaded after 4 retries"),
    OTHER,
    BackendFatal("the API key was rejected"),
]


def record(path: Path, requests: Sequence[Request]) -> list[Proposal | tuple[str, str]]:
    recorder = RecordingBackend(Scripted(SCRIPT), path, ())
    return [outcome(recorder, request) for request in requests]


def test_record_then_replay_gives_the_same_outcomes_in_order(tmp_path: Path) -> None:
    cassette = tmp_path / "tapes" / "calc.json"
    requests = [make_request(iteration=i) for i in range(1, 7)]
    recorded = record(cassette, requests)
    assert recorded[3] == ("BackendError", "anthropic: overloaded after 4 retries")
    assert recorded[5] == ("BackendFatal", "the API key was rejected")
    assert [type(p) for p in recorded] == [Proposal] * 3 + [tuple, Proposal, tuple]

    data = read_cassette(cassette)
    assert data["cassette"] == CASSETTE_VERSION == 1
    assert len(data["exchanges"]) == 6
    first = data["exchanges"][0]
    assert first["request"] == normalize_request(requests[0])
    assert "run" not in first["request"]
    assert first["proposal"] == {"raw": VALID, "invalid_reason": None, "usage": SPENT.to_json()}
    assert data["exchanges"][1]["proposal"]["invalid_reason"] == (
        "the response must be a JSON object, got a string"
    )
    assert data["exchanges"][3]["error"] == {
        "kind": "error",
        "message": "anthropic: overloaded after 4 retries",
    }
    assert data["exchanges"][5]["error"]["kind"] == "fatal"
    assert listing(cassette.parent) == {"calc.json"}  # atomic: no temporary files left

    # a replay is a new run: another run id, same requests
    replay = ReplayBackend(cassette)
    assert isinstance(replay, Backend)
    assert replay.name == f"replay:{cassette}"
    assert replay.worst_case(make_request(run="new", iteration=1)) == SPENT
    replayed = [outcome(replay, make_request(run="new", iteration=i)) for i in range(1, 7)]
    assert replayed == recorded
    assert replay.remaining == 0


def test_recording_delegates_and_rewrites_the_cassette_each_time(tmp_path: Path) -> None:
    cassette = tmp_path / "tape.json"
    cassette.write_text("an older cassette, replaced at the first exchange", encoding="utf-8")
    inner = Scripted([VALID, OTHER])
    recorder = RecordingBackend(inner, cassette, ())
    assert isinstance(recorder, Backend)
    assert recorder.name == "scripted:v1"
    assert recorder.worst_case(make_request()) == Usage(input_tokens=999)
    recorder.propose(make_request(iteration=1))
    assert len(read_cassette(cassette)["exchanges"]) == 1
    recorder.propose(make_request(iteration=2))
    assert len(read_cassette(cassette)["exchanges"]) == 2
    assert listing(tmp_path) == {"tape.json"}
    recorder.close()
    assert inner.closed


def test_replay_matches_identical_requests_in_recorded_order(tmp_path: Path) -> None:
    cassette = tmp_path / "tape.json"
    request = make_request()
    recorder = RecordingBackend(Scripted([VALID, OTHER]), cassette, ())
    recorder.propose(request)
    recorder.propose(request)
    replay = ReplayBackend(cassette, match="request")
    first, second = replay.propose(request), replay.propose(request)
    assert first.raw == VALID
    assert second.raw == OTHER
    first.raw["rationale"] = "changed by the caller"  # must not reach the cassette's copy
    assert ReplayBackend(cassette, match="request").propose(request).raw == VALID


def test_replay_keeps_the_recorded_invalid_reason(tmp_path: Path, module: str) -> None:
    cassette = tmp_path / "tape.json"
    recorder = RecordingBackend(PythonBackend(f"{module}:unserializable", tmp_path), cassette, ())
    original = recorder.propose(make_request())
    # a reason recorded for a raw that validates today (e.g. checked against the parameters)
    data = read_cassette(cassette)
    data["exchanges"].append(
        {
            "request": normalize_request(make_request(iteration=2)),
            "proposal": {
                "raw": VALID,
                "invalid_reason": "edit 0: calc.py::add is not editable",
                "usage": Usage().to_json(),
            },
        }
    )
    cassette.write_text(json.dumps(data), encoding="utf-8")
    replay = ReplayBackend(cassette)
    assert replay.propose(make_request()) == original
    assert original.invalid_reason is not None
    assert original.invalid_reason.startswith("the answer is not JSON-serializable")
    second = replay.propose(make_request(iteration=2))
    assert second.response is None
    assert second.invalid_reason == "edit 0: calc.py::add is not editable"
    assert second.raw == VALID


def test_replay_of_a_changed_request_names_the_first_difference(tmp_path: Path) -> None:
    cassette = tmp_path / "tape.json"
    record(cassette, [make_request(iteration=1), make_request(iteration=2)])
    replay = ReplayBackend(cassette, match="request")
    with pytest.raises(BackendFatal) as info:
        replay.propose(make_request(message="assert 0 == 3"))
    assert str(info.value) == (
        f"replay: request for iteration 1 is not in {cassette}: first difference at "
        'evidence[0].message: "assert -1 == 3" != "assert 0 == 3"'
    )
    with pytest.raises(BackendFatal, match=r"first difference at settings\.seed: 7 != 8$"):
        replay.propose(make_request(seed=8))
    with pytest.raises(BackendFatal) as info:
        replay.propose(make_request(evidence=1))
    message = str(info.value)
    assert "first difference at evidence[1]: {" in message
    assert message.endswith("... != <absent>")
    assert len(message.split(": first difference at evidence[1]: ")[1]) <= 80 + len(" != <absent>")
    # the first unused exchange with an equal request answers, wherever it is
    assert replay.propose(make_request(iteration=2)).raw == "just words"
    with pytest.raises(BackendFatal, match=r"first difference at iteration: 1 != 3$"):
        replay.propose(make_request(iteration=3))  # compared with the next unused exchange
    assert replay.propose(make_request(iteration=1)).raw == VALID
    assert replay.worst_case(make_request(message="unknown")) == Usage()


def test_replay_clips_long_values(tmp_path: Path) -> None:
    cassette = tmp_path / "tape.json"
    record(cassette, [make_request(message="x" * 200)])
    with pytest.raises(BackendFatal) as info:
        ReplayBackend(cassette, match="request").propose(make_request(message="y" * 200))
    recorded, current = str(info.value).split("evidence[0].message: ")[1].split(" != ")
    assert recorded == '"' + "x" * 76 + "..."
    assert current == '"' + "y" * 76 + "..."


def test_replay_shows_long_strings_where_they_differ(tmp_path: Path) -> None:
    cassette = tmp_path / "tape.json"
    prefix = "a long, shared beginning of an assertion message " * 3
    record(cassette, [make_request(message=prefix + "recorded ending")])
    replay = ReplayBackend(cassette, match="request")
    with pytest.raises(BackendFatal) as info:
        replay.propose(make_request(message=prefix + "current ending"))
    recorded, current = str(info.value).split("evidence[0].message: ")[1].split(" != ")
    assert recorded == '"...n assertion message recorded ending"'
    assert current == '"...n assertion message current ending"'


def test_replay_names_a_setting_before_the_prompt_rendered_from_it(tmp_path: Path) -> None:
    cassette = tmp_path / "tape.json"
    request = make_request()
    record(cassette, [dataclasses.replace(request, prompt=render(request).text)])
    changed = make_request(seed=8)
    changed = dataclasses.replace(changed, prompt=render(changed).text + "differs")
    with pytest.raises(BackendFatal, match=r"first difference at settings\.seed: 7 != 8$"):
        ReplayBackend(cassette, match="request").propose(changed)


def test_replay_by_position_answers_each_iteration_and_candidate_whatever_the_request(
    tmp_path: Path,
) -> None:
    cassette = tmp_path / "tape.json"
    first, other = make_request(iteration=1), make_request(iteration=2)
    recorder = RecordingBackend(Scripted([VALID, OTHER, "just words"]), cassette, ())
    recorder.propose(first)
    recorder.propose(first)  # iteration 1, candidate 1
    recorder.propose(other)
    replay = ReplayBackend(cassette)  # matching by position is the default
    assert replay.match == "position"
    changed = make_request(iteration=1, message="a reworded failure", seed=8)
    assert replay.worst_case(changed) == SPENT  # what that exchange spent
    assert replay.propose(changed).raw == VALID
    assert replay.propose(changed).raw == OTHER
    with pytest.raises(BackendFatal) as info:
        replay.propose(changed)
    assert str(info.value) == (
        f"replay: {cassette} has no exchange for iteration 1, candidate 2 "
        "(it holds 3 exchanges, for iterations 1, 2)"
    )
    assert replay.worst_case(changed) == Usage()
    assert replay.propose(make_request(iteration=2, evidence=1)).raw == "just words"
    with pytest.raises(BackendFatal, match="no exchange for iteration 3, candidate 0 "):
        replay.propose(make_request(iteration=3))
    with pytest.raises(ValueError, match="match must be one of"):
        ReplayBackend(cassette, match="fuzzy")


def test_replay_of_an_exhausted_cassette(tmp_path: Path) -> None:
    cassette = tmp_path / "tape.json"
    record(cassette, [make_request()])
    replay = ReplayBackend(cassette, match="request")
    replay.propose(make_request())
    with pytest.raises(BackendFatal) as info:
        replay.propose(make_request(iteration=2))
    assert str(info.value) == (
        f"replay: request for iteration 2 is not in {cassette}: "
        "the cassette has no more exchanges (1 recorded)"
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "replay: cannot read the cassette"),
        ("{not json", "is not a cassette: invalid JSON"),
        ("[1, 2]", 'expected a JSON object with a "cassette" version'),
        ('{"cassette": 2, "exchanges": []}', "is a cassette of version 2; supported versions: 1"),
        ('{"cassette": "1", "exchanges": []}', "of version '1'; supported versions: 1"),
        ('{"cassette": 1, "exchanges": {}}', '"exchanges" must be a list'),
        ('{"cassette": 1, "exchanges": [{"request": {}}]}', "exchange 0 is malformed"),
        (
            '{"cassette": 1, "exchanges": [{"request": {}, "error": {"kind": "oops"}}]}',
            '"error" needs a "kind" of "error" or "fatal"',
        ),
    ],
)
def test_replay_refuses_bad_cassettes(tmp_path: Path, content: str | None, expected: str) -> None:
    cassette = tmp_path / "tape.json"
    if content is not None:
        cassette.write_text(content, encoding="utf-8")
    with pytest.raises(BackendFatal) as info:
        ReplayBackend(cassette)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_secrets_never_reach_the_cassette(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", SECRET)
    cassette = tmp_path / "tape.json"
    request = make_request(stdout=f"connecting with token {SECRET}\n")
    answer = {
        "edits": [{"parameter": "calc.py::add", "text": f"# {SECRET}\n{FIXED}"}],
        "rationale": f"the log shows {SECRET}",
        f"extra-{SECRET}": 1,  # a key, and an invalid answer: the reason names the key
    }
    inner = Scripted([answer, BackendError(f"failed: {SECRET}")])
    recorder = RecordingBackend(inner, cassette, secret_values())
    live = recorder.propose(request)
    assert SECRET in json.dumps(live.raw)  # the run itself sees the real answer
    with pytest.raises(BackendError):
        recorder.propose(make_request(iteration=2, stdout=SECRET))
    content = cassette.read_bytes()
    assert SECRET.encode() not in content
    assert content.count(REDACTED.encode()) >= 6
    # replaying under the same environment matches the (redacted) requests
    replay = ReplayBackend(cassette, secrets=secret_values())
    replayed = replay.propose(request)
    assert replayed.raw["rationale"] == f"the log shows {REDACTED}"
    assert replayed.invalid_reason == f"unknown response field(s): extra-{REDACTED}"
    with pytest.raises(BackendError, match=r"^failed: \[redacted\]$"):
        replay.propose(make_request(iteration=2, stdout=SECRET))


# -- registry -------------------------------------------------------------------


def configure(pytester: pytest.Pytester, *args: str) -> tuple[pytest.Config, Backend]:
    config = pytester.parseconfigure(*args)
    return config, make_backend(config, config.stash[settings_key])


def test_registry_python_backend_imports_from_rootdir(pytester: pytest.Pytester) -> None:
    name = f"genopt_reg_{uuid.uuid4().hex[:10]}"
    pytester.makepyfile(**{name: OPTIMIZER})
    _, backend = configure(pytester, f"--genopt-backend=python:{name}:valid")
    assert isinstance(backend, PythonBackend)
    assert backend.name == f"python:{name}:valid"
    assert backend.rootdir == pytester.path
    proposal = backend.propose(make_request())
    assert proposal.response is not None


def test_registry_exchange_backend(pytester: pytest.Pytester) -> None:
    _, backend = configure(pytester, "--genopt-backend=exchange:answers")
    assert not (pytester.path / "answers").exists()  # nothing is written before a proposal
    assert isinstance(backend, ExchangeBackend)
    assert backend.directory == pytester.path / "answers"
    assert backend.name == "exchange:answers"
    assert backend.timeout == 3600.0
    pytester.makeini("[pytest]\ngenopt_exchange_timeout = 12.5\n")
    _, backend = configure(pytester, "--genopt-backend=exchange:answers")
    assert isinstance(backend, ExchangeBackend)
    assert backend.timeout == 12.5
    pytester.makeini("[pytest]\ngenopt_exchange_timeout = soon\n")
    with pytest.raises(BackendFatal, match=r"genopt_exchange_timeout \(ini\): invalid value"):
        configure(pytester, "--genopt-backend=exchange:answers")


def test_registry_replay_backend(pytester: pytest.Pytester) -> None:
    cassette = pytester.path / "tapes" / "calc.json"
    record(cassette, [make_request()])
    _, backend = configure(pytester, "--genopt-backend=replay:tapes/calc.json")
    assert isinstance(backend, ReplayBackend)
    assert backend.path == cassette.resolve()
    assert backend.propose(make_request(run="replayed")).raw == VALID
    with pytest.raises(BackendFatal, match="cannot read the cassette"):
        configure(pytester, "--genopt-backend=replay:missing.json")


def test_registry_anthropic_backend(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-real-key")
    pytester.makeini("[pytest]\ngenopt_prices =\n    house-model-1 = 1 2\n")
    # the price override reaches the backend: a model the built-in table does not know
    config, backend = configure(pytester, "--genopt-backend=anthropic:house-model-1")
    assert isinstance(backend, AnthropicBackend)
    assert backend.name == "anthropic:house-model-1"
    assert backend.worst_case(make_request()).cost_usd > 0.0
    backend.close()
    settings = config.stash[settings_key]
    cases = [
        (BackendSpec("anthropic"), None, DEFAULT_MODEL),
        (BackendSpec("anthropic"), "claude-haiku-4-5", "claude-haiku-4-5"),
        (BackendSpec("anthropic", "claude-opus-5"), "claude-haiku-4-5", "claude-opus-5"),
    ]
    for spec, model, expected in cases:
        backend = make_backend(config, dataclasses.replace(settings, backend=spec, model=model))
        assert isinstance(backend, AnthropicBackend)
        assert backend.model == expected
        backend.close()
    pytester.makeini("[pytest]\ngenopt_prices =\n    house-model-1 = cheap\n")
    with pytest.raises(BackendFatal, match=r"genopt_prices \(ini\): bad price line"):
        configure(pytester, "--genopt-backend=anthropic:house-model-1")


PLUGIN_CONFTEST = """
from pytest_genopt.backends import Usage, proposal_from_raw


class Mine:
    def __init__(self, spec):
        self.name = spec

    def propose(self, request):
        return proposal_from_raw("from the plugin")

    def worst_case(self, request):
        return Usage()

    def close(self):
        pass


def pytest_genopt_make_backend(config, spec):
    if spec.startswith("mine"):
        return Mine(spec)
    if spec.startswith("broken"):
        return object()
    return None
"""


def test_registry_plugin_backend(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(PLUGIN_CONFTEST)
    config, backend = configure(pytester, "--genopt-iterations=1", "--genopt-backend=mine:fast")
    assert backend is config.stash[plugin_backend_key]
    assert backend.name == "mine:fast"
    assert backend.propose(make_request()).raw == "from the plugin"
    with pytest.raises(BackendFatal) as info:
        configure(pytester, "--genopt-iterations=1", "--genopt-backend=broken:x")
    assert str(info.value) == (
        "the backend a plugin made for 'broken:x' is a object, not a Backend "
        "(it needs name, propose, worst_case and close)"
    )
    # a passive session never asked the plugin
    with pytest.raises(BackendFatal, match="no plugin provided a backend for 'mine:fast'"):
        configure(pytester, "--genopt-backend=mine:fast")


def test_registry_record_wraps_the_backend(pytester: pytest.Pytester) -> None:
    name = f"genopt_reg_{uuid.uuid4().hex[:10]}"
    pytester.makepyfile(**{name: OPTIMIZER})
    _, backend = configure(
        pytester, f"--genopt-backend=python:{name}:valid", "--genopt-record=tapes/run.json"
    )
    assert isinstance(backend, RecordingBackend)
    assert isinstance(backend.inner, PythonBackend)
    assert backend.name == f"python:{name}:valid"
    assert not (pytester.path / "tapes").exists()  # nothing is written before a proposal
    backend.propose(make_request())
    data = read_cassette(pytester.path / "tapes" / "run.json")
    assert data["exchanges"][0]["request"] == normalize_request(make_request())


def test_registry_imports_backends_lazily(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        import pytest_genopt.backends.registry
        heavy = [m for m in ("anthropic", "pytest_genopt.backends.anthropic",
                             "pytest_genopt.backends.exchange", "pytest_genopt.backends.cassette",
                             "pytest_genopt.backends.python") if m in sys.modules]
        print(heavy)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("ini", "args", "message"),
    [
        (
            "genopt_prices = house-model-1 = cheap",
            ["--genopt-backend=search"],
            "genopt_prices (ini): bad price line 'house-model-1 = cheap': expected 'MODEL = IN "
            "OUT [CACHE_WRITE CACHE_READ]' with non-negative dollars per million tokens",
        ),
        (
            "genopt_exchange_timeout = -1",
            ["--genopt-backend=search"],
            "genopt_exchange_timeout (ini): invalid value '-1'; expected a number of seconds > 0",
        ),
        (
            "",
            ["--genopt-backend=search", "--genopt-record=tapes"],
            "record: the cassette {path}/tapes is a directory",
        ),
        (
            "",
            ["--genopt-backend=replay:tapes/none.json"],
            "replay: cannot read the cassette {path}/tapes/none.json: No such file or directory",
        ),
    ],
    ids=["prices", "exchange-timeout", "record-into-a-directory", "replay-missing"],
)
def test_registry_refuses_in_one_line_and_writes_nothing(
    pytester: pytest.Pytester, ini: str, args: list[str], message: str
) -> None:
    """Every ini value is checked whatever the backend chosen; a refusal leaves no trace."""
    pytester.makeini(f"[pytest]\n{ini}\n")
    (pytester.path / "tapes").mkdir()
    before = files_under(pytester.path)
    with pytest.raises(BackendFatal) as info:
        configure(pytester, *args)
    assert str(info.value) == message.format(path=pytester.path)
    assert files_under(pytester.path) == before


def files_under(path: Path) -> list[str]:
    """What is there, less what pytest's plugins (pytest-benchmark) make at configure."""
    return sorted(
        p.relative_to(path).as_posix() for p in path.rglob("*") if ".benchmarks" not in p.parts
    )
