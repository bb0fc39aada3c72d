from __future__ import annotations

import dataclasses
import difflib
import inspect
import re
import textwrap
import warnings

import pytest

from pytest_genopt import context
from pytest_genopt.context import LINE_LIMIT, parameter_context

# A small module the way real ones look: imports (one spread over lines), constants,
# helpers, a class with class attributes, set-up attributes, a property and methods.
BANK = '''\
"""Accounts and transfers."""
from __future__ import annotations

import dataclasses
from decimal import Decimal as D
from typing import (
    Any,
    Optional,
    Sequence,
)

from .i18n import _pgettext as P_

MAX_BALANCE = D("1000000")
FEES = {
    "wire": D("25"),
    "ach": D("0"),
}
UNUSED_LIMIT = 7


def _round(amount: D) -> D:
    """Round to cents.

    Banker's rounding is not used.
    """
    return amount.quantize(D("0.01"))


def _unrelated() -> None:
    """Nobody calls this."""


class Ledger:
    """Where entries go."""

    def __init__(self, name: str, *, strict: bool = False) -> None:
        self.name = name


class Account(Base):
    """A bank account.

    More text that is not shown.
    """

    KIND = "checking"
    overdraft: D = D(0)

    def __init__(self, owner: str, ledger: Ledger) -> None:
        super().__init__()
        self.owner = owner
        self.ledger = ledger
        self.balance = D(0)
        if ledger is None:
            self.history: list[D] = []

    @property
    def closed(self) -> bool:
        """Whether the account is closed."""
        return self._closed

    def close(self) -> None:
        self._closed = True
        self.reason = "closed by owner"

    def withdraw(self, amount: D) -> None:
        """Take money out."""
        self.balance -= amount

    def send(
        self, other: Account, amount: D  # to another bank too
    ) -> None:
        # a comment between the signature and the body
        other.deposit(amount)

    @trainable
    def deposit(self, amount: D) -> None:
        if self.closed:
            raise ValueError(P_("bank", "closed"))
        fee = FEES["wire"]
        self.balance = _round(self.balance + amount - fee)
        if self.balance > MAX_BALANCE:
            self.withdraw(amount)
        self.history.append(amount)

    def statement(self) -> str:
        return "\\n".join(map(str, self.history))


@trainable
def transfer(a: Account, b: Account, amount: D, kind: str = "wire") -> Optional[D]:
    """Move money."""
    fee = FEES[kind]
    a.withdraw(amount + fee)
    b.deposit(amount)
    return _round(fee)
'''

NUMBERED = re.compile(r"^ *(\d+)\| ?(.*)$")


def shown(context: str) -> dict[int, str]:
    """The numbered lines of a rendered context: {line number: text}."""
    return {int(m[1]): m[2] for m in map(NUMBERED.match, context.splitlines()) if m}


def assert_lines_match(context: str, source: str) -> None:
    """Every numbered line is that line of ``source``, whole or clipped with a mark."""
    lines = source.splitlines()
    assert shown(context), context
    for number, text in shown(context).items():
        original = lines[number - 1].rstrip()
        if text != original:
            head, _, rest = text.partition(" … [")
            assert head == original[:LINE_LIMIT], (number, text)
            assert rest == f"{len(original) - LINE_LIMIT} more characters]"


def line_of(source: str, text: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if text in line)


