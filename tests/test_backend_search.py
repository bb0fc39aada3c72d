"""The ``search`` backend: literal finding, perturbation, adaptation, seeding, and a real run."""

from __future__ import annotations

import ast
import statistics
from typing import TYPE_CHECKING

import pytest

from pytest_genopt.backends import Backend, Usage
from pytest_genopt.backends.registry import make_backend
from pytest_genopt.backends.search import (
    NO_LITERALS,
    SearchBackend,
    find_literals,
    step_scale,
)
from pytest_genopt.plugin import settings_key
from pytest_genopt.protocol import (
    Edit,
    EvidenceItem,
    HistoryEntry,
    ParameterView,
    Request,
    RequestSettings,
)
from tests.conftest import git, init_repo, read_json, tree_state

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_genopt.protocol import Decision

POLICY = '''\
def policy(state, limit=10):
    """Act when the signal passes 0.5 (not a literal: a docstring)."""
    THRESHOLD = 3  # the 7 here is a comment
    gain = 0.25
    if state[0] - 1 > THRESHOLD:
        return gain * 1e-3
    return -2.5
'''


def view(
    text: str = POLICY, language: str = "python", pid: str = "agent.py::policy"
) -> ParameterView:
    return ParameterView(
        id=pid, kind="function", path=pid.split("::")[0], language=language, text=text
    )


LOWERED = {"test": "test_a", "best": 1.0, "value": 0.5, "outcome": "failed", "message": "x"}
TIED = {"test": "test_b", "best": 0.0, "value": 0.0, "outcome": "failed", "message": "other"}


def entry(decision: Decision, iteration: int = 1, moved: tuple[object, ...] = ()) -> HistoryEntry:
    """A history entry; a rejection lowers a test's value unless ``moved`` says otherwise."""
    if decision == "rejected" and not moved:
        moved = (LOWERED,)
    return HistoryEntry(
        iteration=iteration,
        rationale="search: ...",
        edits=(Edit("agent.py::policy", text="def policy(state):\n    return 0\n"),),
        decision=decision,
        reason="",
        moved=tuple(moved),  # type: ignore[arg-type]
    )


def make_request(
    *parameters: ParameterView,
    iteration: int = 1,
    history: tuple[HistoryEntry, ...] = (),
    run: str = "20250101-000000-abcd",
) -> Request:
    return Request(
        run=run,
        iteration=iteration,
        objective="mean value 0.5000 over 3 tests",
        settings=RequestSettings(horizon=10, batch_size=3, seed=0),
        parameters=parameters or (view(),),
        evidence=(EvidenceItem(test="tests/test_agent.py::test_a", outcome="failed", value=0.2),),
        history=history,
    )


def answer(backend: SearchBackend, request: Request) -> dict[str, object]:
    proposal = backend.propose(request)
    assert proposal.response is not None, proposal.invalid_reason
    assert proposal.usage == Usage()
    return proposal.response.to_json()


# --------------------------------------------------------------------------- literals


def test_python_literals_are_number_tokens_with_an_attached_unary_minus() -> None:
    found = [(lit.source, lit.value) for lit in find_literals(POLICY, "python")]
    # nothing from the docstring or the comment; the default argument counts
    assert found == [
        ("10", 10),
        ("3", 3),
        ("0.25", 0.25),
        ("0", 0),
        ("1", 1),
        ("1e-3", 0.001),
        ("-2.5", -2.5),
    ]
    ints = [lit for lit in find_literals(POLICY, "python") if not lit.is_float]
    assert [lit.source for lit in ints] == ["10", "3", "0", "1"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x = -3\n", [("-3", -3)]),
        ("x = a - 3\n", [("3", 3)]),
        ("x = a-3\n", [("3", 3)]),
        ("x = a - -3\n", [("-3", -3)]),
        ("x = f(-.5, - 2)\n", [("-.5", -0.5), ("2", 2)]),
        ("x = y[-1]\n", [("-1", -1)]),
        ("x = (a)-1 + b[0]-2\n", [("1", 1), ("0", 0), ("2", 2)]),
        ("return -4\n", [("-4", -4)]),
        ("x = 2 ** -1.5e2\n", [("2", 2), ("-1.5e2", -150.0)]),
        ("x = 1_000 + 0x1F + 0o7 + 0b1 + 2j + 3.5J\n", [("1_000", 1000)]),
        ("s = 'a 1 b' + f'{2}'\n", []),
        ("s = f'{a:>{9}}' + f\"{f'{4}'}\" - 5\nx = 7\n", [("5", 5), ("7", 7)]),
    ],
)
def test_python_literal_cases(source: str, expected: list[tuple[str, object]]) -> None:
    found = find_literals(source, "python")
    assert [(lit.source, lit.value) for lit in found] == expected
    for lit in found:
        assert source[lit.start : lit.end] == lit.source
        assert isinstance(lit.value, float) == lit.is_float


