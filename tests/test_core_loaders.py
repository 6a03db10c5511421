"""Article files of every kind a user drops into the corpus folder become articles with their
title, date, source and url; a file that cannot be read is skipped with one warning naming it,
and the rest of the corpus still indexes."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import AppConfig
from index.corpus import scan_corpus
from index.documents import load_file
from index.embedder import Embedder
from index.models import BuildReport, Document
from index.retriever import LoadedIndex
from tests.index_fixtures import NEWS_ARTICLES, TempIndex


def load_one(folder: Path, name: str, content: str | bytes) -> list[Document]:
    """Drop one file into a corpus folder and read it the way a build does."""
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    sources, skipped = scan_corpus(folder, 10**7)
    assert skipped == []
    return load_file(next(s for s in sources if s.relpath == name))


def test_markdown_front_matter_gives_the_citation_details(tmp_path: Path) -> None:
    [article] = load_one(tmp_path, "harbour-lighthouse.md", NEWS_ARTICLES["harbour-lighthouse.md"])

    assert article.doc_id == "harbour-lighthouse"
    assert article.title == "Harbour lighthouse reopens after restoration"
    assert article.date == "2023-05-02"
    assert article.source == "Coastal Times"
    assert article.url == "https://example.org/lighthouse"
    assert article.source_path == "harbour-lighthouse.md"
    assert article.text.startswith("The old harbour lighthouse reopened")
    assert "---" not in article.text and "title:" not in article.text


@pytest.mark.parametrize(
    "written",
    ["2022-03-04", '"2022-03-04"', "2022-03-04T10:30:00Z", "2022-03-04 08:15:00"],
)
def test_a_front_matter_date_becomes_an_iso_day(tmp_path: Path, written: str) -> None:
    content = f"---\ntitle: Launch delayed\ndate: {written}\n---\nThe launch was delayed.\n"
    [article] = load_one(tmp_path, "launch.md", content)
    assert article.date == "2022-03-04"
    assert isinstance(article.date, str)


def test_plain_text_takes_its_date_marker_and_first_sentence(tmp_path: Path) -> None:
    [article] = load_one(tmp_path, "orchard-frost.txt", NEWS_ARTICLES["orchard-frost.txt"])

    assert article.date == "2023-04-20"
    assert article.text.startswith("A late frost destroyed")
    assert "date 2023" not in article.text
    assert article.title == (
        "A late frost destroyed most of the apple blossom in the valley orchards this week, "
        "growers said on Thursday."
    )
    assert article.source is None and article.url is None


def test_a_long_first_sentence_is_shortened_into_a_title(tmp_path: Path) -> None:
    # The raw seed articles look like this: a leading space, the date marker, a long lead.
    lead = (
        "New Delhi | Jagran World Desk: Amid the ongoing dispute between Russia and other "
        "countries over its invasion of Ukraine, the Russian Space Agency, Roscosmos, removed "
        "flags of several nations painted on a massive rocket in the spaceport Baikonur."
    )
    [article] = load_one(tmp_path, "seed.txt", f" date 2022-03-04 {lead} India's flag stayed.\n")

    assert article.date == "2022-03-04"
    assert article.text.startswith("New Delhi | Jagran World Desk")
    assert article.title.endswith("…") and len(article.title) <= 121
    assert lead.startswith(article.title[:-1])


def test_markdown_without_a_header_has_no_date(tmp_path: Path) -> None:
    [article] = load_one(tmp_path, "note.md", "Engines stopped. Deliveries ended in March.\n")
    assert (article.title, article.date, article.doc_id) == ("Engines stopped.", None, "note")


def test_html_keeps_the_article_and_drops_the_page_furniture(tmp_path: Path) -> None:
    page = """<!DOCTYPE html><html><head>