def test_a_method_sees_its_class_header_attributes_and_other_methods() -> None:
    context = parameter_context(BANK, "Account.deposit")
    assert_lines_match(context, BANK)
    lines = shown(context)
    texts = "\n".join(lines.values())
    # the class header and the first line of its docstring, not the rest of it
    assert lines[line_of(BANK, "class Account(Base):")] == "class Account(Base):"
    assert '"""A bank account.' in texts
    assert "More text" not in texts
    # class attributes, and the attributes __init__ gives (also under an `if`)
    for text in ("KIND =", "overdraft: D", "self.owner = owner", "self.ledger = ledger"):
        assert text in texts, text
    assert "self.history: list[D] = []" in texts
    assert "if ledger is None:" in texts
    assert "super().__init__()" in texts
    # the other methods' signatures, first docstring line, decorators; not their bodies
    for text in ("def close(self)", "def withdraw(self, amount: D)", '"""Take money out."""'):
        assert text in texts, text
    assert "@property" in texts
    # a signature over several lines is shown whole, without the comment after it
    assert (
        "    def send(\n        self, other: Account, amount: D  # to another bank too\n" in texts
    )
    assert "    ) -> None:\n" in texts
    assert "between the signature" not in texts
    assert "def statement(self) -> str:" in texts
    assert "self.balance -= amount" not in texts
    # an attribute the parameter reads that only another method sets
    assert "self._closed = True" not in texts  # it reads the property `closed`, not `_closed`
    # the module-level names it uses: constants with values, helpers, imports
    assert 'MAX_BALANCE = D("1000000")' in texts
    assert '"wire": D("25"),' in texts
    assert "def _round(amount: D) -> D:" in texts
    assert "from .i18n import _pgettext as P_" in texts
    assert "UNUSED_LIMIT" not in texts
    assert "_unrelated" not in texts
    # its own decorator is context; its own text is not repeated, only marked
    assert lines[line_of(BANK, "def deposit") - 1] == "    @trainable"
    assert "def deposit" not in texts
    assert "fee = FEES" not in texts
    start, end = line_of(BANK, "def deposit"), line_of(BANK, "self.history.append")
    assert f"    # lines {start}-{end}: Account.deposit (the parameter)" in context
    # lines left out between two shown ones are marked
    assert "   …|" in context


def test_an_attribute_set_outside_set_up_is_shown_where_it_gets_its_value() -> None:
    source = BANK.replace("if self.closed:", "if self.reason:")
    texts = "\n".join(shown(parameter_context(source, "Account.deposit")).values())
    assert 'self.reason = "closed by owner"' in texts
    assert "def close(self) -> None:" in texts


DATACLASS = '''\
import dataclasses
from dataclasses import field


@dataclasses.dataclass(frozen=True)
class Point:
    """A point on the plane."""

    x: float
    y: float = 0.0
    tags: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        object.__setattr__(self, "norm", (self.x**2 + self.y**2) ** 0.5)
        self._cache = {}

    async def distance(self, other: Point) -> float:
        return ((self.x - other.x) ** 2 + (self.y - other.y) ** 2) ** 0.5

    def scaled(self, k: float) -> Point:
        """A copy k times as far from the origin."""
        return Point(self.x * k, self.y * k)
'''


def test_a_dataclass_method_sees_the_fields_and_async_methods_count() -> None:
    context = parameter_context(DATACLASS, "Point.distance")
    assert_lines_match(context, DATACLASS)
    texts = "\n".join(shown(context).values())
    assert "@dataclasses.dataclass(frozen=True)" in texts
    for text in ("x: float", "y: float = 0.0", "tags: list[str] = field(default_factory=list)"):
        assert text in texts
    assert "self._cache = {}" in texts  # __post_init__ sets attributes too
    assert "def scaled(self, k: float) -> Point:" in texts
    assert "# line" in context
    assert "Point.distance (the parameter)" in context
    assert "return ((self.x" not in texts
    # an async method as the parameter, and one as a member
    assert "async def distance" in "\n".join(
        shown(parameter_context(DATACLASS, "Point.scaled")).values()
    )


def test_a_function_sees_the_module_names_it_uses() -> None:
    context = parameter_context(BANK, "transfer")
    assert_lines_match(context, BANK)
    lines = shown(context)
    texts = "\n".join(lines.values())
    # a constant with its value (all its lines here), a helper's signature with the
    # first docstring line, the imports binding names it uses (annotations count)
    assert "FEES = {" in texts
    assert '"ach": D("0"),' in texts
    assert "def _round(amount: D) -> D:" in texts
    assert lines[line_of(BANK, '"""Round to cents.')] == '    """Round to cents.'
    assert "Banker's" not in texts
    assert "return amount.quantize" not in texts
    assert "from decimal import Decimal as D" in texts
    # a long `from x import (...)` shows the line naming the name it uses
    assert "    Optional," in texts
    assert "    Sequence," not in texts
    # a class it uses: its header and how it is built
    assert "class Account(Base):" in texts
    assert "def __init__(self, owner: str, ledger: Ledger) -> None:" in texts
    assert "self.owner = owner" not in texts
    # and nothing it does not use
    for text in ("MAX_BALANCE", "UNUSED_LIMIT", "_unrelated", "Ledger:", "P_", "Sequence,"):
        assert text not in texts, text
    start, end = line_of(BANK, "def transfer"), len(BANK.splitlines())
    assert context.endswith(f"\n    | # lines {start}-{end}: transfer (the parameter)")


