"""The status files of an ``exchange:DIR`` run: what it waits for, and how it ended.

``DIR/status.json`` (for programs; versioned) and ``DIR/status.md`` (for a
person) are rewritten atomically when a request is written and when the run
ends::

    {"status": 1,
     "state": "waiting" | "ended",
     "run": str | null,
     "waiting_for": {"request": "3-0.request.json", "response": "3-0.response.json",
                     "request_sha256": str} | null,
     "stopped": str | null,
     "answers": [{"iteration": int, "candidate": int, "response": "3-0.response.json",
                  "decision": "accepted" | "rejected" | "invalid" | "error",
                  "reason": str}]}

``stopped`` and ``answers`` are filled in when the run ends (``state``
``"ended"``); ``waiting_for`` only while it waits.  Every string is redacted.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pytest_genopt.backends.files import write_redacted
from pytest_genopt.protocol import escaped
from pytest_genopt.redaction import redact

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

#: the version of ``status.json``
STATUS_VERSION = 1

_REASON_LIMIT = 500


class ExchangeStatus:
    """Writes ``status.json`` and ``status.md`` into ``directory`` (which must exist)."""

    def __init__(self, directory: Path, secrets: Sequence[str]) -> None:
        self.directory = directory
        self.secrets = tuple(secrets)
        self.run: str | None = None

    def waiting(self, run: str, stem: str, digest: str) -> None:
        """The run waits for ``stem``'s answer."""
        self.run = run
        waiting_for = {
            "request": f"{stem}.request.json",
            "response": f"{stem}.response.json",
            "request_sha256": digest,
        }
        self._write(
            {"state": "waiting", "waiting_for": waiting_for, "stopped": None, "answers": []},
            f"Waiting for `{stem}.response.json`: the answer to `{stem}.request.json` "
            f"(the prompt is `{stem}.prompt.md`).\n",
        )

    def ended(self, stopped: str, decisions: Sequence[Mapping[str, Any]]) -> None:
        """The run ended because of ``stopped``, with these decisions (see ``Backend``)."""
        answers = [_answer(decision) for decision in decisions]
        lines = [f"Stopped: {_cell(stopped)}", ""]
        if answers:
            lines += ["| answer | decision | reason |", "|---|---|---|"]
            lines += [
                f"| `{a['response']}` | {a['decision']} | {_cell(a['reason'])} |" for a in answers
            ]
        else:
            lines.append("No answer was judged.")
        self._write(
            {"state": "ended", "waiting_for": None, "stopped": stopped, "answers": answers},
            "\n".join(lines) + "\n",
        )

    def _write(self, fields: dict[str, Any], body: str) -> None:
        document = redact(
            escaped({"status": STATUS_VERSION, "run": self.run, **fields}), self.secrets
        )
        run = f" {self.run}" if self.run else ""
        heading = f"# pytest-genopt run{run}: {fields['state']}\n\n"
        text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        # the person's view first: status.json's change is the signal programs watch
        write_redacted(self.directory / "status.md", heading + body, self.secrets)
        write_redacted(self.directory / "status.json", text, self.secrets)


def _answer(decision: Mapping[str, Any]) -> dict[str, Any]:
    iteration = int(decision.get("iteration", 0))
    candidate = int(decision.get("candidate", 0))
    return {
        "iteration": iteration,
        "candidate": candidate,
        "response": f"{iteration}-{candidate}.response.json",
        "decision": str(decision.get("decision", "")),
        "reason": _clip(str(decision.get("reason", ""))),
    }


def _clip(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _REASON_LIMIT else line[: _REASON_LIMIT - 3] + "..."


def _cell(text: str) -> str:
    """``text`` on one line, safe inside a Markdown table cell."""
    return _clip(text).replace("|", "\\|")
