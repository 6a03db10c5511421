"""A hostile corpus folder: random bytes, a huge single line, deeply nested HTML, files over the
size limit, links out of the folder, a named pipe, names with `..` and control characters.

Each file is skipped with a reason that names it (printably) or indexed safely; the build
finishes in bounded time; answers stay fast; and nothing outside the corpus folder ever reaches
the index.
"""

from __future__ import annotations

import logging
import os
import random
import time
from pathlib import Path

import pytest

from index.answering import answer_question
from index.builder import build_index
from index.config import CorpusConfig
from index.models import BuildReport
from index.retriever import LoadedIndex
from index.store import IndexLayout
from tests.index_fixtures import NEWS_ARTICLES, TempIndex

SECRET = "zebra-42 the vault code is under the doormat"
BUILD_SECONDS = 60.0
ANSWER_SECONDS = 2.0


def write_outside(folder: Path) -> None:
    """Files next to the corpus that links inside it point at."""
    (folder / "secrets").mkdir(parents=True)
    (folder / "secret.md").write_text(f"# Secret\n\n{SECRET}.\n", encoding="utf-8")
    (folder / "secrets" / "more.md").write_text(f"More: {SECRET}.\n", encoding="utf-8")


def build(temp: TempIndex, max_file_mb: float = 20.0) -> BuildReport:
    config = temp.index_config
    corpus = CorpusConfig(path=temp.corpus, max_file_mb=max_file_mb)
    return build_index(corpus, temp.passages, config, lambda: temp.embedder)


def index_bytes(index_dir: Path) -> bytes:
    build_dir = IndexLayout(index_dir).current_build()
    assert build_dir is not None
    return b"".join(p.read_bytes() for p in sorted(build_dir.rglob("*")) if p.is_file())


def skipped_reasons(report: BuildReport) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in report.skipped)


def test_hostile_files_are_skipped_with_a_reason_and_nothing_outside_is_read(
    temp_index: TempIndex, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    write_outside(tmp_path)
    temp_index.write_news()
    corpus = temp_index.corpus
    noise = random.Random(5)
    temp_index.write("random.txt", noise.randbytes(20_000))
    temp_index.write("latin1.md", "café crème brûlée".encode("latin-1"))
    temp_index.write("nested.html", "<html><body>" + "<div>" * 10_000 + "<p>Deep.</p>"
                     + "</div>" * 10_000 + "</body></html>")  # fmt: skip
    (corpus / "leak.md").symlink_to(tmp_path / "secret.md")
    (corpus / "leak-folder").symlink_to(tmp_path / "secrets")
    (corpus / "loop").symlink_to(".")
    os.mkfifo(corpus / "pipe.md")  # reading it would hang the build
    temp_index.write("bell\x07.md", "A name with a bell in it.")
    temp_index.write("esc\x1b[2Jclear.md", "A name that would clear the operator's terminal.")
    temp_index.write("new\nline.md", "A name with a line break.")
    temp_index.write("..dots.md", "Hidden, as every name starting with a dot.")
    with open(corpus / "huge.md", "wb") as sparse:
        sparse.truncate(50 * 1024 * 1024)  # 50 MB, over corpus.max_file_mb

    started = time.monotonic()
    report = build(temp_index)
    assert time.monotonic() - started < BUILD_SECONDS

    reasons = skipped_reasons(report)
    assert reasons == {
        "random.txt": "binary file",
        "latin1.md": "not valid UTF-8 text (byte 3)",
        "nested.html": "no article text found in the HTML",
        "leak.md": "links outside the corpus directory",
        "leak-folder": "links outside the corpus directory",
        "loop": "a linked folder (links to folders are not followed)",
        "pipe.md": "not a regular file",
        "bell\\x07.md": "file name has control characters",
        "esc\\x1b[2Jclear.md": "file name has control characters",
        "new\\nline.md": "file name has control characters",
        "huge.md": "too large (52.4 MB; the limit is corpus.max_file_mb)",
    }
    warned = "\n".join(r.getMessage() for r in caplog.records)
    assert all(f"skipped {name}: {reason}" in warned for name, reason in reasons.items())
    assert "\x1b" not in warned and "\x07" not in warned
    assert report.articles == len(NEWS_ARTICLES)
    assert SECRET.encode() not in index_bytes(temp_index.index_dir)


def test_a_huge_single_line_and_a_giant_word_are_indexed_and_answered_quickly(
    temp_index: TempIndex,
) -> None:
    temp_index.write_news()
    words = random.Random(7).choices(["harbour", "lantern", "keeper", "storm", "tide"], k=300_000)
    temp_index.write("one-line.txt", " ".join(words))  # about 2 MB, no line or sentence ends
    temp_index.write("one-word.txt", "x" * 1_000_000)

    started = time.monotonic()
    report = build(temp_index)
    assert time.monotonic() - started < BUILD_SECONDS
    assert report.skipped == ()
    index = LoadedIndex.open_current(temp_index.index_config)
    for question in ("When does the harbour lantern keeper come in a storm?", "x" * 5000):
        started = time.monotonic()
        answer = answer_question(
            question, index, temp_index.embedder, temp_index.config.retrieval,
            temp_index.config.answer,
        )  # fmt: skip
        assert time.monotonic() - started < ANSWER_SECONDS
        for citation in answer.citations:
            assert len(citation.snippet) <= temp_index.config.answer.snippet_max_chars + 2


def test_files_are_held_to_the_size_limit_just_above_and_just_below_it(
    temp_index: TempIndex,
) -> None:
    limit_mb = 0.01
    sentence = "The lighthouse keeper counted the ships that passed the harbour at dawn. "
    just_under = sentence * int(limit_mb * 1_000_000 // len(sentence))
    temp_index.write("under.md", just_under)
    temp_index.write("over.md", just_under + sentence * 20)
    assert len(just_under) <= limit_mb * 1_000_000 < len(just_under) + 20 * len(sentence)

    report = build(temp_index, max_file_mb=limit_mb)

    (over,) = report.skipped
    assert over.startswith("over.md: too large")
    assert report.articles == 1