def test_the_limit_drops_the_least_relevant_parts_and_says_what() -> None:
    full = parameter_context(BANK, "Account.deposit")
    context = parameter_context(BANK, "Account.deposit", limit=700)
    assert len(full) > 700 >= len(context)
    assert_lines_match(context, BANK)
    texts = "\n".join(shown(context).values())
    # the class header and what the parameter uses are kept ...
    assert "class Account(Base):" in texts
    assert "def withdraw(self, amount: D) -> None:" in texts
    assert "self.balance = D(0)" in texts
    # ... the members it does not use go first, and the last line counts them
    assert "def statement(self)" not in texts
    note = context.splitlines()[-1]
    assert re.fullmatch(r"… (\d+ more \w+, )*\d+ more \w+ not shown \(context limit\)", note)
    assert "more methods" in note
    assert "Account.deposit (the parameter)" in context


@pytest.mark.parametrize("qualname", ["Account.deposit", "transfer", "Point.distance"])
def test_every_limit_is_kept_and_no_line_is_cut_unmarked(qualname: str) -> None:
    source = BANK if "Point" not in qualname else DATACLASS
    full = parameter_context(source, qualname)
    for limit in (0, 10, 60, 120, 200, 300, 450, 800, len(full) - 1, len(full)):
        context = parameter_context(source, qualname, limit=limit)
        assert len(context) <= limit
        if context:
            assert_lines_match(context, source)
            assert "(the parameter)" in context
    assert parameter_context(source, qualname, limit=len(full)) == full


def test_a_long_line_is_clipped_with_a_mark() -> None:
    source = BANK.replace("UNUSED_LIMIT = 7", "PATTERN = " + repr("x" * 300)).replace(
        'fee = FEES["wire"]', 'fee = FEES["wire"] if PATTERN else 0'
    )
    context = parameter_context(source, "Account.deposit")
    assert_lines_match(context, source)
    assert f"… [{len(repr('x' * 300)) + 10 - LINE_LIMIT} more characters]" in context


def test_a_nested_function_sees_what_it_closes_over() -> None:
    source = textwrap.dedent(
        '''\
        import re

        SEPARATOR = re.compile(r"\\s+")


        def tokenizer(lower: bool):
            """Make a tokenizer."""
            stop = {"a", "the"}
            unused = 1

            def tokens(text: str) -> list[str]:
                words = SEPARATOR.split(text.lower() if lower else text)
                return [w for w in words if w not in stop]

            return tokens
        '''
    )
    for qualname in ("tokenizer.<locals>.tokens", "tokenizer.tokens"):
        context = parameter_context(source, qualname)
        assert_lines_match(context, source)
        texts = "\n".join(shown(context).values())
        assert "def tokenizer(lower: bool):" in texts
        assert '    stop = {"a", "the"}' in texts
        assert 'SEPARATOR = re.compile(r"\\s+")' in texts
        assert "import re" not in texts  # the function uses SEPARATOR, not re
        assert "unused" not in texts
        assert "return tokens" not in texts
        assert "tokenizer.tokens (the parameter)" in context


OVERLOADS = '''\
from typing import overload


class Temperature:
    def __init__(self, kelvin: float) -> None:
        self._kelvin = kelvin

    @property
    def celsius(self) -> float:
        """Degrees Celsius."""
        return self._kelvin - 273.15

    @celsius.setter
    def celsius(self, value: float) -> None:
        self._kelvin = value + 273.15


@overload
def parse(text: str) -> Temperature: ...
@overload
def parse(text: bytes) -> Temperature: ...
def parse(text):
    return Temperature(float(text))
'''