<title>Harbour lighthouse reopens | Coastal Times</title>
<meta property="og:site_name" content="Coastal Times">
<meta name="date" content="2023-05-02"></head>
<body><nav><ul><li><a href="/">Home</a></li><li><a href="/sport">Sport</a></li>
<li>Subscribe to our newsletter</li></ul></nav>
<article><h1>Harbour lighthouse reopens after restoration</h1>
<p>The old harbour lighthouse reopened to visitors on Tuesday after a two-year restoration that
replaced its rusted lantern room and repaired the spiral staircase.</p>
<p>The town council said more than four thousand people had booked tours for the first month,
and the keeper's cottage now houses a small museum about shipwrecks on the coast.</p>
<p>Volunteers from the maritime society will guide the tours every weekend.</p></article>
<footer><p>Copyright 2023 Coastal Times. All rights reserved. Privacy policy.</p></footer>
</body></html>"""
    [article] = load_one(tmp_path, "lighthouse.html", page)

    assert article.doc_id == "lighthouse"
    assert article.title == "Harbour lighthouse reopens after restoration"
    assert article.date == "2023-05-02"
    assert article.source == "Coastal Times"
    assert "two-year restoration" in article.text
    assert "museum about shipwrecks" in article.text
    assert "guide the tours every weekend" in article.text
    for furniture in ("Subscribe", "Sport", "Copyright", "Privacy policy", "<p>"):
        assert furniture not in article.text


def test_json_lines_hold_many_articles_and_skip_bad_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = [
        json.dumps(
            {
                "id": "lh-1",
                "text": "The lighthouse reopened on Tuesday. Tours are booked out.",
                "title": "Lighthouse reopens",
                "date": "2023-05-02",
                "source": "Coastal Times",
                "url": "https://example.org/lh",
            }
        ),
        json.dumps({"text": "The chess final lasted six hours. She won.", "title": "Chess"}),
        '{"text": "a line cut off in the middle',
        json.dumps({"title": "A record without text"}),
        "",
        json.dumps({"text": "Frost destroyed the apple blossom. Harvest will be small."}),
    ]
    with caplog.at_level(logging.WARNING):
        articles = load_one(tmp_path, "feed.jsonl", "\n".join(lines) + "\n")

    assert [a.doc_id for a in articles] == ["lh-1", "feed-2", "feed-6"]
    first = articles[0]
    assert (first.title, first.date, first.source, first.url) == (
        "Lighthouse reopens", "2023-05-02", "Coastal Times", "https://example.org/lh",
    )  # fmt: skip
    assert first.text == "The lighthouse reopened on Tuesday. Tours are booked out."
    assert articles[2].title == "Frost destroyed the apple blossom."
    assert all(a.source_path == "feed.jsonl" for a in articles)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "feed.jsonl line 3" in warnings[0] and "feed.jsonl line 4" in warnings[1]


# Every kind of unreadable file, with a word its reason must contain.
BAD_FILES: dict[str, tuple[bytes, str]] = {
    "binary.md": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
    "latin1.txt": ("Café crème. Un article français.".encode("latin-1"), "UTF-8"),
    "empty.md": (b"", "empty"),
    "blank.txt": (b"  \n\t \n", "empty"),
    "no-closing.md": (b"---\ntitle: Unclosed\nThe header never ends.\n", "front matter"),
    "bad-yaml.md": (b"---\ntitle: [unclosed\n---\nThe body is fine.\n", "front matter"),
    "list-header.md": (b"---\n- one\n- two\n---\nThe body is fine.\n", "front matter"),
    "scan.pdf": (b"%PDF-1.4 a scanned page", "unsupported"),
    "outside.md": (b"", "outside"),  # a symlink to a file outside the corpus
}
SECRET = "Nobody outside should ever read this confidential memo."


class WarningRecorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def messy_corpus(
    tmp_path_factory: pytest.TempPathFactory, core_embedder: Embedder, core_config: AppConfig
) -> Iterator[tuple[BuildReport, list[str], LoadedIndex]]:
    """Two good articles (one in a subfolder), a README and every kind of bad file, built once."""
    root = tmp_path_factory.mktemp("messy")
    temp = TempIndex(
        root / "corpus", root / "index", core_embedder, core_config, core_config.passages
    )
    temp.write("harbour-lighthouse.md", NEWS_ARTICLES["harbour-lighthouse.md"])
    temp.write("world/chess-final.md", NEWS_ARTICLES["chess-final.md"])
    temp.write("README.md", "# About this folder\n\nThese notes explain the corpus layout.\n")
    for name, (content, _) in BAD_FILES.items():
        if name != "outside.md":
            temp.write(name, content)
    secret = root / "secret.md"
    secret.write_text(f"---\ntitle: Memo\n---\n{SECRET}\n", encoding="utf-8")
    (temp.corpus / "outside.md").symlink_to(secret)

    recorder = WarningRecorder()
    logging.getLogger("index").addHandler(recorder)
    try:
        report = temp.build()
    finally:
        logging.getLogger("index").removeHandler(recorder)
    yield report, recorder.messages, temp.load()


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_bad_file_is_skipped_with_one_warning_naming_it(
    messy_corpus: tuple[BuildReport, list[str], LoadedIndex], name: str
) -> None:
    report, warnings, _ = messy_corpus
    reason_word = BAD_FILES[name][1]

    assert len([w for w in warnings if name in w]) == 1, warnings
    [entry] = [s for s in report.skipped if s.startswith(f"{name}: ")]
    assert reason_word.lower() in entry.lower()


def test_the_rest_of_a_messy_corpus_still_indexes(
    messy_corpus: tuple[BuildReport, list[str], LoadedIndex],
) -> None:
    report, warnings, index = messy_corpus

    assert set(index.articles) == {"harbour-lighthouse", "world/chess-final"}
    assert report.articles == 2
    assert len(report.skipped) == len(BAD_FILES)
    assert len(warnings) == len(BAD_FILES)
    assert not any("README" in line for line in [*warnings, *report.skipped])
    texts = [record["text"] for record in index.passages]
    assert any("spiral staircase" in text for text in texts)
    assert not any(SECRET in text or "corpus layout" in text for text in texts)
    assert index.articles["world/chess-final"].title == "Teenager wins the national chess final"
