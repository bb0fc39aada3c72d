"""The inlined recorder: one frame a call where the source is what runs, the template
recorder everywhere else, and the same records either way."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import linecache
import re
import subprocess
import sys
import textwrap
import traceback
import warnings
from typing import TYPE_CHECKING, Any

import pytest

from pytest_genopt import instrument, tracing, values

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path
    from types import ModuleType

    #: imports a module's text as the module of that name (the ``load`` fixture)
    Load = Callable[[str, str], Any]

MODULE = '''\
from __future__ import annotations

from pytest_genopt import trainable

_genopt_record = "a global named like the recorder's own"


@trainable
def add(a: int, b: int) -> int:
    """Sum."""
    if a < 0:
        raise ValueError("negative")
    return a + b


@trainable
def shadow(x):
    return f"{_genopt_record}:{x}"


@trainable
def overridden(x):
    try:
        return x
    finally:
        if x == 2:
            return -2


@trainable
def outer(x):
    def inner():
        return x * 10  # not the outer function's return
    inner()
    if x > 0:
        return [x]


def closure(step):
    @trainable
    def counter(n, *more, scale=1, **extra):
        return (n + step + sum(more)) * scale

    return counter


class Base:
    def hello(self):
        return "base"


class Child(Base):
    @trainable
    def hello(self):
        return "child+" + super().hello()

    @trainable
    def private(self):
        self.__secret = 3
        return self.__secret

    @trainable
    def method(self, x):
        if x:
            return self.hello()
        raise KeyError(x)


@trainable
def numbers(n):
    yield from range(n)


count = 0


@trainable
def bump():
    global count  # declared again in a second copy of the body: no longer a declaration
    count += 1
    return count
'''


@pytest.fixture
def module(load: Load) -> Iterator[ModuleType]:
    loaded = load("inlined_sample", MODULE)
    with active():
        yield loaded


@pytest.fixture
def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Load]:
    """Import ``text`` as the module ``name`` from a file of its own (forgotten after)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    names: list[str] = []

    def imported(name: str, text: str) -> Any:
        (tmp_path / f"{name}.py").write_text(text)
        sys.modules.pop(name, None)
        names.append(name)
        return importlib.import_module(name)

    yield imported
    for name in names:
        sys.modules.pop(name, None)


@contextlib.contextmanager
def active() -> Iterator[None]:
    """A run active in this process (ended even when activating failed part-way)."""
    try:
        tracing.activate()
        yield
    finally:
        tracing.deactivate()


def inlined(function: Any) -> bool:
    """Whether ``function`` records through code compiled from its own source."""
    code = function.__code__
    return code is not function.__genopt__.code and not code.co_filename.startswith("<genopt")


def recorded(calls: Any) -> list[Any]:
    """What a test's record holds of each call: name, arguments, value, error."""
    record = tracing.begin_test(None)
    try:
        calls()
    finally:
        tracing.end_test()
    return [
        (c[1].qualname, c[2], c[3], repr(c[4]), c[5:])
        for c in record.buffer  # the calls in the order they began
    ]


def every_call(m: ModuleType) -> None:
    m.add(1, 2)
    m.shadow(1)
    m.overridden(1)
    m.overridden(2)
    m.outer(1)
    m.outer(0)
    m.closure(5)(1, 2, 3, scale=2, note="x")
    child = m.Child()
    child.hello()
    child.private()
    child.method(1)
    with pytest.raises(KeyError):
        child.method(0)
    with pytest.raises(ValueError, match="negative"):
        m.add(-1, 2)
    list(m.numbers(2))


def test_functions_whose_source_is_what_runs_are_inlined(module: ModuleType) -> None:
    m = module
    inline = (m.add, m.shadow, m.overridden, m.outer, m.closure(1), m.Child.method, m.Child.hello)
    for function in inline:  # zero-argument super() included: its cell is the function's
        assert inlined(function), function
    # what the inlined recorder cannot compile as it was (a class-private name is
    # mangled only in its class; a global statement twice in one function), or does
    # not handle (a generator): the template records them
    for function in (m.Child.private, m.numbers, m.bump):
        assert not inlined(function), function
    assert m.Child().hello() == "child+base"
    assert m.Child().private() == 3
    calls = recorded(lambda: (m.bump(), m.bump()))  # the template records it
    assert (m.count, [c[2] for c in calls]) == (2, [1, 2])


