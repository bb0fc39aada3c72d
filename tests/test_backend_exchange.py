"""The exchange backend: files named by iteration and candidate, stale answers, status files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

import pytest

from pytest_genopt.backends import Backend, BackendFatal, Usage, conclude
from pytest_genopt.backends.exchange import ExchangeBackend
from pytest_genopt.prompt import render
from pytest_genopt.protocol import Edit, Response
from tests.test_backends import VALID, listing, make_request

if TYPE_CHECKING:
    from pathlib import Path

AGENT = r"""
import json, os, sys, time
from pathlib import Path

directory = Path(sys.argv[1])
deadline = time.monotonic() + 30
status = {}
while status.get("state") != "waiting":
    if time.monotonic() > deadline:
        sys.exit("no request came")
    time.sleep(0.01)
    try:
        status = json.loads((directory / "status.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
waiting = status["waiting_for"]
request_text = (directory / waiting["request"]).read_text(encoding="utf-8")
assert status["run"] == "run-1"
import hashlib
assert hashlib.sha256(request_text.encode()).hexdigest() == waiting["request_sha256"]
request = json.loads(request_text)
prompt = (directory / waiting["request"].replace("request.json", "prompt.md")).read_text()
answer = {
    "rationale": "iteration %d, prompt of %d characters" % (request["iteration"], len(prompt)),
    "edits": [{"parameter": request["parameters"][0]["id"], "search": "a - b", "replace": "a + b"}],
}
tmp = directory / ".agent-answer.tmp"
tmp.write_text(json.dumps(answer), encoding="utf-8")
os.replace(tmp, directory / waiting["response"])
"""


def test_exchange_answered_by_another_process(tmp_path: Path) -> None:
    directory = tmp_path / "answers" / "run"
    backend = ExchangeBackend(directory, timeout=30, poll=0.02)
    assert not (tmp_path / "answers").exists()  # construction writes nothing
    agent = subprocess.Popen([sys.executable, "-c", AGENT, str(directory)])
    try:
        assert isinstance(backend, Backend)
        assert backend.name == f"exchange:{directory}"
        request = make_request(iteration=4)
        proposal = backend.propose(request)
    finally:
        assert agent.wait(timeout=30) == 0
    prompt = (directory / "4-0.prompt.md").read_text(encoding="utf-8")
    assert prompt.startswith(render(request).text)
    # the prompt says exactly where and how to answer
    assert f"\n    {directory / '4-0.response.json'}\n" in prompt
    assert '{"rationale": "<why>", "edits": [{"parameter": "<id>", "text": ' in prompt
    assert proposal.response == Response(
        edits=(Edit("calc.py::add", search="a - b", replace="a + b"),),
        rationale=f"iteration 4, prompt of {len(prompt)} characters",
    )
    assert proposal.usage == Usage()
    assert backend.worst_case(request) == Usage()
    # atomic writes: exactly the protocol's files, no temporary ones left behind
    assert listing(directory) == {
        "4-0.request.json",
        "4-0.prompt.md",
        "4-0.response.json",
        "status.json",
        "status.md",
    }
    assert (directory / "4-0.request.json").read_text(encoding="utf-8") == request.dumps()


class Answerer:
    """Answers each request the status file says the run waits for, with the next text."""

    def __init__(self, directory: Path, *answers: bytes) -> None:
        self.directory = directory
        self.answers = list(answers)
        self.answered: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Answerer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _serve(self) -> None:
        while self.answers and not self._stop.wait(0.01):
            try:
                status = json.loads((self.directory / "status.json").read_bytes())
            except (OSError, ValueError):
                continue
            waiting = status.get("waiting_for") or {}
            name = waiting.get("response")
            if name and name not in self.answered:
                tmp = self.directory / ".answer.tmp"
                tmp.write_bytes(self.answers.pop(0))
                os.replace(tmp, self.directory / name)
                self.answered.append(name)


@pytest.fixture
def answers(tmp_path: Path) -> Path:
    return tmp_path / "exchange"


def test_files_are_named_by_iteration_and_candidate(answers: Path) -> None:
    backend = ExchangeBackend(answers, timeout=10, poll=0.01)
    valid = json.dumps(VALID).encode()
    with Answerer(answers, valid, valid, valid) as answerer:
        # the loop asks once per candidate, with the same request
        for request in (make_request(iteration=3), make_request(iteration=3), make_request()):
            assert backend.propose(request).response == Response.from_json(VALID)
    assert answerer.answered == ["3-0.response.json", "3-1.response.json", "1-0.response.json"]
    assert {"3-0.request.json", "3-1.request.json", "1-0.prompt.md"} <= listing(answers)


def test_timeout_is_fatal(tmp_path: Path) -> None:
    backend = ExchangeBackend(tmp_path, timeout=0.3, poll=0.05)
    with pytest.raises(BackendFatal) as info:
        backend.propose(make_request())
    assert str(info.value) == f"exchange: no answer in {tmp_path / '1-0.response.json'} after 0.3 s"
    assert listing(tmp_path) == {"1-0.request.json", "1-0.prompt.md", "status.json", "status.md"}


def test_a_file_still_being_written_is_waited_for(answers: Path) -> None:
    text = json.dumps(VALID)
    answer = answers / "1-0.response.json"

    def write_slowly() -> None:
        while not (answers / "1-0.request.json").exists():
            time.sleep(0.01)
        answer.write_text(text[:10], encoding="utf-8")  # a writer that is not atomic
        time.sleep(0.15)
        answer.write_text(text, encoding="utf-8")

    writer = threading.Thread(target=write_slowly)
    writer.start()
    try:
        proposal = ExchangeBackend(answers, timeout=10, poll=0.3).propose(make_request())
    finally:
        writer.join()
    assert proposal.response == Response.from_json(VALID)


@pytest.mark.parametrize(
    ("answer", "reason", "raw"),
    [
        (b"{not json", "1-0.response.json is not valid JSON: Expecting property name", "{not json"),
        (
            b'{"rationale": "caf\xe9", "edits": []}',
            "1-0.response.json is not UTF-8 text: invalid continuation byte at byte 18",
            '{"rationale": "caf\\xe9", "edits": []}',
        ),
        (
            b'{"rationale": "lone \\ud800", "edits": []}',
            "the response proposes no edits",
            {"rationale": "lone \\ud800", "edits": []},
        ),
        (b"[" * 100_000 + b"]" * 100_000, "1-0.response.json: the reply nests arrays", "[[[["),
        (b"[" * 40 + b"]" * 40, "the reply nests arrays and objects deeper than 32", "[[[["),
        (
            b'{"rationale": "' + b"x" * 20_000_000 + b'", "edits": []}',
            "1-0.response.json: the reply is longer than 1,000,000 characters",
            '{"rationale": "xxxx',
        ),
    ],
    ids=["not-json", "not-utf8", "lone-surrogate", "deep", "deeper-than-cap", "huge"],
)
def test_hostile_answers_are_invalid_proposals(
    answers: Path, answer: bytes, reason: str, raw: object
) -> None:
    with Answerer(answers, answer):
        proposal = ExchangeBackend(answers, timeout=10, poll=0.02).propose(make_request())
    assert proposal.response is None
    assert proposal.invalid_reason is not None
    assert proposal.invalid_reason.startswith(reason), proposal.invalid_reason
    assert "\n" not in proposal.invalid_reason
    if isinstance(raw, str):
        assert isinstance(proposal.raw, str)
        assert proposal.raw.startswith(raw)
        assert len(proposal.raw) < 3000  # kept for the journal: bounded
    else:
        assert proposal.raw == raw
    json.dumps(proposal.raw).encode("utf-8")  # the journal can hold it


def test_a_lone_surrogate_in_a_valid_answer_is_kept_escaped(answers: Path) -> None:
    answer = json.dumps({**VALID, "rationale": "lone \ud800 here"}).encode()
    assert b"\\ud800" in answer  # JSON's own escape of the surrogate
    with Answerer(answers, answer):
        proposal = ExchangeBackend(answers, timeout=10, poll=0.02).propose(make_request())
    assert proposal.response is not None
    assert proposal.response.rationale == "lone \\ud800 here"  # six characters, printable
    proposal.response.rationale.encode("utf-8")


def test_a_stale_answer_never_answers_a_different_request(answers: Path) -> None:
    """A resumed run asks again: only the byte-identical request may take the old answer."""
    first = make_request(seed=1)
    with pytest.raises(BackendFatal):  # the run stopped while waiting
        ExchangeBackend(answers, timeout=0.2, poll=0.02).propose(first)
    # an answer to the first request arrives while the run is down
    (answers / "1-0.response.json").write_text(json.dumps(VALID), encoding="utf-8")
    old_request = (answers / "1-0.request.json").read_bytes()
    # resumed, the same request takes it at once: it answers exactly that request
    resumed = ExchangeBackend(answers, timeout=0.2, poll=0.02)
    assert resumed.propose(first).response == Response.from_json(VALID)
    # resumed with a different request: the old files move aside, nothing answers
    with pytest.raises(BackendFatal, match=r"no answer in .*1-0\.response\.json"):
        ExchangeBackend(answers, timeout=0.2, poll=0.02).propose(make_request(seed=2))
    digest = hashlib.sha256(old_request).hexdigest()[:12]
    stale = answers / "stale"
    assert listing(stale) == {
        f"1-0.{digest}.request.json",
        f"1-0.{digest}.prompt.md",
        f"1-0.{digest}.response.json",
    }
    assert (stale / f"1-0.{digest}.request.json").read_bytes() == old_request
    assert json.loads((answers / "1-0.request.json").read_text())["settings"]["seed"] == 2
    assert not (answers / "1-0.response.json").exists()


def test_an_answer_without_its_request_is_moved_aside(answers: Path) -> None:
    answers.mkdir()
    (answers / "1-0.response.json").write_text(json.dumps(VALID), encoding="utf-8")
    with pytest.raises(BackendFatal, match="no answer"):
        ExchangeBackend(answers, timeout=0.2, poll=0.02).propose(make_request())
    assert listing(answers / "stale") == {"1-0.no-request.response.json"}
    # moved aside twice: nothing is overwritten
    (answers / "1-0.request.json").unlink()
    (answers / "1-0.response.json").write_text("{}", encoding="utf-8")
    with pytest.raises(BackendFatal, match="no answer"):
        ExchangeBackend(answers, timeout=0.2, poll=0.02).propose(make_request())
    assert "1-0.no-request.1.response.json" in listing(answers / "stale")


def test_conclude_writes_how_the_run_ended(answers: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = ExchangeBackend(answers, timeout=10, poll=0.02, secrets=("hunter2-secret",))
    with Answerer(answers, json.dumps(VALID).encode(), b"[]"):
        backend.propose(make_request())
        backend.propose(make_request())
    decisions = [
        {"iteration": 1, "candidate": 0, "decision": "accepted", "reason": "0.2 -> 1"},
        {
            "iteration": 1,
            "candidate": 1,
            "decision": "invalid",
            "reason": "the response | was hunter2-secret",
        },
    ]
    conclude(backend, "all iterations done", decisions)
    status = json.loads((answers / "status.json").read_text(encoding="utf-8"))
    assert status == {
        "status": 1,
        "state": "ended",
        "run": "run-1",
        "waiting_for": None,
        "stopped": "all iterations done",
        "answers": [
            {
                "iteration": 1,
                "candidate": 0,
                "response": "1-0.response.json",
                "decision": "accepted",
                "reason": "0.2 -> 1",
            },
            {
                "iteration": 1,
                "candidate": 1,
                "response": "1-1.response.json",
                "decision": "invalid",
                "reason": "the response | was [redacted]",
            },
        ],
    }
    summary = (answers / "status.md").read_text(encoding="utf-8")
    assert summary.splitlines()[:3] == [
        "# pytest-genopt run run-1: ended",
        "",
        "Stopped: all iterations done",
    ]
    assert "| `1-1.response.json` | invalid | the response \\| was [redacted] |" in summary
    assert "hunter2" not in summary


def test_conclude_without_a_proposal_and_on_an_unwritable_dir(tmp_path: Path) -> None:
    backend = ExchangeBackend(tmp_path / "new", timeout=1)
    backend.conclude("budget: no call fits", [])
    status = json.loads((tmp_path / "new" / "status.json").read_text(encoding="utf-8"))
    assert (status["state"], status["run"], status["answers"]) == ("ended", None, [])
    assert "No answer was judged." in (tmp_path / "new" / "status.md").read_text()
    (tmp_path / "file").write_text("")
    with pytest.raises(BackendFatal, match=r"^exchange: cannot write the status into .*file"):
        ExchangeBackend(tmp_path / "file", timeout=1).conclude("done", [])
