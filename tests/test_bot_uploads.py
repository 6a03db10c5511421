"""An admin's article file: which names, sizes and contents are accepted, and how it is saved."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.uploads import (
    UploadRejectedError,
    check_content,
    check_size,
    safe_file_name,
    save_atomically,
)


@pytest.mark.parametrize(
    ("name", "saved_as"),
    [
        ("article.md", "article.md"),
        ("News Today (2).TXT", "News Today (2).TXT"),
        ("dir/sub/page.html", "page.html"),
        ("C:\\Users\\me\\feed.jsonl", "feed.jsonl"),
        ("статья.md", "статья.md"),
        ("a..b.txt", "a..b.txt"),
    ],
)
def test_safe_names_are_kept_without_directories(name: str, saved_as: str) -> None:
    assert safe_file_name(name) == saved_as


@pytest.mark.parametrize(
    "name",
    [
        None,
        "",
        "   ",
        "../../etc/passwd.txt",
        "..\\..\\evil.md",
        "dir/../x.md",
        ".hidden.md",
        "nul\x00byte.md",
        "new\nline.md",
        "evil\u202egpj.md",
        "report.pdf",
        "script.py",
        "noextension",
        "a|b.md",
        "what?.txt",
        "README.md",
        "x" * 200 + ".md",
        "dir/",
    ],
)
def test_unsafe_names_are_refused(name: str | None) -> None:
    with pytest.raises(UploadRejectedError):
        safe_file_name(name)


def test_size_limit() -> None:
    check_size(None, 100)
    check_size(100, 100)
    with pytest.raises(UploadRejectedError, match="limit"):
        check_size(101, 100)


@pytest.mark.parametrize(
    ("data", "name", "problem"),
    [
        (b"\xff\xfe\x00bad", "a.md", "binary"),
        (b"caf\xe9 cr\xe8me", "a.md", "UTF-8"),
        (b"", "a.md", "empty"),
        (b" \n\t\n", "a.txt", "empty"),
        (b'{"text": "ok"}\nnot json\n', "a.jsonl", "line 2 is not valid JSON"),
        (b'{"title": "no text"}\n', "a.jsonl", 'line 1 has no "text"'),
        (b"[1, 2]\n", "a.jsonl", 'line 1 has no "text"'),
        (b'{"text": 5}\n', "a.jsonl", 'line 1 has no "text"'),
        (b'{"text": "  "}\n', "a.jsonl", 'line 1 has no "text"'),
        (b'{"text": "ok", "id": [1]}\n', "a.jsonl", 'line 1: the "id"'),
        (b'{"text": "ok", "date": "2022-02-30"}\n', "a.jsonl", "line 1: date 2022-02-30"),
        (b"---\ndate: 2022-02-30\n---\nText.\n", "a.md", "not a calendar date"),
        (b"---\ntitle: [unclosed\n---\nText.\n", "a.md", "broken front matter"),
        (b"---\ntitle: T\n---\n\n", "a.md", "no article text"),
    ],
)
def test_bad_content_is_refused(data: bytes, name: str, problem: str) -> None:
    with pytest.raises(UploadRejectedError, match=problem):
        check_content(data, name)


def test_good_content_is_read_as_the_build_reads_it() -> None:
    [article] = check_content("\ufeffПривет".encode(), "a.md")
    assert article.text == "Привет"
    articles = check_content(b'{"text": "ok", "title": "t"}\n\n{"text": "two"}\n', "a.jsonl")
    assert [a.doc_id for a in articles] == ["a-1", "a-3"]


def test_saving_replaces_the_file_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    save_atomically(corpus, "a.md", b"first")
    target = save_atomically(corpus, "a.md", b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in corpus.iterdir()] == ["a.md"]
