"""``genopt list`` says which extras are installed, read from real distribution metadata."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_genopt.extras import missing, status

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

METADATA = """\
Metadata-Version: 2.1
Name: demo-dist
Version: 1.0
Provides-Extra: here
Provides-Extra: gone
Provides-Extra: old
Provides-Extra: both
Requires-Dist: pytest>=7
Requires-Dist: pytest; extra == "here"
Requires-Dist: packaging; extra == "here"
Requires-Dist: surely-not-installed-xyz>=1; extra == "gone"
Requires-Dist: pytest<2; extra == "old"
Requires-Dist: demo-dist[gone,old]; extra == "both"
"""


def test_an_extra_is_installed_when_each_requirement_is_satisfied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = tmp_path / "demo_dist-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(METADATA, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert missing("here", "demo-dist") == []
    assert missing("gone", "demo-dist") == ["surely-not-installed-xyz"]
    assert missing("old", "demo-dist") == ["pytest"]  # installed, but not a version it takes
    assert missing("both", "demo-dist") == ["surely-not-installed-xyz", "pytest"]
    assert missing("undeclared", "demo-dist") is None
    assert missing("here", "no-such-distribution-xyz") is None
    # the package itself, as `genopt list` shows it (the test environment has every extra)
    assert status("atari") == "pytest-genopt[atari] installed"
    assert status("undeclared") == "needs pytest-genopt[undeclared]"
