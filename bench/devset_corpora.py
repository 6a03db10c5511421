"""The article folders the dev set asks about, read the way citebot reads them.

`corpus`: the shipped articles (corpus/). `wikinews`: the real Wikinews articles of
../shared/corpora/wikinews/ (317 English, 808 Russian; or $WIKINEWS_DIR), unpacked once into
bench/out/corpora/wikinews/ as the two .jsonl files citebot reads as they are.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

from index.corpus import scan_corpus
from index.documents import load_file
from index.models import Document

ROOT = Path(__file__).resolve().parent.parent
WIKINEWS_SOURCE = Path(
    os.environ.get("WIKINEWS_DIR", ROOT.parent / "shared" / "corpora" / "wikinews")
)
OUT = ROOT / "bench" / "out" / "corpora"
CORPORA = ("corpus", "wikinews")


def corpus_dir(name: str) -> Path:
    """The folder of one of the dev set's corpora, unpacking Wikinews the first time."""
    if name == "corpus":
        return ROOT / "corpus"
    if name != "wikinews":
        raise ValueError(f"unknown dev-set corpus {name!r}; expected one of {CORPORA}")
    target = OUT / "wikinews"
    for language in ("en", "ru"):
        unpacked = target / f"{language}.jsonl"
        if not unpacked.exists():
            packed = WIKINEWS_SOURCE / f"{language}.jsonl.gz"
            if not packed.exists():
                raise FileNotFoundError(f"{packed} is missing (set WIKINEWS_DIR)")
            target.mkdir(parents=True, exist_ok=True)
            partial = unpacked.with_suffix(".part")
            with gzip.open(packed, "rb") as source, partial.open("wb") as sink:
                shutil.copyfileobj(source, sink)
            partial.replace(unpacked)
    return target


def read_documents(name: str) -> dict[str, Document]:
    """Every article of a corpus by doc_id, exactly as citebot's loader reads it."""
    sources, _skipped = scan_corpus(corpus_dir(name), 100 * 1024 * 1024)
    documents: dict[str, Document] = {}
    for source in sources:
        for document in load_file(source):
            documents[document.doc_id] = document
    return documents
