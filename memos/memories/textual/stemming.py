"""A light English suffix stemmer for the cube index's BM25 terms.

Conversation says "researching" where a question asks what someone "research"-ed, "camped" /
"camping", "kids" / "kid". Full-text matching on exact word forms misses those; a light stemmer
(plural and -ed / -ing endings, a final silent "e", a doubled final consonant) joins them
without a dictionary or a download. It is deliberately conservative: it never touches words of
three letters or fewer nor words with digits, and it is applied alike to document and query
terms, so the only effect is that inflections meet (a few unrelated words meet too, "news" /
"new", the price of any stemmer).
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["stem"]

_VOWELS = frozenset("aeiouy")
_KEEP_DOUBLE = frozenset("lsz")


def _has_vowel(text: str) -> bool:
    return any(c in _VOWELS for c in text)


@lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """The stem of a lowercase ``word`` (itself when no rule applies)."""
    if len(word) <= 3 or not word.isalpha():
        return word
    w = word
    if w.endswith("ies") and len(w) > 5:
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("s") and len(w) > 3 and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ing", "ed"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and _has_vowel(w[: -len(suffix)]):
            w = w[: -len(suffix)]
            if len(w) >= 4 and w[-1] == w[-2] and w[-1] not in _VOWELS | _KEEP_DOUBLE:
                w = w[:-1]
            break
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    return w