def test_the_records_are_the_templates(module: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    inline = recorded(lambda: every_call(module))
    tracing.deactivate()
    for info in [f.__genopt__ for f in vars(module).values() if hasattr(f, "__genopt__")]:
        info.recorder = None
    monkeypatch.setattr(instrument, "_inlined", lambda function, info: None)
    tracing.activate()
    assert not inlined(module.add)
    assert recorded(lambda: every_call(module)) == inline
    assert [c[2] for c in inline[:4]] == [3, "a global named like the recorder's own:1", 1, -2]


def test_a_traceback_shows_the_functions_own_lines(module: ModuleType) -> None:
    record = tracing.begin_test(None)
    try:
        with pytest.raises(KeyError) as raised:
            module.Child().method(0)
    finally:
        tracing.end_test()
    shown = "".join(traceback.format_exception(raised.value))
    assert "genopt recorder" not in shown
    assert not re.search(r"^\s+_genopt_", shown, re.MULTILINE)  # no line of recording code
    assert shown.count('inlined_sample.py"') == 1  # one frame: the method's own
    line = MODULE.splitlines().index("        raise KeyError(x)") + 1
    assert f'inlined_sample.py", line {line}, in method\n    raise KeyError(x)\n' in shown
    assert len(record.buffer) == 1


def test_a_source_changed_since_import_is_not_compiled(tmp_path: Path, load: Load) -> None:
    """The file on disk says one thing, the function does another: the function is what
    runs, so the template records it (a copy of its own code), never the file's text."""
    edited = load(
        "edited_sample",
        "from pytest_genopt import trainable\n\n\n@trainable\ndef f(x):\n    return x\n",
    )
    path = tmp_path / "edited_sample.py"
    source = path.read_text().replace("return x", "return x + 1000")
    path.write_text(source)
    linecache.checkcache(str(path))
    with active():
        assert not inlined(edited.f)
        calls = recorded(lambda: edited.f(1))
        assert edited.f(1) == 1
        assert calls[0][2] == 1


def test_a_traced_process_keeps_the_functions_own_code(tmp_path: Path) -> None:
    """Under a tracer (coverage, a debugger) the template records: the tracer sees the
    function's lines as the file has them."""
    (tmp_path / "traced_sample.py").write_text(MODULE)
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "sys.settrace(lambda frame, event, arg: None)\n"
        "import traced_sample\n"
        "from pytest_genopt import tracing\n"
        "tracing.activate()\n"
        "print(traced_sample.add.__code__.co_filename.startswith('<genopt recorder'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "True\n"


def test_a_trainable_made_from_text_has_no_source_and_is_recorded_all_the_same() -> None:
    made: dict[str, Any] = {}
    exec(textwrap.dedent("""\
        from pytest_genopt import trainable

        @trainable
        def made(x):
            return x * 2
    """), made)  # fmt: skip
    tracing.activate()
    try:
        assert not inlined(made["made"])
        assert recorded(lambda: made["made"](4))[0][2] == 8
    finally:
        tracing.deactivate()


NESTED_NAMES = """\
from pytest_genopt import trainable

_genopt_record = "global record"
_genopt_value = "global value"


@trainable
def lambda_reads_global(x):
    return (lambda: _genopt_record)()


@trainable
def def_reads_global(x):
    def inner():
        return _genopt_value

    return inner()
"""


def test_a_nested_function_reading_a_global_named_like_the_recorders_own(
    load: Load,
) -> None:
    """A nested function's global that the outer function's code never names must not
    become a cell of the recorder's local of the same name (it returned the test's
    record, or raised NameError for an unbound free variable)."""
    m = load("nested_names", NESTED_NAMES)
    with active():
        assert inlined(m.lambda_reads_global)
        assert inlined(m.def_reads_global)
        assert (m.lambda_reads_global(1), m.def_reads_global(1)) == (
            "global record",
            "global value",
        )  # no test running: the plain branch
        calls = recorded(lambda: (m.lambda_reads_global(1), m.def_reads_global(1)))
        assert [c[2] for c in calls] == ["global record", "global value"]


def test_a_deeply_nested_source_is_recorded_by_the_template(
    load: Load,
) -> None:
    """A long elif chain or sum nests its AST deeper than ast's recursive helpers
    (fix_missing_locations, deepcopy, NodeTransformer) can go: the source compiles, but
    inlining it raised RecursionError out of tracing.activate(), failing the whole run."""
    chain = "".join(f"    elif x == {i}:\n        return {i}\n" for i in range(1, 400))
    terms = " + ".join(["x"] * 400)
    m = load(
        "deep_sample",
        "from pytest_genopt import trainable\n\n\n"
        f"@trainable\ndef chain(x):\n    if x == 0:\n        return 0\n{chain}    return -1\n\n\n"
        f"@trainable\ndef total(x):\n    return {terms}\n",
    )
    with active():
        calls = recorded(lambda: (m.chain(7), m.total(1)))
        assert [c[2] for c in calls] == [7, 400]


AFTER_RETURN = """\
from pytest_genopt import trainable


class Closing:
    def __init__(self, box):
        self.box = box

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.box.append("exit")


@trainable
def finally_appends(x):
    out = [x]
    try:
        return out
    finally:
        out.append("finally")


@trainable
def exit_appends(x):
    out = [x]
    with Closing(out):
        return out


@trainable
def finally_raises(x):
    try:
        return x
    finally:
        raise KeyError(x)
"""


def test_what_runs_after_a_return_is_recorded_as_the_template_records_it(
    monkeypatch: pytest.MonkeyPatch, load: Load
) -> None:
    m = load("after_return", AFTER_RETURN)

    def calls() -> None:
        m.finally_appends(1)
        m.exit_appends(1)
        with pytest.raises(KeyError):
            m.finally_raises(1)

    with active():
        assert inlined(m.finally_appends)
        assert inlined(m.exit_appends)
        inline = recorded(calls)
        tracing.deactivate()
        for function in (m.finally_appends, m.exit_appends, m.finally_raises):
            function.__genopt__.recorder = None
        monkeypatch.setattr(instrument, "_inlined", lambda function, info: None)
        tracing.activate()
        template = recorded(calls)
        # the caller got [1, 'finally'] and [1, 'exit']; the template records what the
        # caller got, and for a call that raised, no value
        assert [c[2][3] for c in template[:2]] == [[1, "finally"], [1, "exit"]]
        assert template[2][2] is tracing.RUNNING
        assert inline == template


LAMBDAS = """\
from pytest_genopt import trainable


def tagged(tag):
    return lambda function: function


@tagged(trainable(lambda s: s.strip()))
def handler(x, parse=trainable(lambda s: int(s))):
    return parse(x)
"""


def test_a_lambda_on_a_defs_first_line_is_recorded(load: Load) -> None:
    """A trainable lambda in a def's decorators or defaults starts on that def's line:
    its source read from there is the def's, whose recompiled maker holds the lambda
    unchanged, which was taken as the lambda's recorder: its calls went unrecorded."""
    m = load("lambdas", LAMBDAS)
    parse = m.handler.__defaults__[0]
    strip = next(
        f
        for f in every_trainable()
        if f.__code__.co_filename.endswith("lambdas.py")
        and f is not parse
        and f.__code__.co_name == "<lambda>"
    )
    with active():
        assert not inlined(parse)
        assert not inlined(strip)
        calls = recorded(lambda: (parse("7"), strip(" a ")))
        assert [(c[2], c[4]) for c in calls] == [(7, ["7"]), ("a", [" a "])]


def every_trainable() -> list[Any]:
    return [function for function, _ in tracing._trainables()]


@pytest.mark.parametrize("cut", ["    return (x\n", '    """\n'])
def test_a_source_cut_off_since_import_is_not_compiled(
    tmp_path: Path, cut: str, load: Load
) -> None:
    """A file edited since import (being written, say) that now ends in an open bracket
    or string: inspect raised tokenize.TokenError out of tracing.activate()."""
    head = "from pytest_genopt import trainable\n\n\n@trainable\ndef f(x):\n"
    cut_sample = load("cut_sample", head + "    return x\n")
    path = tmp_path / "cut_sample.py"
    path.write_text(head + cut)
    linecache.checkcache(str(path))
    with active():
        assert not inlined(cut_sample.f)
        assert recorded(lambda: cut_sample.f(1))[0][2] == 1


def test_a_fault_of_the_inlining_falls_back_to_the_template(
    load: Load, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_genopt import inline

    def broken(*args: Any) -> Any:
        raise ValueError("a fault of the inlining")

    monkeypatch.setattr(inline, "inline_recorder", broken)
    m = load("fallback_sample", "from pytest_genopt import trainable\n\n\n" + _ADD_ONE)
    with active():
        assert not inlined(m.add_one)
        assert m.add_one.__code__ is not m.add_one.__genopt__.code  # the template's
        assert [c[2] for c in recorded(lambda: m.add_one(1))] == [2]


def test_an_activation_that_fails_part_way_changes_nothing(
    load: Load, monkeypatch: pytest.MonkeyPatch
) -> None:
    """activate() is all or nothing: the trainables made to record before the one that
    could not be get their code back, and no run is left active."""
    source = "from pytest_genopt import trainable\n\n\n" + _ADD_ONE
    first, second = load("first_sample", source), load("second_sample", source)
    real = instrument.record_calls

    def failing(function: Any, info: Any) -> None:
        if function is second.add_one:
            raise MemoryError("no recorder")
        real(function, info)

    monkeypatch.setattr(instrument, "record_calls", failing)
    with pytest.raises(MemoryError, match="no recorder"):
        tracing.activate()
    assert not tracing.run_active()
    for m in (first, second):
        assert m.add_one.__code__ is m.add_one.__genopt__.code
        assert recorded(lambda m=m: m.add_one(1)) == []


_ADD_ONE = "@trainable\ndef add_one(a):\n    return a + 1\n"


def test_activation_gives_no_warning_the_source_gave_at_import(
    load: Load,
) -> None:
    """Reading the source again warned again, from "<unknown>" at a line of the snippet
    ("invalid escape sequence": a DeprecationWarning on 3.11, SyntaxWarning on 3.12+);
    under -W error the function silently lost its inlining instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        escapes = load(
            "escapes",
            "from pytest_genopt import trainable\n\n\n@trainable\n"
            'def rx(x):\n    return "\\d+" + x\n',
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # activating gives no warning
        with active():
            assert inlined(escapes.rx)
            assert recorded(lambda: escapes.rx("a"))[0][2] == "\\d+a"


def test_a_trainable_calling_a_function_of_an_imported_module_is_inlined(
    load: Load,
) -> None:
    # 3.11+ compiles module.attr(...) otherwise when the name is bound by a
    # module-level import (compile.c: is_import_originated)
    m = load(
        "imports_sample",
        "import math\nfrom os import path as p\n\nfrom pytest_genopt import trainable\n\n\n"
        "@trainable\ndef root(x):\n    return p.basename(str(math.sqrt(x)))\n",
    )
    with active():
        assert recorded(lambda: m.root(4.0))[0][2] == "2.0"
        assert inlined(m.root)


DOCSTRINGS = (
    "from pytest_genopt import trainable\n\n\n"
    "@trainable\ndef blank_line(x):\n"
    '    """Summary.\n    \n    More: the line above holds only spaces.\n    """\n'
    "    return x\n\n\n"
    "class Holder:\n"
    "    @trainable\n    def flush_left(self, x):\n"
    '        """Summary.\nA line at column 0.\n        """\n'
    "        return 1 // x\n"
)


def test_docstrings_that_dedenting_would_change_are_inlined(
    load: Load,
) -> None:
    """The source was dedented before parsing: a docstring's whitespace-only line became
    empty and a method's docstring line at column 0 stopped the dedent, so such functions
    (common: editors keep the indent on blank docstring lines) lost their inlining."""
    m = load("docstrings", DOCSTRINGS)
    with active():
        assert inlined(m.blank_line)
        assert inlined(m.Holder.flush_left)
        with pytest.raises(ZeroDivisionError) as raised:
            recorded(lambda: m.Holder().flush_left(0))
        assert recorded(lambda: m.blank_line(3))[0][2] == 3
    line = DOCSTRINGS.splitlines().index("        return 1 // x") + 1
    shown = "".join(traceback.format_exception(raised.value))
    assert f'docstrings.py", line {line}, in flush_left\n    return 1 // x\n' in shown


def test_a_factorys_closures_are_inlined_once_for_their_shared_code(
    module: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trainable made by a factory during a run is instrumented at each call of the
    factory; reading, parsing and compiling its source each time made a factory call cost
    ~5 ms instead of ~0.05 ms. Its closures share one code object: inlined once."""
    from pytest_genopt import inline

    calls: list[Any] = []
    real = inline.inline_recorder

    def counted(code: Any, shape: str, returned: str, function: Any = None) -> Any:
        calls.append(code)
        return real(code, shape, returned, function)

    monkeypatch.setattr(inline, "inline_recorder", counted)
    made = [module.closure(step) for step in (1, 2, 3)]
    assert all(inlined(f) for f in made)
    assert len(calls) <= 1  # none if the module fixture's own closure got there first
    assert [c[2] for c in recorded(lambda: [f(1) for f in made])] == [2, 3, 4]


def test_a_trainable_naming_another_function_as_wrapped_is_inlined_from_its_own_source(
    load: Load,
) -> None:
    """The source is looked up from the function (its module by name: quick), not
    unwrapped to the function ``__wrapped__`` names, whose source is not what runs."""
    m = load(
        "wrapped_sample",
        "import functools\n\nfrom pytest_genopt import trainable\n\n\n"
        "def other(a):\n    return a * 100\n\n\n"
        "@trainable\n@functools.wraps(other)\ndef add_one(a):\n    return a + 1\n",
    )
    assert m.add_one.__wrapped__ is m.other
    with active():
        assert inlined(m.add_one)
        assert [c[2] for c in recorded(lambda: m.add_one(1))] == [2]


def test_a_very_long_function_keeps_the_template(load: Load) -> None:
    """Inlining costs time for each line, saved on every call by a frame: a function
    of hundreds of lines keeps the template recorder."""
    body = "".join(f"    x = x + {n}\n" for n in range(500))
    m = load(
        "long_sample",
        f"from pytest_genopt import trainable\n\n\n@trainable\ndef long(x):\n{body}    return x\n",
    )
    with active():
        assert not inlined(m.long)
        assert recorded(lambda: m.long(0))[0][2] == sum(range(500))


GENERATORS = """\
import types

from pytest_genopt import trainable


@trainable
def countdown(n, step=1):
    while n > 0:
        got = yield n
        n -= step if got is None else got
    return "liftoff"


@trainable
async def ticks(n):
    for i in range(n):
        yield i


@trainable
@types.coroutine
def pause(x):
    yield
    return x
"""


def test_generator_trainables_record_under_warnings_as_errors(load: Load) -> None:
    """3.13 deprecates giving a function code of another kind ("Assigning a code object
    of non-matching type"): a generator function given the plain template recorder
    warned, an error under -W error.  Its recorder is now of its own kind, and records
    what the plain one did: the arguments, and the generator the call returned."""
    m = load("generators_sample", GENERATORS)

    async def consume() -> tuple[list[int], int]:
        return [i async for i in m.ticks(2)], await m.pause(7)

    def calls() -> None:
        countdown = m.countdown(5)
        assert (next(countdown), countdown.send(3), list(countdown)) == (5, 2, [1])
        with pytest.raises(StopIteration, match="liftoff"):
            next(m.countdown(0, step=2))
        assert asyncio.run(consume()) == ([0, 1], 7)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # activating and deactivating give no warning
        with active():
            assert inspect.isgeneratorfunction(m.countdown)
            assert inspect.isasyncgenfunction(m.ticks)
            made = recorded(calls)
    assert [(c[0], c[1], values.render(c[2]), c[3], c[4]) for c in made] == [
        ("countdown", {}, "<generator countdown>", "None", [5, 1]),
        ("countdown", {}, "<generator countdown>", "None", [0, 2]),
        ("ticks", {}, "<async_generator ticks>", "None", [2]),
        ("pause", {}, "<generator pause>", "None", [7]),
    ]
