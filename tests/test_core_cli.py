"""The `citebot` command as a user runs it: summaries and answers on standard output (with --json,
nothing but JSON lines), notices on standard error, and an exit code for every kind of failure.

Each test runs the installed console script in a subprocess; the ones that load the model use a
two-article corpus or the session's index of the shipped corpus."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from index.service import CitebotService
from index.store import BuildLock, IndexLayout
from tests.index_fixtures import (
    NEWS_ARTICLES,
    SHIPPED_CORPUS,
    SHIPPED_DOC_IDS,
    assert_answer_json,
    citebot_env,
    run_citebot,
)


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("harbour-lighthouse.md", "chess-final.md"):
        (corpus / name).write_text(NEWS_ARTICLES[name], encoding="utf-8")
    return corpus


def test_ask_without_an_index_builds_it_first_and_says_so(
    tmp_path: Path, tiny_corpus: Path
) -> None:
    question = "How many people booked tours of the lighthouse?"
    env = citebot_env(CITEBOT_CORPUS__PATH=tiny_corpus, CITEBOT_INDEX__PATH=tmp_path / "index")

    result = run_citebot("ask", "--json", question, env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "no index yet, building it first" in result.stderr
    [line] = result.stdout.splitlines()  # exactly one JSON object, nothing else
    answer = assert_answer_json(line)
    assert answer["question"] == question and answer["found"]
    first = answer["citations"][0]
    assert first["doc_id"] == "harbour-lighthouse"
    assert "four thousand people had booked tours" in first["snippet"]
    assert first["snippet"] in " ".join(first["passage"].split())
    assert (first["title"], first["date"], first["source"], first["url"]) == (
        "Harbour lighthouse reopens after restoration",
        "2023-05-02",
        "Coastal Times",
        "https://example.org/lighthouse",
    )
    assert IndexLayout(tmp_path / "index").current_build() is not None


def test_ask_answers_questions_from_standard_input_one_json_line_each(
    tmp_path: Path, core_service: CitebotService, core_index_dir: Path
) -> None:
    questions = [
        "Which country's flag did Roscosmos leave on the rocket at Baikonur?",
        "hello",
        "What markings were put on the Soyuz rocket transporter?",
    ]
    env = citebot_env(CITEBOT_CORPUS__PATH=SHIPPED_CORPUS, CITEBOT_INDEX__PATH=core_index_dir)

    result = run_citebot(
        "ask", "--json", "-", stdin="\n".join(questions) + "\n", env=env, cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3, result.stdout
    answers = [assert_answer_json(line) for line in lines]
    assert [a["question"] for a in answers] == questions
    assert [a["found"] for a in answers] == [True, False, True]
    for printed, question in zip(answers, questions, strict=True):
        expected = core_service.answer(question).to_json()
        assert [c["doc_id"] for c in printed["citations"]] == [
            c["doc_id"] for c in expected["citations"]
        ]
        assert [c["snippet"] for c in printed["citations"]] == [
            c["snippet"] for c in expected["citations"]
        ]
        assert [c["score"] for c in printed["citations"]] == pytest.approx(
            [c["score"] for c in expected["citations"]], abs=1e-4
        )


def test_index_prints_a_summary_and_names_the_files_it_skipped(
    tmp_path: Path, tiny_corpus: Path
) -> None:
    (tiny_corpus / "broken.md").write_bytes(b"\x00\x01\x02 not text")
    env = citebot_env(CITEBOT_CORPUS__PATH=tiny_corpus, CITEBOT_INDEX__PATH=tmp_path / "index")

    result = run_citebot("index", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    summary = result.stdout.splitlines()[0]
    counts = re.fullmatch(
        r"Indexed 2 articles, (\d+) passages \((\d+) embedded\) in [\d.]+ s\.", summary
    )
    assert counts and counts[1] == counts[2] and int(counts[1]) >= 2, summary
    assert "skipped 1 file(s)" in result.stdout
    assert "broken.md: binary file" in result.stdout
    assert len([line for line in result.stderr.splitlines() if "broken.md" in line]) == 1


def test_a_bad_config_value_exits_2_with_one_line_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "citebot.yaml"
    config.write_text("answer:\n  min_score: 7\n", encoding="utf-8")

    result = run_citebot("--config", str(config), "ask", "hello", env=citebot_env(), cwd=tmp_path)

    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("citebot: ") and "answer.min_score" in line
    assert "less than or equal to 1" in line


def test_a_damaged_index_exits_3_and_says_to_run_citebot_index(
    tmp_path: Path, core_service: CitebotService, core_index_dir: Path
) -> None:
    copy = tmp_path / "index"
    shutil.copytree(core_index_dir, copy, symlinks=True)
    build = IndexLayout(copy).current_build()
    assert build is not None
    vectors = build / "vectors.npy"
    vectors.write_bytes(vectors.read_bytes()[:1000])
    env = citebot_env(CITEBOT_CORPUS__PATH=SHIPPED_CORPUS, CITEBOT_INDEX__PATH=copy)

    result = run_citebot("ask", "Who is Rogozin?", env=env, cwd=tmp_path)

    assert result.returncode == 3
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert "vectors.npy" in line and "`citebot index" in line


def test_a_second_build_while_one_runs_exits_4(tmp_path: Path, tiny_corpus: Path) -> None:
    index = tmp_path / "index"
    env = citebot_env(CITEBOT_CORPUS__PATH=tiny_corpus, CITEBOT_INDEX__PATH=index)

    with BuildLock(IndexLayout(index)):
        result = run_citebot("index", env=env, cwd=tmp_path)

    assert result.returncode == 4
    assert "already running" in result.stderr
    assert IndexLayout(index).current_build() is None


def test_sources_lists_the_five_shipped_articles(
    tmp_path: Path, core_service: CitebotService, core_index_dir: Path
) -> None:
    env = citebot_env(CITEBOT_CORPUS__PATH=SHIPPED_CORPUS, CITEBOT_INDEX__PATH=core_index_dir)

    result = run_citebot("sources", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    listed = [line for line in result.stdout.splitlines() if line and not line[0].isspace()]
    assert listed == list(SHIPPED_DOC_IDS)
    assert (
        "Roscosmos removes US, UK and Japan flags from Baikonur rocket but keeps India's "
        "(Jagran, 2022-03-04)" in result.stdout
    )
