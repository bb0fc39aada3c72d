"""Word frequencies: correct, tested, and slow."""

from pytest_genopt import trainable


@trainable
def common_words(text: str, n: int) -> list[tuple[str, int]]:
    """The ``n`` most common words of ``text`` with their counts, most common first.

    A word is a run of letters, compared in lower case; words with the same count
    come in alphabetical order.
    """
    words = []
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
    counts: list[tuple[str, int]] = []
    for word in words:
        for index, (known, count) in enumerate(counts):
            if known == word:
                counts[index] = (known, count + 1)
                break
        else:
            counts.append((word, 1))
    counts.sort(key=lambda pair: (-pair[1], pair[0]))
    return counts[:n]
