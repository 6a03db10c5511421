"""Updates in proportion to the change (issue 11, item 2, local store): once the base is large
enough, a build publishes only the new and changed articles in a delta segment, with tombstones
for the base rows they replace; answers cite the new text and never the deleted one; a merge
gives the answers a full build gives. Real model, faiss and bm25s throughout."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from index.errors import CitebotError
from index.lexical import tokenize
from index.retriever import LoadedIndex, Query
from index.segments import SegmentedSpace
from index.store import IndexLayout
from index.stores import FileStore
from tests.index_fixtures import NEWS_ARTICLES, SHIPPED_CORPUS, TempIndex

NEW_CHESS = NEWS_ARTICLES["chess-final.md"].replace(
    "a trip to a tournament in Iceland", "a training camp in Norway with her coach"
)
QUESTIONS = (
    "What did the frost do to the apples?",
    "Where will the chess champion go with her coach?",
    "How many people booked lighthouse tours?",
    "Why were the flags covered on the rocket?",
    "Who won the national chess championship?",
)


def configure(temp: TempIndex, **settings: object) -> None:
    index = temp.config.index.model_copy(update=settings)
    temp.config = temp.config.model_copy(update={"index": index})


@pytest.fixture
def based(temp_index: TempIndex) -> TempIndex:
    """The shipped articles, the lighthouse and the chess final, built as a base; deltas on."""
    for path in SHIPPED_CORPUS.glob("*.md"):
        if path.name != "README.md":
            shutil.copy(path, temp_index.corpus / path.name)
    temp_index.write("harbour-lighthouse.md", NEWS_ARTICLES["harbour-lighthouse.md"])
    temp_index.write("chess-final.md", NEWS_ARTICLES["chess-final.md"])
    configure(temp_index, delta_min_passages=1, delta_merge_fraction=0.5)
    report = temp_index.build()
    assert temp_index.load().manifest.base_id is None
    assert report.passages > 20
    return temp_index


def change_three_articles(temp: TempIndex) -> None:
    temp.write("orchard-frost.txt", NEWS_ARTICLES["orchard-frost.txt"])  # added
    temp.write("chess-final.md", NEW_CHESS)  # changed
    (temp.corpus / "harbour-lighthouse.md").unlink()  # deleted


def cited_texts(temp: TempIndex, index: LoadedIndex, question: str) -> list[str]:
    answer = temp.answer(question, index)
    return [c.snippet + c.passage for c in answer.citations]


def test_a_delta_holds_only_what_changed_and_answers_never_cite_the_old_text(
    based: TempIndex,
) -> None:
    base_dir = IndexLayout(based.index_dir).current_build()
    assert base_dir is not None
    base_files = sorted(p.name for p in base_dir.iterdir())
    serving = based.load()
    change_three_articles(based)

    report = based.build()

    index = based.load()
    assert index.manifest.base_id == base_dir.name
    reloaded = LoadedIndex.open_current(based.index_config, reuse=serving)
    assert isinstance(reloaded.primary, SegmentedSpace)
    assert reloaded.primary.base is serving.primary  # the serving base, not loaded again
    assert index.manifest.data["hidden_sources"] == ["chess-final.md", "harbour-lighthouse.md"]
    delta_rows = index.manifest.data["delta"]["passages"]
    assert report.passages_embedded == delta_rows > 0  # the new and changed articles only
    assert report.files_added == ("orchard-frost.txt",)
    assert report.files_changed == ("chess-final.md",)
    assert report.files_removed == ("harbour-lighthouse.md",)
    assert sorted(p.name for p in base_dir.iterdir()) == base_files  # the base is untouched
    # /stats counts the base's files too: the delta build stands on them.
    base_bytes = sum(p.stat().st_size for p in base_dir.rglob("*") if p.is_file())
    assert FileStore(based.index_config).info(index).bytes_on_disk > base_bytes
    assert "harbour-lighthouse" not in index.articles
    assert {"orchard-frost", "chess-final"} <= set(index.articles)
    chess_text = index.article_text("chess-final") or ""
    assert "training camp in Norway" in chess_text and "Iceland" not in chess_text

    frost = based.answer("What did the frost do to the apples?", index)
    assert frost.citations[0].doc_id == "orchard-frost"
    chess = based.answer("Where will the chess champion go with her coach?", index)
    assert chess.citations[0].doc_id == "chess-final"
    assert "training camp in Norway" in chess.citations[0].snippet
    for question in QUESTIONS:
        assert not any("Iceland" in text for text in cited_texts(based, index, question))
        assert all(
            c.doc_id != "harbour-lighthouse" for c in based.answer(question, index).citations
        )
        # Not even a candidate: tombstoned rows never leave the segment.
        hits = index.search(Query.of(question, based.embedder), based.config.retrieval)
        assert hits
        for hit in hits:
            passage = index.passage(hit.row)
            assert passage["doc_id"] != "harbour-lighthouse" and "Iceland" not in passage["text"]

    # A second change: the delta is written again, and only the changed file is embedded.
    based.write("orchard-frost.txt", NEWS_ARTICLES["orchard-frost.txt"] + "Pears survived.\n")
    again = based.build()
    index = based.load()
    assert index.manifest.base_id == base_dir.name and base_dir.is_dir()
    assert again.passages_embedded == index.manifest.sources["orchard-frost.txt"]["passages"]
    chess = based.answer("Where will the chess champion go with her coach?", index)
    assert "training camp in Norway" in chess.citations[0].snippet


def test_bm25_scores_a_delta_with_the_idf_a_merged_build_would_have(
    based: TempIndex, tmp_path: Path
) -> None:
    change_three_articles(based)
    based.build()
    segmented = based.load()
    assert segmented.manifest.base_id is not None

    merged = TempIndex(based.corpus, tmp_path / "merged", based.embedder, based.config,
                       based.passages)  # fmt: skip
    configure(merged, delta_merge_fraction=0)
    merged.build()
    whole = merged.load()

    terms = set(tokenize([NEW_CHESS, NEWS_ARTICLES["orchard-frost.txt"], "lighthouse rocket"])[0])
    terms |= set(tokenize([NEWS_ARTICLES["harbour-lighthouse.md"]])[0])
    for term in sorted(terms):
        assert segmented.idf(term) == pytest.approx(whole.idf(term), rel=1e-9), term


def test_a_merge_answers_as_a_full_build_does(based: TempIndex, tmp_path: Path) -> None:
    change_three_articles(based)
    based.build()
    assert based.load().manifest.base_id is not None
    configure(based, delta_min_passages=1, delta_merge_fraction=0.01)
    based.write("orchard-frost.txt", NEWS_ARTICLES["orchard-frost.txt"] + "Pears survived.\n")

    report = based.build()  # publishes a delta, then merges it: past 1% of the base

    merged = based.load()
    assert merged.manifest.base_id is None
    assert report.passages_embedded == merged.manifest.sources["orchard-frost.txt"]["passages"]
    assert "harbour-lighthouse" not in merged.articles
    full = TempIndex(based.corpus, tmp_path / "full", based.embedder, based.config,
                     based.passages)  # fmt: skip
    configure(full, delta_merge_fraction=0)
    full.build()
    reference = full.load()
    assert [r["id"] for r in merged.passages] == [r["id"] for r in reference.passages]
    for question in QUESTIONS:
        ours, theirs = based.answer(question, merged), full.answer(question, reference)
        assert ours.found == theirs.found
        assert [(c.doc_id, c.snippet) for c in ours.citations] == [
            (c.doc_id, c.snippet) for c in theirs.citations
        ]
        for mine, its in zip(ours.citations, theirs.citations, strict=True):
            assert mine.score == pytest.approx(its.score, abs=1e-4)


def test_an_article_id_claimed_across_base_and_delta_is_resolved_by_a_merge(
    based: TempIndex,
) -> None:
    based.write("chess-final.txt", "A second note about the chess final in Tartu. " * 12)

    report = based.build()

    index = based.load()
    assert index.manifest.base_id is None  # merged, so ids are those of a full build
    assert report.passages_embedded > 0
    assert {"chess-final"} < {a for a in index.articles if a.startswith("chess-final")}


def test_a_delta_whose_base_is_gone_is_refused_and_the_next_build_starts_over(
    based: TempIndex,
) -> None:
    base_dir = IndexLayout(based.index_dir).current_build()
    assert base_dir is not None
    change_three_articles(based)
    based.build()
    shutil.rmtree(base_dir)

    with pytest.raises(CitebotError, match="citebot index --full"):
        based.load()
    report = based.build()

    index = based.load()
    assert index.manifest.base_id is None
    assert report.passages_embedded == report.passages  # nothing left to reuse
    assert based.answer("What did the frost do to the apples?", index).citations[0].doc_id == (
        "orchard-frost"
    )