def test_overloads_and_property_accessors_pick_the_definition_asked_for() -> None:
    setter_line = line_of(OVERLOADS, "def celsius(self, value")
    # without a line: the last definition (what the class binds)
    setter = parameter_context(OVERLOADS, "Temperature.celsius")
    assert f"# lines {setter_line}-{setter_line + 1}: Temperature.celsius" in setter
    assert "def celsius(self) -> float:" in setter  # the getter is context
    getter = parameter_context(OVERLOADS, "Temperature.celsius", line=setter_line - 4)
    assert "def celsius(self, value: float) -> None:" in getter
    assert "@celsius.setter" in getter
    assert "self._kelvin = kelvin" in getter
    # the implementation of an overloaded function sees its overloads
    implementation = parameter_context(OVERLOADS, "parse")
    assert_lines_match(implementation, OVERLOADS)
    assert "def parse(text: bytes) -> Temperature: ..." in implementation
    assert "def __init__(self, kelvin: float) -> None:" in implementation


@pytest.mark.parametrize(
    ("source", "qualname"),
    [
        ("def f(:\n    pass\n", "f"),  # does not parse
        ("x = 1\x00\n", "f"),  # null byte
        (BANK, "Account.nothing"),
        (BANK, "nothing"),
        (BANK, "MAX_BALANCE"),  # not a definition
        (BANK, ""),
        (BANK, "Account..deposit"),
        (BANK, "transfer.<locals>.inner"),
        (BANK, "Account.deposit.<locals>.<lambda>"),
        ("", "f"),
        ("(" * 300 + ")" * 300, "f"),  # too deeply nested for the parser
        ("def f():\n    return 1\n", "f"),  # uses nothing: nothing to show
    ],
)
def test_what_cannot_be_found_or_parsed_gives_an_empty_context(source: str, qualname: str) -> None:
    assert parameter_context(source, qualname) == ""


def test_a_path_prefix_a_bom_and_crlf_line_endings_are_fine() -> None:
    plain = parameter_context(BANK, "transfer")
    assert parameter_context(BANK, "bank.py::transfer") == plain
    assert parameter_context("\ufeff" + BANK.replace("\n", "\r\n"), "transfer") == plain


def test_source_that_warns_while_parsing_warns_nobody() -> None:
    source = 'PATTERN = "\\d+"\n\n\ndef digits(text):\n    return PATTERN in text\n'
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        context = parameter_context(source, "digits")
    assert shown(context) == {1: 'PATTERN = "\\d+"'}


def test_every_definition_of_a_real_module_gets_a_bounded_context() -> None:
    """The standard library's own source: no exception, every limit kept, lines true."""
    source = inspect.getsource(textwrap)
    qualnames = re.findall(r"^(?:class|def) (\w+)", source, re.M)
    qualnames += [f"TextWrapper.{m}" for m in re.findall(r"^    def (\w+)", source, re.M)]
    # 16 found on 3.11 and 3.12, 15 on 3.13: its indent() no longer defines the nested
    # prefixed_lines() that the method pattern also matched
    assert len(qualnames) >= 15
    for qualname in qualnames:
        for limit in (150, 2500):
            context = parameter_context(source, qualname, limit=limit)
            assert len(context) <= limit
            if context:
                assert_lines_match(context, source)
    wrap_chunks = parameter_context(source, "TextWrapper._wrap_chunks")
    assert "self.width = width" in wrap_chunks
    assert "def _handle_long_word(self, reversed_chunks, cur_line, cur_len, width):" in wrap_chunks


INHERITED = '''\
import unittest

RETRIES = 3


class Base:
    """Shared set-up."""

    timeout = 10

    def __init__(self):
        self.session = None

    def connect(self, host):
        """Open a session."""

    def unrelated(self):
        pass


class Client(Base):
    def fetch(self, url):
        self.connect(url)
        return self.session.get(url, timeout=self.timeout, retries=RETRIES)


class TestClient(unittest.TestCase):
    def setUp(self):
        self.client = Client()
        self.expected = [1, 2]

    def test_fetch(self):
        self.assertEqual(self.client.fetch("x"), self.expected)
'''