def test_other_languages_use_a_decimal_regex() -> None:
    text = "lr: 0.01\nsteps = -3\nversion 1.2.3 x2 #ff0000 a-4 (b) -5 [1e-4, .5]\n"
    found = [(lit.source, lit.value) for lit in find_literals(text, "yaml")]
    assert found == [("0.01", 0.01), ("-3", -3), ("4", 4), ("5", 5), ("1e-4", 0.0001), (".5", 0.5)]
    # Python that does not tokenize falls back to the same rules
    assert [lit.source for lit in find_literals('x = "open\ny = 2\n', "python")] == ["2"]


# --------------------------------------------------------------------------- proposals


def test_the_backend_protocol_and_a_readable_proposal() -> None:
    backend = SearchBackend(seed=0)
    assert isinstance(backend, Backend)
    assert backend.name == "search"
    request = make_request()
    assert backend.worst_case(request) == Usage()
    response = answer(backend, request)
    edits = response["edits"]
    assert isinstance(edits, list)
    assert len(edits) == 1
    assert edits[0]["parameter"] == "agent.py::policy"
    new = edits[0]["text"]
    assert new != POLICY
    ast.parse(new)
    before = find_literals(POLICY, "python")
    after = find_literals(new, "python")
    assert len(after) == len(before)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b.source != a.source]
    assert 1 <= len(changed) <= 2
    for b, a in changed:
        assert type(a.value) is type(b.value)
        assert a.value != b.value
        assert len(a.source) <= 12  # rounded to a few significant digits
    rationale = response["rationale"]
    assert isinstance(rationale, str)
    assert rationale.startswith("search: agent.py::policy: ")
    assert rationale.endswith("(step scale 0.50)")
    for b, a in changed:
        assert f"{b.source} -> {a.source}" in rationale
    backend.close()


def test_assignments_are_named_in_the_rationale() -> None:
    text = "def f():\n    THRESHOLD = 3\n    return THRESHOLD\n"
    response = answer(SearchBackend(seed=1), make_request(view(text, pid="m.py::f")))
    assert str(response["rationale"]).startswith("search: m.py::f: THRESHOLD 3 -> ")


def test_every_answer_changes_something_and_still_parses() -> None:
    texts = [
        POLICY,
        "def f(x):\n    return x[0] + x[1]\n",  # only 0 and 1
        "def g():\n    return 0.0\n",
        "def h():\n    return 1e-9 * 123456789.0\n",
        "def k(a=-1):\n    return a - -0.001\n",
    ]
    for seed in range(40):
        for i, text in enumerate(texts):
            request = make_request(view(text, pid=f"m.py::p{i}"))
            response = answer(SearchBackend(seed=seed), request)
            edits = response["edits"]
            assert isinstance(edits, list)
            (edit,) = edits
            assert edit["text"] != text
            ast.parse(edit["text"])


def test_ints_stay_ints_and_never_change_sign() -> None:
    text = "def f():\n    return 1 + 2 - -3\n"
    seen = set()
    for seed in range(200):
        response = answer(SearchBackend(seed=seed, literals_per_edit=3), make_request(view(text)))
        edits = response["edits"]
        assert isinstance(edits, list)
        (a, b, c) = (lit.value for lit in find_literals(edits[0]["text"], "python"))
        assert all(isinstance(v, int) for v in (a, b, c))
        assert a >= 0
        assert b >= 0
        assert c <= 0
        seen.add(a)
    assert 0 in seen
    assert max(seen) >= 2


