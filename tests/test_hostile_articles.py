"""Hostile article files, round two: a front-matter date that is no calendar day, a symlink
loop, JSON and YAML nested thousands deep, HTML while trafilatura cannot be imported, a YAML
alias bomb, metadata a megabyte long, and articles that claim another article's id.

Each bad file (or .jsonl line) is skipped with a warning naming it and the reason, and the build
goes on, through `citebot index` as through the builder; no article is ever dropped or replaced
because another one claims its id.
"""

from __future__ import annotations

import json
import logging
import sys
import time

import pytest

from bot.formatting.builds import report_text
from bot.i18n import ENGLISH
from bot.terminal_text import render_build_report
from index.models import BuildReport
from tests.index_fixtures import NEWS_ARTICLES, TempIndex, citebot_env, run_citebot

BUILD_SECONDS = 60.0
DEEP = 5_000  # levels of nesting: far past Python's recursion limit

BAD_DATE = "---\ntitle: Leap day that never was\ndate: 2022-02-30\n---\nThe launch slipped.\n"
DEEP_FRONT_MATTER = "---\ntitle: " + "[" * DEEP + "]" * DEEP + "\n---\nThe body is fine.\n"
GOOD_LINE = json.dumps({"id": "tide", "title": "Spring tide", "text": "The spring tide rose."})
DEEP_LINE = '{"text": "Deep.", "extra": ' + "[" * DEEP + "]" * DEEP + "}"
PAGE = "<html><body><article><p>The ferry resumed its winter timetable.</p></article></body></html>"


def alias_bomb(levels: int = 6) -> str:
    """About 350 bytes of YAML that expand ten-fold at each level: a 7 MB title at six."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        item = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{','.join([item] * 10)}]")
    return "---\n" + "\n".join(lines) + f"\ntitle: *a{levels - 1}\n---\nA short body.\n"


def skipped_reasons(report: BuildReport) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in report.skipped)


def test_one_bad_file_of_each_kind_is_skipped_and_the_build_goes_on(
    temp_index: TempIndex, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    temp_index.write_news()
    corpus = temp_index.corpus
    temp_index.write("bad-date.md", BAD_DATE)
    (corpus / "loop-a.md").symlink_to("loop-b.md")
    (corpus / "loop-b.md").symlink_to("loop-a.md")
    temp_index.write("deep-front.md", DEEP_FRONT_MATTER)
    temp_index.write("deep.jsonl", DEEP_LINE + "\n" + GOOD_LINE + "\n")
    temp_index.write("page.html", PAGE)
    monkeypatch.setitem(sys.modules, "trafilatura", None)  # as an install that lacks it

    started = time.monotonic()
    report = temp_index.build()
    assert time.monotonic() - started < BUILD_SECONDS

    reasons = skipped_reasons(report)
    expected_words = {
        "bad-date.md": "2022-02-30 is not a calendar date",
        "loop-a.md": "loop",
        "loop-b.md": "loop",
        "deep-front.md": "nested",
        "deep.jsonl line 1": "nested",
        "page.html": "trafilatura",
    }
    assert set(reasons) == set(expected_words), reasons
    for name, words in expected_words.items():
        assert words in reasons[name], (name, reasons[name])
    warned = "\n".join(r.getMessage() for r in caplog.records)
    for line in report.skipped:
        assert f"skipped {line}" in warned
    index = temp_index.load()
    assert set(index.articles) == {"harbour-lighthouse", "chess-final", "orchard-frost", "tide"}


def test_citebot_index_names_the_bad_file_and_exits_0(temp_index: TempIndex) -> None:
    temp_index.write("harbour-lighthouse.md", NEWS_ARTICLES["harbour-lighthouse.md"])
    temp_index.write("bad-date.md", BAD_DATE)
    temp_index.write("deep-front.md", DEEP_FRONT_MATTER)
    root = temp_index.corpus.parent
    env = citebot_env(CITEBOT_CORPUS__PATH=temp_index.corpus, CITEBOT_INDEX__PATH=root / "index")

    result = run_citebot("index", env=env, cwd=root)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Indexed 1 articles")
    for name in ("bad-date.md", "deep-front.md"):
        [warning] = [line for line in result.stderr.splitlines() if name in line]
        assert warning.startswith(f"citebot: skipped {name}: broken front matter")
    assert "Traceback" not in result.stderr


def test_a_yaml_alias_bomb_is_refused_quickly_and_long_metadata_is_capped(
    temp_index: TempIndex,
) -> None:
    temp_index.write("bomb.md", alias_bomb())
    assert len(alias_bomb()) < 400
    endless = "Tidal " * 50_000
    temp_index.write("long-title.md", f"---\ntitle: {endless}\nsource: {endless}\n---\nCalm sea.\n")
    record = {"text": "The pier was rebuilt.", "title": endless, "source": endless,
              "url": "https://example.org/" + "x" * 100_000, "date": endless}  # fmt: skip
    temp_index.write("feed.jsonl", json.dumps(record) + "\n")

    started = time.monotonic()
    report = temp_index.build()
    assert time.monotonic() - started < BUILD_SECONDS

    reasons = skipped_reasons(report)
    assert list(reasons) == ["bomb.md"]
    assert "alias" in reasons["bomb.md"]
    index = temp_index.load()
    assert set(index.articles) == {"long-title", "feed-1"}
    for article in index.articles.values():
        assert len(article.title) <= 300
        assert article.source is None or len(article.source) <= 300
        assert article.date is None or len(article.date) <= 100
        assert article.url is None or len(article.url) <= 2048
    assert index.articles["long-title"].title.startswith("Tidal Tidal")


def ids_by_file(temp: TempIndex) -> dict[str, str]:
    """Each indexed article's id, keyed by its file (and position, for .jsonl files)."""
    index = temp.load()
    return {f"{a.source_path}:{a.doc_id}": a.doc_id for a in index.articles.values()}


