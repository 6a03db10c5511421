"""Which alphabet a text is written in: what decides which ranked lists can judge a passage.

The English model (all-MiniLM-L6-v2) and BM25 only compare texts of one language: a Russian
question scored by MiniLM against Russian text matches the alphabet, not the meaning, and BM25
finds no shared words across languages. The alphabet is a cheap, deterministic proxy for the
language that needs no model: Latin (English and other Western languages), Cyrillic (Russian and
its neighbours), or other (Arabic, CJK, Thai...).
"""

from __future__ import annotations

import re
from enum import IntEnum

import numpy as np


class Script(IntEnum):
    LATIN = 0
    CYRILLIC = 1
    OTHER = 2


_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LETTER = re.compile(r"[^\W\d_]")


def script_of(text: str) -> Script:
    """The alphabet most of the text's letters are in (Latin when it has no letters)."""
    latin = len(_LATIN.findall(text))
    cyrillic = len(_CYRILLIC.findall(text))
    other = len(_LETTER.findall(text)) - latin - cyrillic
    if cyrillic > latin and cyrillic >= other:
        return Script.CYRILLIC
    if other > latin and other > cyrillic:
        return Script.OTHER
    return Script.LATIN


def scripts_of(texts: list[str]) -> np.ndarray:
    """script_of for many texts, as the uint8 array a build stores."""
    return np.fromiter((script_of(text) for text in texts), dtype=np.uint8, count=len(texts))
