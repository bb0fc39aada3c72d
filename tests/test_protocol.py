"""Protocol v1 types, Response validation and the prompt renderer."""

from __future__ import annotations

import json

import pytest

from pytest_genopt import prompt
from pytest_genopt.backends import proposal_from_raw
from pytest_genopt.protocol import (
    Edit,
    EvidenceItem,
    HistoryEntry,
    InvalidProposal,
    ParameterView,
    Request,
    RequestSettings,
    Response,
    parse_response,
    response_schema,
)


def make_request() -> Request:
    return Request(
        run="r1",
        iteration=2,
        objective="maximize the mean value",
        settings=RequestSettings(horizon=2, batch_size=1, seed=0),
        parameters=(
            ParameterView(
                "calc.py::add",
                "function",
                "calc.py",
                "python",
                "def add(a, b):\n    return a - b\n",
                "adds ```numbers```",
            ),
        ),
        evidence=(
            EvidenceItem(
                "t.py::test_add",
                "failed",
                0.0,
                "AssertionError: assert -1 == 3",
                ("t.py:4 in test_add\n    assert add(1, 2) == 3",),
                ({"call": "calc.py::add", "args": {"a": "1"}, "returned": "-1"},),
                "printed",
                ("too small",),
            ),
        ),
        history=(
            HistoryEntry(
                1,
                "try",
                (Edit("calc.py::add", search="-", replace="*"),),
                "rejected",
                "objective 0.0 is not above 0.0",
            ),
        ),
    )


def test_request_round_trips_through_json() -> None:
    request = make_request()
    data = json.loads(request.dumps())
    assert data["protocol"] == 2
    assert set(data) == {
        "protocol",
        "run",
        "iteration",
        "objective",
        "settings",
        "parameters",
        "evidence",
        "history",
        "prompt",
    }
    assert Request.from_json(data) == request


def test_request_reads_v1_and_refuses_another_protocol_version() -> None:
    data = make_request().to_json()
    data["protocol"] = 1
    v1 = {k: v for k, v in data.items()}
    v1["parameters"] = [{k: v for k, v in p.items() if k != "view"} for p in data["parameters"]]
    assert Request.from_json(v1).parameters == make_request().parameters
    data["protocol"] = 3
    with pytest.raises(ValueError, match="unsupported protocol version 3"):
        Request.from_json(data)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not json", "the response is not valid JSON"),
        ("[1, 2]", "the response must be a JSON object, got a list"),
        ({"edits": "x"}, "the response needs a list 'edits'"),
        ({"edits": []}, "the response proposes no edits"),
        (
            {"edits": [{"parameter": "p"}]},
            "edit 0: an edit needs 'text', or both 'search' and 'replace'",
        ),
        ({"edits": [{"text": "x"}]}, "edit 0: an edit needs a string 'parameter'"),
        ({"edits": [{"parameter": "p", "text": 3}]}, "edit 0: 'text' must be a string"),
        (
            {"edits": [{"parameter": "p", "search": "", "replace": "y"}]},
            "'search' must not be empty",
        ),
        ({"edits": [{"parameter": "p", "text": "a", "search": "b"}]}, "not both"),
        ({"edits": [{"parameter": "p", "text": "a", "color": 1}]}, "unknown edit field(s): color"),
        ({"edits": [{"parameter": "p", "text": "a"}], "why": 1}, "unknown response field(s): why"),
        (
            {"edits": [{"parameter": "p", "text": "a"}], "rationale": 5},
            "'rationale' must be a string",
        ),
        ({"edits": ["x"]}, "edit 0: an edit must be an object, got a string"),
    ],
)
def test_malformed_responses_are_reasoned_rejections(raw: object, reason: str) -> None:
    with pytest.raises(InvalidProposal) as excinfo:
        parse_response(raw if isinstance(raw, str) else json.dumps(raw))
    assert reason in str(excinfo.value)


def test_a_python_non_dict_is_an_invalid_proposal_not_a_crash() -> None:
    proposal = proposal_from_raw("fix it")
    assert proposal.response is None
    assert proposal.invalid_reason == "the response must be a JSON object, got a string"


