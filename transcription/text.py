"""Normalising recogniser text for Chinese court records.

Vosk's Chinese models separate every word with a space (``甚至 出现 交易``).
A court record has no spaces between Han characters, but Latin words and
numbers keep theirs (``iPhone 15 手机`` stays readable).
"""

from __future__ import annotations

import unicodedata

__all__ = ["is_cjk", "join_words", "normalize_text"]


def is_cjk(char: str) -> bool:
    """Whether ``char`` is a Han character or full-width CJK punctuation."""
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF  # CJK Unified Ideographs
        or 0x3400 <= code <= 0x4DBF  # Extension A
        or 0x20000 <= code <= 0x2EBEF  # Extensions B–F
        or 0xF900 <= code <= 0xFAFF  # Compatibility Ideographs
        or 0x3000 <= code <= 0x303F  # CJK Symbols and Punctuation
        or 0xFF00 <= code <= 0xFFEF  # Half/full-width forms
    )


def join_words(words: list[str] | tuple[str, ...]) -> str:
    """Join recogniser tokens: no space where both neighbours are CJK."""
    out: list[str] = []
    for word in words:
        word = word.strip()
        if not word:
            continue
        if out and not (is_cjk(out[-1][-1]) and is_cjk(word[0])):
            out.append(" ")
        out.append(word)
    return "".join(out)


def normalize_text(text: str) -> str:
    """Normalise a recogniser string (NFC, single spaces, none between Han)."""
    return join_words(unicodedata.normalize("NFC", text).split())