def test_several_parameters_and_languages() -> None:
    py = view("def f():\n    return 0.5\n", pid="m.py::f")
    yml = view("rate: 0.1\nsteps: 40\n", language="yaml", pid="conf.yaml::block")
    empty = view("def g():\n    return 'x'\n", pid="m.py::g")
    touched = set()
    for seed in range(30):
        response = answer(SearchBackend(seed=seed), make_request(py, empty, yml))
        edits = response["edits"]
        assert isinstance(edits, list)
        ids = [e["parameter"] for e in edits]
        assert "m.py::g" not in ids
        assert ids == sorted(ids, key=["m.py::f", "conf.yaml::block"].index)
        touched.update(ids)
        if len(ids) == 2:
            assert "; conf.yaml::block: " in str(response["rationale"])
    assert touched == {"m.py::f", "conf.yaml::block"}


def test_no_literals_is_an_invalid_proposal() -> None:
    backend = SearchBackend(seed=0)
    text = "def f(x):\n    return x  # 3 only in a comment\n"
    proposal = backend.propose(make_request(view(text), view("hello", "text", "notes.txt")))
    assert proposal.response is None
    assert proposal.invalid_reason == NO_LITERALS
    assert NO_LITERALS == "search: no numeric literals in the editable parameters"


def test_literals_per_edit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="literals_per_edit"):
        SearchBackend(literals_per_edit=0)


# --------------------------------------------------------------------------- seeding


def test_same_request_sequence_and_seed_reproduce_the_answers() -> None:
    requests = [make_request(iteration=i) for i in (1, 1, 1, 2, 2)]

    def run(seed: int) -> list[dict[str, object]]:
        backend = SearchBackend(seed=seed)
        return [answer(backend, r) for r in requests]

    first = run(5)
    assert run(5) == first
    # the run id is not part of it: the same seed in another run answers the same
    other_run = [answer(SearchBackend(seed=5), make_request(iteration=1, run="other"))]
    assert other_run == first[:1]
    # candidates of one iteration differ from each other
    texts = [a["edits"][0]["text"] for a in first[:3]]  # type: ignore[index]
    assert len(set(texts)) == 3
    # a different seed answers differently
    assert run(6) != first


def test_a_fresh_backend_answers_a_request_as_the_first_one_did() -> None:
    """What replay and resume rely on: no hidden state beyond repeated requests."""
    history = (entry("rejected", 1), entry("accepted", 2))
    request = make_request(iteration=3, history=history)
    used = SearchBackend(seed=2)
    answer(used, make_request(iteration=1))
    answer(used, make_request(iteration=2, history=history[:1]))
    assert answer(used, request) == answer(SearchBackend(seed=2), request)
    # a different history (same iteration) is a different draw
    other = make_request(iteration=3, history=(entry("accepted", 1), entry("accepted", 2)))
    assert answer(SearchBackend(seed=2), other) != answer(SearchBackend(seed=2), request)


# --------------------------------------------------------------------------- adaptation


def test_step_scale_rule() -> None:
    assert step_scale(()) == 0.5
    assert step_scale((entry("accepted"),)) == pytest.approx(0.75)
    assert step_scale((entry("rejected"), entry("invalid"))) == pytest.approx(0.5 * 0.85**2)
    assert step_scale((entry("error"),)) == 0.5
    assert step_scale((entry("accepted"),) * 10) == 4.0
    assert step_scale((entry("rejected"),) * 4) == pytest.approx(0.5 * 0.85**4)
    # only the last 10 entries count, and a success after failures is not stuck
    assert step_scale((entry("rejected"),) * 10 + (entry("accepted"),)) == pytest.approx(
        0.5 * 0.85**9 * 1.5
    )