def test_valid_response_parses() -> None:
    response = parse_response(
        '{"edits": [{"parameter": "calc.py::add", "search": "-", "replace": "+"}],'
        ' "rationale": "sign"}'
    )
    assert response == Response((Edit("calc.py::add", search="-", replace="+"),), "sign")
    assert Response.from_json(response.to_json()) == response


def test_schema_describes_both_edit_forms() -> None:
    schema = response_schema()
    item = schema["properties"]["edits"]["items"]
    assert set(item["properties"]) == {"parameter", "region", "text", "search", "replace"}
    assert schema["required"] == ["edits", "rationale"]


def test_prompt_puts_stable_parts_first_and_shows_everything() -> None:
    request = make_request()
    rendered = prompt.render(request)
    text = rendered.text
    assert text.index("Answer with the tool `propose_edits`") < text.index("## calc.py::add")
    assert text.index("## calc.py::add") < text.index("# Evidence: 1 trial(s)")
    assert "def add(a, b):\n    return a - b\n" in rendered.parameters
    assert "description: adds ```numbers```" in rendered.parameters
    assert "AssertionError: assert -1 == 3" in rendered.task
    assert "credit horizon: the last 2 project traceback frames" in rendered.task
    assert '{"args": {"a": "1"}, "call": "calc.py::add", "returned": "-1"}' in rendered.task
    assert "- too small" in rendered.task
    assert "iteration 1: rejected: objective 0.0 is not above 0.0" in rendered.task
    # the parameter set does not depend on evidence or history: a cacheable prefix
    other = prompt.render(Request(**{**request.__dict__, "evidence": (), "history": ()}))
    assert other.instructions == rendered.instructions
    assert other.parameters == rendered.parameters


def test_fences_outgrow_backticks_in_the_text() -> None:
    view = ParameterView("doc.md", "file", "doc.md", "markdown", "```python\nx\n```\n")
    text = prompt.render(Request(**{**make_request().__dict__, "parameters": (view,)})).parameters
    assert "````markdown\n```python\nx\n```\n````" in text


def test_history_shows_a_diff_the_notes_and_the_tests_an_attempt_moved() -> None:
    entry = HistoryEntry(
        1,
        "why " * 300,
        (Edit("calc.py::add", search="return a - b", replace="return a + b if a else 1"),),
        "rejected",
        "breaks 1 passing test(s): t.py::test_zero",
        diff="--- a/calc.py\n+++ b/calc.py\n@@ -5 +5 @@\n-    return a - b\n+    return a + b\n",
        notes=("edit 2 (calc.py::add) changes nothing; it was left out",),
        moved=(
            {"test": "t.py::test_zero", "best": 1.0, "value": 0.0, "outcome": "failed",
             "message": "AssertionError: assert 1 == 0"},
            {"test": "t.py::test_add", "best": 0.0, "value": 1.0, "outcome": "passed"},
        ),
    )  # fmt: skip
    request = Request(**{**make_request().__dict__, "history": (entry,)})
    assert Request.from_json(json.loads(request.dumps())) == request
    task = prompt.render(request).task
    assert "  rationale: " + ("why " * 300).strip() in task  # 1,200 characters: not clipped
    assert "  note: edit 2 (calc.py::add) changes nothing; it was left out" in task
    assert "    ```diff\n    --- a/calc.py\n" in task
    assert "search/replace" not in task  # the diff says it once
    assert "  - t.py::test_zero: 1 -> 0 (failed: AssertionError: assert 1 == 0)" in task
    assert "  - t.py::test_add: 0 -> 1\n" in task


def test_rules_name_only_the_parameter_kinds_present() -> None:
    function_only = prompt.render(make_request()).instructions
    assert "A function parameter is the whole function" in function_only
    assert "genopt: begin" not in function_only
    assert "A file parameter" not in function_only
    view = ParameterView("calc.py::knobs", "block", "calc.py", "python", "RATE = 1\n")
    both = Request(**{**make_request().__dict__, "parameters": (*make_request().parameters, view)})
    rules = prompt.render(both).instructions
    assert "A function parameter" in rules
    assert "never write those markers" in rules
    assert "A file parameter" not in rules
