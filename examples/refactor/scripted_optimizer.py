"""A scripted optimizer for this example: ``--genopt-backend=python:scripted_optimizer:propose``.

It answers the way an LLM would, without one: iteration 1 proposes a change that only
looks like work (the same algorithm with its variables renamed: a noise-only change
of the runtime), iteration 2 the real speed-up (one pass with ``re`` and
``collections.Counter``).  Each answer is the protocol's response: edits and a
rationale.
"""

SLOW_BODY = """    words = []
    current = ""
    for char in text.lower():
        if char.isalpha():
            current += char
        else:
            if current:
                words.append(current)
            current = ""
    if current:
        words.append(current)
"""

RENAMED_BODY = """    found = []
    word = ""
    for letter in text.lower():
        if letter.isalpha():
            word += letter
        else:
            if word:
                found.append(word)
            word = ""
    if word:
        found.append(word)
    words = found
"""

FAST = '''def common_words(text: str, n: int) -> list[tuple[str, int]]:
    """The ``n`` most common words of ``text`` with their counts, most common first.

    A word is a run of letters, compared in lower case; words with the same count
    come in alphabetical order.
    """
    import collections
    import re

    # a run of letters: word characters that are neither digits nor "_"
    counts = collections.Counter(re.findall(r"[^\\W\\d_]+", text.lower()))
    return sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))[:n]
'''

PARAMETER = "wordfreq.py::common_words"


def propose(request: dict) -> dict:
    if request["iteration"] == 1:
        return {
            "edits": [{"parameter": PARAMETER, "search": SLOW_BODY, "replace": RENAMED_BODY}],
            "rationale": "Clearer names for the tokenizer's variables.",
        }
    return {
        "edits": [{"parameter": PARAMETER, "text": FAST}],
        "rationale": "Count in one pass with Counter over a regex tokenization: "
        "O(words) instead of O(words x distinct words).",
    }