def test_a_tie_is_neutral_and_being_stuck_restarts_with_a_larger_step() -> None:
    tie = entry("rejected", moved=(TIED,))  # no test's value went down
    assert step_scale((tie,)) == 0.5
    assert step_scale((entry("rejected", moved=(TIED, LOWERED)),)) == pytest.approx(0.5 * 0.85)
    assert step_scale((entry("accepted"), tie, tie)) == pytest.approx(0.75)
    # a moved entry that cannot be read counts against the attempt
    assert step_scale((entry("rejected", moved=("?",)),)) == pytest.approx(0.5 * 0.85)
    # five attempts in a row without an acceptance: the step grows from at least 0.5
    assert step_scale((entry("rejected"),) * 5) == pytest.approx(1.0)
    assert step_scale((tie,) * 5) == pytest.approx(1.0)
    assert step_scale((entry("rejected"),) * 10) == pytest.approx(2.0)
    assert step_scale((entry("rejected"),) * 40) == 4.0
    # errors neither count as attempts nor break the run of them
    assert step_scale((tie, tie, entry("error"), tie, tie)) == 0.5
    assert step_scale((tie, tie, entry("error"), tie, tie, tie)) == pytest.approx(1.0)


def _mean_relative_change(history: tuple[HistoryEntry, ...]) -> float:
    text = "def f():\n    return 2.0\n"
    changes = []
    for seed in range(300):
        response = answer(SearchBackend(seed=seed), make_request(view(text), history=history))
        edits = response["edits"]
        assert isinstance(edits, list)
        (lit,) = find_literals(edits[0]["text"], "python")
        changes.append(abs(lit.value - 2.0) / 2.0)
    return statistics.mean(changes)


def test_acceptances_widen_rejections_narrow_and_being_stuck_widens_the_steps() -> None:
    accepted = _mean_relative_change(tuple(entry("accepted", i) for i in range(4)))
    neutral = _mean_relative_change(())
    rejected = _mean_relative_change(tuple(entry("rejected", i) for i in range(4)))
    stuck = _mean_relative_change(tuple(entry("rejected", i) for i in range(10)))
    assert accepted > 1.5 * neutral
    assert neutral > 1.5 * rejected
    assert stuck > 2 * neutral


# --------------------------------------------------------------------------- a real run


def test_the_registry_builds_it_with_the_run_seed(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfigure("--genopt-backend=search", "--genopt-seed=3")
    backend = make_backend(config, config.stash[settings_key])
    assert isinstance(backend, SearchBackend)
    assert backend.name == "search"
    assert backend.seed == 3
    assert backend.literals_per_edit == 2


TUNING = """\
from pytest_genopt import trainable


@trainable
def threshold():
    return 0.2  # deliberately mistuned; the best is near 0.7
"""

TUNING_TESTS = """\
import pytest

from tuning import threshold


@pytest.mark.parametrize("target", [0.6, 0.7, 0.8])
def test_near_target(genopt, target):
    distance = abs(threshold() - target)
    genopt.score(1 - distance)
    assert distance < 0.25
"""


@pytest.fixture
def tuning_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    project = pytester.path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    return init_repo(
        project,
        {
            "tuning.py": TUNING,
            "tests/test_tuning.py": TUNING_TESTS,
            "pytest.ini": "[pytest]\npythonpath = .\n",
        },
    )


def test_search_improves_a_mistuned_constant(
    pytester: pytest.Pytester, tuning_project: Path
) -> None:
    before = tree_state(tuning_project)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--genopt-iterations=3",
        "--genopt-backend=search",
        "--genopt-seed=0",
        "--genopt-batch-size=3",
        timeout=300,
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the checkout itself is unchanged
    run = (tuning_project / ".genopt" / "runs" / "last").read_text().strip()
    report = read_json(tuning_project / ".genopt" / "runs" / run / "report.json")
    assert report["backend"] == "search"
    assert report["baseline"]["objective"] == pytest.approx(0.5)
    assert report["best"]["objective"] > report["baseline"]["objective"] + 0.1
    decisions = [i["decision"] for i in report["iterations"]]
    assert "accepted" in decisions
    assert "error" not in decisions
    assert report["usage"]["cost_usd"] == 0
    tuned = git(tuning_project, "show", f"{report['branch']}:tuning.py")
    (literal,) = find_literals(tuned, "python")
    assert literal.value != 0.2
    assert abs(literal.value - 0.7) < 0.5
    assert "# deliberately mistuned; the best is near 0.7" in tuned  # comments untouched
    assert tree_state(tuning_project) == before