def test_what_a_method_uses_from_a_base_class_in_the_module_is_shown() -> None:
    context = parameter_context(INHERITED, "Client.fetch")
    assert_lines_match(context, INHERITED)
    texts = "\n".join(shown(context).values())
    for text in ("class Base:", "timeout = 10", "self.session = None", "def connect(self, host):"):
        assert text in texts, text
    assert "unrelated" not in texts
    assert "RETRIES = 3" in texts
    # a TestCase's setUp gives the attributes; a base from another module is not followed
    test = "\n".join(shown(parameter_context(INHERITED, "TestClient.test_fetch")).values())
    assert "self.client = Client()" in test
    assert "self.expected = [1, 2]" in test
    assert "import unittest" not in test


def test_of_the_members_it_does_not_use_the_nearest_are_kept() -> None:
    methods = "".join(f"    def m{i}(self):\n        pass\n\n" for i in range(12))
    source = f"class Many:\n{methods}".replace("def m6(self):", "def m6(self, x):")
    context = parameter_context(source, "Many.m6", limit=260)
    kept = {int(n) for n in re.findall(r"def m(\d+)\(self\)", context)}
    assert kept
    assert kept == set(range(min(kept), max(kept) + 1)) - {6}
    assert 6 - min(kept) <= 2
    assert max(kept) - 6 <= 2
    assert context.splitlines()[-1].startswith("… ")


