"""A loopback task model for BBEH tests: right answers in formats that vary.

It knows the target of every question of the made-up benchmark and answers it in
one of five formats chosen by the question's position, of which the paper's seed
``extract_answer`` (``response.split("Answer:")[1].strip()``) reads two right.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tests.messages_server import MessagesServer, ReceivedRequest, Reply, usage

if TYPE_CHECKING:
    from pathlib import Path

FORMATS = (
    "Let me think.\nAnswer: {target}",
    "The answer is {target}.",
    "**Answer:** {target}",
    "Answer: {target}\n\nThe other options contradict the question.",
    "Having weighed every option, I pick {target}",
)
#: the share of train examples (15) the seed extract_answer reads right: formats 0 and 3
SEED_TRAIN_SHARE = 6 / 15
#: an extract_answer that reads every format above
ROBUST_EXTRACT = '''\
def extract_answer(prompt_template: str, question: str, response: str) -> str:
    """The answer stated in the model's response, written as the task's answers are."""
    import re

    text = response.replace("**", "")
    found = re.findall(r"[Aa]nswer(?: is)?:?\\s*(.+)", text)
    line = found[-1] if found else text.strip().splitlines()[-1].split(" pick ")[-1]
    return line.strip().removesuffix(".")
'''


def targets(benchmark: Path) -> dict[str, str]:
    """Every question of the made-up benchmark and its target."""
    found = {}
    for path in benchmark.glob("bbeh_*/task.json"):
        for example in json.loads(path.read_text(encoding="utf-8"))["examples"]:
            found[example["input"]] = example["target"]
    return found


def task_model(benchmark: Path) -> MessagesServer:
    """A server answering every question of ``benchmark`` (not started)."""
    known = targets(benchmark)
    order = {question: index for index, question in enumerate(known)}

    def respond(request: ReceivedRequest) -> Reply:
        body = request.body or {}
        content = body["messages"][-1]["content"]
        question = next(q for q in known if content.endswith("\n" + q))
        text = FORMATS[order[question] % len(FORMATS)].format(target=known[question])
        return MessagesServer.text_reply(
            text, usage(input_tokens=len(content) // 4, output_tokens=12)
        )

    return MessagesServer(when_empty=respond)
