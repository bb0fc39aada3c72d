"""Tests of common_words: its results, and its runtime as a measured objective."""

import random
from collections import Counter

from wordfreq import common_words


def test_counts_words_in_lower_case_with_ties_in_alphabetical_order():
    assert common_words("b a B c a", 2) == [("a", 2), ("b", 2)]


def test_a_word_is_a_run_of_letters():
    assert common_words("it's x-ray, x-ray!", 3) == [("ray", 2), ("x", 2), ("it", 1)]


def test_no_words():
    assert common_words(" 42 ... ", 5) == []


def corpus(words: int, vocabulary: int, seed: int = 0) -> str:
    """``words`` words drawn from ``vocabulary`` made-up ones, some with punctuation."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    names = ["".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(vocabulary)]
    return " ".join(
        rng.choice(names).capitalize()
        if rng.random() < 0.1
        else rng.choice(names) + rng.choice(["", "", ",", ".", "'s"])
        for _ in range(words)
    )


TEXT = corpus(4000, 400)


def expected(text: str, n: int) -> list[tuple[str, int]]:
    """What common_words must return, the obvious way (slow enough for a test)."""
    words = "".join(c if c.isalpha() else " " for c in text.lower()).split()
    return sorted(Counter(words).items(), key=lambda pair: (-pair[1], pair[0]))[:n]


def test_runtime(genopt):
    # one line: the result is checked, the runtime is the objective
    assert genopt.measure("runtime", common_words, TEXT, 20) == expected(TEXT, 20)