# Sources a line-based scan could misread: each must give what a whole parse gives.
TRICKY = {
    "def_in_a_string": 'HELP = """\ndef used():\n    pass\n"""\n\n\ndef used():\n    return HELP\n'
    "\n\ndef f():\n    return used()\n",
    "quotes_in_strings_and_comments": 'A = \'"""\'  # """ too\nB = 2\n\n\ndef f():\n'
    "    return A + B\n",
    "column_0_in_brackets": "def g(a,\nb):\n    return a\n\n\nX = [\n1,\n]\n\n\ndef f():\n"
    "    return g(X, 1)\n",
    "comment_ending_in_backslash": "def g():\n    pass  # see \\\nY = 1\n\n\ndef f():\n"
    "    return g() + Y\n",
    "decorators_and_else": "import functools\ntry:\n    import json\nexcept ImportError:\n"
    "    json = None\nelse:\n    pass\n\n\n@functools.cache\n@functools.wraps(print)\n"
    "def f():\n    return json\n",
    "line_continuation": "Z = 1 + \\\n2\n\n\nclass C(\nobject):\n    pass\n\n\ndef f():\n"
    "    return C(Z)\n",
    "bad_decorator": "@functools.cache\nX = 1\n\n\ndef f():\n    return X\n",
}


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_reading_only_the_needed_definitions_gives_what_a_whole_parse_gives(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = TRICKY[name]
    # the scan reads these itself; the other two it leaves to a whole parse
    scanned = name not in {"bad_decorator", "comment_ending_in_backslash"}
    assert (context._chunks(source) is not None) == scanned
    fast = parameter_context(source, "f")
    context._tree.cache_clear()
    monkeypatch.setattr(context, "_chunks", lambda source: None)  # the scan declines
    whole = parameter_context(source, "f")
    context._tree.cache_clear()
    assert fast == whole
    if name != "bad_decorator":
        assert_lines_match(fast, source)


def test_the_standard_library_reads_the_same_in_part_and_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sources = [inspect.getsource(module) for module in (textwrap, difflib, dataclasses)]
    asked = [
        (source, name)
        for source in sources
        for name in re.findall(r"^(?:class|def) (\w+)", source, re.M)[:12]
    ]
    asked += [(sources[1], "SequenceMatcher.find_longest_match"), (sources[0], "TextWrapper.wrap")]
    fast = [parameter_context(source, name) for source, name in asked]
    context._tree.cache_clear()
    monkeypatch.setattr(context, "_chunks", lambda source: None)
    whole = [parameter_context(source, name) for source, name in asked]
    context._tree.cache_clear()
    assert fast == whole
    assert sum(bool(text) for text in fast) > 15


def test_a_long_constant_shows_its_first_lines_and_marks_the_rest() -> None:
    table = "".join(f"    {i}: {i * i},\n" for i in range(20))
    source = f"SQUARES = {{\n{table}}}\nOTHER = 1\n\n\ndef square(n):\n    return SQUARES[n]\n"
    context = parameter_context(source, "square")
    assert_lines_match(context, source)
    assert sorted(shown(context)) == [1, 2, 3, 4, 5, 6]
    assert context.splitlines()[6] == "   …|"


# What the optimizer reads, reviewed: a change of format shows here first.
TRANSFER_CONTEXT = '''\
   5| from decimal import Decimal as D
   6| from typing import (
   …|
   8|     Optional,
   …|
  10| )
   …|
  15| FEES = {
  16|     "wire": D("25"),
  17|     "ach": D("0"),
  18| }
   …|
  22| def _round(amount: D) -> D:
  23|     """Round to cents.
   …|
  41| class Account(Base):
  42|     """A bank account.
   …|
  50|     def __init__(self, owner: str, ledger: Ledger) -> None:
   …|
  91| @trainable
    | # lines 92-97: transfer (the parameter)
'''
DEPOSIT_CONTEXT_900 = '''\
   5| from decimal import Decimal as D
   …|
  12| from .i18n import _pgettext as P_
   …|
  15| FEES = {
  16|     "wire": D("25"),
  17|     "ach": D("0"),
  18| }
   …|
  22| def _round(amount: D) -> D:
  23|     """Round to cents.
   …|
  41| class Account(Base):
  42|     """A bank account.
   …|
  50|     def __init__(self, owner: str, ledger: Ledger) -> None:
   …|
  54|         self.balance = D(0)
  55|         if ledger is None:
  56|             self.history: list[D] = []
  58|     @property
  59|     def closed(self) -> bool:
  60|         """Whether the account is closed."""
   …|
  67|     def withdraw(self, amount: D) -> None:
  68|         """Take money out."""
   …|
  77|     @trainable
    |     # lines 78-85: Account.deposit (the parameter)
… 5 more attributes, 3 more methods, 1 more name not shown (context limit)
'''


def test_the_rendered_context_reads_as_reviewed() -> None:
    assert parameter_context(BANK, "transfer") + "\n" == TRANSFER_CONTEXT
    assert parameter_context(BANK, "Account.deposit", limit=900) + "\n" == DEPOSIT_CONTEXT_900


def test_the_module_docstring_is_shown_before_the_context_numbered_as_in_the_file() -> None:
    source = (
        '"""A game.\n\nIts rules.\n"""\n\nimport os\n\nSPEED = 3\n\n\ndef f():\n    return SPEED\n'
    )
    own = parameter_context(source, "f")
    shown = context.with_module_docstring(source, own)
    assert shown == ('   1| """A game.\n   2|\n   3| Its rules.\n   4| """\n   …|\n' + own)
    # a context that starts right after the docstring needs no gap; an empty one none
    right_after = "   5| import os"
    assert context.with_module_docstring(source, right_after).endswith('"""\n   5| import os')
    assert (
        context.with_module_docstring(source, "")
        == '   1| """A game.\n   2|\n   3| Its rules.\n   4| """'
    )
    # shown once: a context that already starts with it is left as it is
    assert context.with_module_docstring(source, shown) == shown
    # a long docstring is clipped, marked; no docstring, or a source that does not parse,
    # leaves the context unchanged
    long = '"""' + "\n".join(f"line {i}" for i in range(100)) + '"""\ndef f(): pass\n'
    clipped = context.with_module_docstring(long, "", limit=60)
    assert clipped.splitlines()[-1] == "   …| [96 more lines of the docstring not shown]"
    assert context.with_module_docstring("def f(): pass\n", own) == own
    assert context.with_module_docstring("x = 'no docstring'\n", own) == own
    assert context.with_module_docstring('"""Doc."""\ndef (:\n', own) == own
