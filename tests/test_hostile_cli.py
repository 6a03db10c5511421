"""Hostile and careless use of the `citebot` command: questions that are not valid UTF-8 (as an
argument or on standard input), a reader that goes away (`citebot ask … | head`), and a second
first-time `ask` while the first is still building the index.

Each runs the installed console script in a subprocess, over the session's index of the shipped
corpus or a two-article corpus of its own, as a user would.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

from index.service import CitebotService
from index.store import BuildLock, IndexLayout
from tests.index_fixtures import (
    NEWS_ARTICLES,
    SHIPPED_CORPUS,
    assert_answer_json,
    citebot_command,
    citebot_env,
)

GOOD = b"Which country's flag did Roscosmos leave on the rocket at Baikonur?"
NOT_UTF8 = [
    b"\xff\xfe why were the flags \xc0\xaf covered?",  # bytes no UTF-8 text can hold
    b"Baikonur \xe2\x82",  # a character cut in half
    b"\xed\xa0\x80 surrogate half",  # an encoded UTF-16 surrogate
    b"caf\xe9 latin-1 ISS",  # Latin-1
]


def shipped_env(core_index_dir: Path) -> dict[str, str]:
    return citebot_env(CITEBOT_CORPUS__PATH=SHIPPED_CORPUS, CITEBOT_INDEX__PATH=core_index_dir)


def run_bytes(
    args: list[bytes | str], env: dict[str, str], cwd: Path, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*citebot_command(), *args], input=stdin, capture_output=True, env=env, cwd=cwd,
        timeout=120, check=False,
    )  # fmt: skip


def test_a_question_argument_that_is_not_utf8_is_answered(
    tmp_path: Path, core_service: CitebotService, core_index_dir: Path
) -> None:
    result = run_bytes(["ask", "--json", NOT_UTF8[0]], shipped_env(core_index_dir), tmp_path)

    assert result.returncode == 0, result.stderr.decode()
    assert b"Traceback" not in result.stderr
    (line,) = result.stdout.decode().splitlines()
    answer = assert_answer_json(line)
    assert answer["question"] == "\ufffd\ufffd why were the flags \ufffd\ufffd covered?"
    assert answer["found"] and "flag" in answer["citations"][0]["snippet"].lower()


def test_undecodable_lines_in_a_batch_are_each_answered_and_the_batch_goes_on(
    tmp_path: Path, core_service: CitebotService, core_index_dir: Path
) -> None:
    lines = [GOOD, *NOT_UTF8, GOOD]

    result = run_bytes(
        ["ask", "--json", "-"], shipped_env(core_index_dir), tmp_path, stdin=b"\n".join(lines)
    )

    assert result.returncode == 0, result.stderr.decode()
    assert b"Traceback" not in result.stderr
    answers = [assert_answer_json(line) for line in result.stdout.decode().splitlines()]
    assert [a["question"] for a in answers] == [line.decode("utf-8", "replace") for line in lines]
    assert answers[0] == answers[-1] and answers[0]["found"]
    warnings = result.stderr.decode().splitlines()
    assert [w for w in warnings if "not valid UTF-8" in w] == [
        f"citebot: line {number} is not valid UTF-8; its undecodable bytes were replaced"
        for number in range(2, 2 + len(NOT_UTF8))
    ]


def test_a_reader_that_goes_away_ends_citebot_quietly(
    tmp_path: Path, core_service: CitebotService, core_index_dir: Path
) -> None:
    env = shipped_env(core_index_dir)
    questions = tmp_path / "questions.txt"
    questions.write_bytes(b"\n".join([GOOD] * 40))
    errors = tmp_path / "stderr.txt"
    # `citebot ask --json - | head -n 1`, and `citebot ask … | true`: gone before any answer.
    for args, reader in ((["ask", "--json", "-"], ["head", "-n", "1"]), (["ask", GOOD], ["true"])):
        with questions.open("rb") as stdin, errors.open("wb") as stderr:
            citebot = subprocess.Popen(
                [*citebot_command(), *args], stdin=stdin, stdout=subprocess.PIPE,
                stderr=stderr, env=env, cwd=tmp_path,
            )  # fmt: skip
        assert citebot.stdout is not None
        head = subprocess.run(reader, stdin=citebot.stdout, capture_output=True, check=False)
        citebot.stdout.close()
        citebot.wait(timeout=120)
        assert errors.read_text() == ""
        assert citebot.returncode == 141  # as a command that SIGPIPE ended
        if reader[0] == "head":
            assert json.loads(head.stdout)["found"]


async def test_a_second_first_time_ask_waits_for_the_running_build_then_answers(
    tmp_path: Path,
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "chess-final.md").write_text(NEWS_ARTICLES["chess-final.md"], encoding="utf-8")
    index = tmp_path / "index"
    env = citebot_env(CITEBOT_CORPUS__PATH=corpus, CITEBOT_INDEX__PATH=index)
    question = "Who won the national chess championship?"

    with BuildLock(IndexLayout(index)):  # a first `citebot ask` building the index
        process = await asyncio.create_subprocess_exec(
            *citebot_command("ask", "--json", question), cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stderr is not None and process.stdout is not None
        said = b""
        while b"waiting for it to finish" not in said:
            line = await asyncio.wait_for(process.stderr.readline(), timeout=60)
            assert line, f"citebot ended without waiting: {said.decode()}"
            said += line
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)

    assert process.returncode == 0, (said + err).decode()
    answer = assert_answer_json(out.decode())
    assert answer["found"] and answer["citations"][0]["doc_id"] == "chess-final"