def test_an_id_claimed_by_a_second_article_keeps_both_and_names_both_files(
    temp_index: TempIndex, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    temp_index.write("good.md", NEWS_ARTICLES["harbour-lighthouse.md"])
    temp_index.build()
    evil = {"id": "good", "title": "Fake lighthouse news", "text": "The lighthouse was sold."}
    temp_index.write("0-evil.jsonl", json.dumps(evil) + "\n")

    report = temp_index.build()

    index = temp_index.load()
    assert index.articles["good"].source_path == "good.md"
    assert index.articles["good"].title == "Harbour lighthouse reopens after restoration"
    [newcomer] = [a for a in index.articles.values() if a.source_path == "0-evil.jsonl"]
    assert newcomer.doc_id != "good" and newcomer.title == "Fake lighthouse news"
    assert report.files_added == ("0-evil.jsonl",) and report.files_removed == ()
    [note] = report.renamed
    assert "0-evil.jsonl" in note and "good.md" in note and newcomer.doc_id in note
    warned = [r.getMessage() for r in caplog.records if "0-evil.jsonl" in r.getMessage()]
    assert warned and "good.md" in warned[0]


def test_file_names_that_make_the_same_id_keep_both_articles_with_stable_ids(
    temp_index: TempIndex,
) -> None:
    texts = {
        "a b.md": "The ferry to the island was cancelled because of the storm.",
        "a-b.md": "The village school opened a new library on Monday.",
        "x.md": "The mayor planted an oak in the market square.",
        "x.txt": "A heron nested on the church roof this spring.",
    }
    temp_index.write("a b.md", texts["a b.md"])
    temp_index.write("x.txt", texts["x.txt"])
    temp_index.build()
    temp_index.write("a-b.md", texts["a-b.md"])
    temp_index.write("x.md", texts["x.md"])

    incremental = temp_index.build()
    after_incremental = {a.source_path: a.doc_id for a in temp_index.load().articles.values()}
    temp_index.build(full=True)
    after_full = {a.source_path: a.doc_id for a in temp_index.load().articles.values()}

    assert set(after_incremental) == set(texts), incremental.skipped
    assert after_incremental == after_full
    assert after_full["a-b.md"] == "a-b" and after_full["x.md"] == "x"
    assert len(set(after_full.values())) == 4
    index = temp_index.load()
    for path, doc_id in after_full.items():
        assert index.article_text(doc_id) == texts[path]
    assert incremental.skipped == ()
    assert len(incremental.renamed) == 2


RTL = "\u202e"
MANY = tuple(f"feeds/article-{number:05}.md" for number in range(10_000))


def test_a_file_name_with_a_right_to_left_override_is_shown_escaped(
    temp_index: TempIndex, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    temp_index.write(f"invoice{RTL}dm.txt", "The harbour fees rose by a tenth this spring.")
    temp_index.write(f"empty{RTL}dm.txt", "")
    temp_index.write(f"feed{RTL}.jsonl", '{"text": 5}\n{"text": "The ferry runs again."}\n')

    report = temp_index.build()

    shown = [
        render_build_report(report),
        report_text(ENGLISH, report),
        "\n".join(r.getMessage() for r in caplog.records),
    ]
    for text in shown:
        assert RTL not in text
    assert "invoice\\u202edm.txt" in shown[0] and "invoice\\u202edm.txt" in shown[1]
    assert "empty\\u202edm.txt: empty file" in shown[0] and "feed\\u202e.jsonl line 1" in shown[0]


def test_the_report_of_ten_thousand_files_names_the_first_few_and_counts_the_rest() -> None:
    report = BuildReport(
        "b1", 10_000, 20_000, 20_000, files_added=MANY, files_removed=MANY,
        skipped=tuple(f"{name}: binary file" for name in MANY),
        renamed=tuple(f"{name}: article id x is already used by y.md" for name in MANY),
    )  # fmt: skip

    terminal = render_build_report(report)
    telegram = report_text(ENGLISH, report)

    assert max(map(len, terminal.splitlines())) <= 200
    assert len(terminal) < 10_000 and len(telegram) < 4096
    assert "feeds/article-00000.md" in terminal and "feeds/article-00000.md" in telegram
    assert "feeds/article-09999.md" not in terminal + telegram
    assert "and 9980 more" in terminal and "and 99" in telegram
