"""Build identity (issue 11, item 7): every setting that changes what a build holds makes the next
build follow it. The faiss index type and its parameters are rebuilt from the saved vectors
(nothing embedded again); passage settings embed everything again; query-time settings need no
build; and a resumed build never takes chunks that were embedded under other settings."""

from __future__ import annotations

import threading

import faiss
import pytest

from index.build_identity import plan_key
from index.builder import build_index
from index.config import CorpusConfig
from index.errors import BuildCancelledError
from index.models import BuildProgress
from index.retriever import LoadedIndex
from index.store import IndexLayout
from tests.index_fixtures import NEWS_ARTICLES, TempIndex
from tests.test_core_index import CHUNK, SMALL_PASSAGES, saved_chunks, write_town_news


def configure(temp: TempIndex, **settings: object) -> None:
    """Change the index settings the next builds and loads use (as editing config.yaml does)."""
    index = temp.config.index.model_copy(update=settings)
    temp.config = temp.config.model_copy(update={"index": index})


def test_changing_the_index_type_rebuilds_the_faiss_index_from_the_saved_vectors(
    temp_index: TempIndex,
) -> None:
    temp_index.write_news()
    configure(temp_index, index_type="flat")
    first = temp_index.build()
    assert isinstance(temp_index.load().dense, faiss.IndexFlat)

    configure(temp_index, index_type="hnsw", hnsw_m=16)
    second = temp_index.build()

    assert not second.unchanged and second.build_id != first.build_id
    assert second.passages_embedded == 0  # the vectors are the saved ones
    loaded = temp_index.load()
    assert loaded.manifest.data["index_type"] == "hnsw"
    assert loaded.manifest.structure() == {
        "index_type": "hnsw", "hnsw_m": 16, "hnsw_ef_construction": 80, "sentence_vectors": True,
    }  # fmt: skip
    assert isinstance(loaded.dense, faiss.IndexHNSW)
    assert loaded.dense.ntotal == second.passages
    answer = temp_index.answer("How many people booked lighthouse tours?", loaded)
    assert answer.citations[0].doc_id == "harbour-lighthouse"

    configure(temp_index, index_type="hnsw", hnsw_m=24)  # a build parameter of the index
    third = temp_index.build()
    assert not third.unchanged and third.passages_embedded == 0
    assert temp_index.load().manifest.structure()["hnsw_m"] == 24  # type: ignore[index]

    configure(temp_index, index_type="hnsw", hnsw_m=24, hnsw_ef_search=77)  # query time only
    fourth = temp_index.build()
    assert fourth.unchanged and fourth.build_id == third.build_id
    assert temp_index.load().dense.hnsw.efSearch == 77


def test_turning_sentence_vectors_off_rewrites_the_build_without_them(
    temp_index: TempIndex,
) -> None:
    temp_index.write_news()
    configure(temp_index, sentence_vectors="on")
    temp_index.build()
    assert temp_index.load().sentences is not None

    configure(temp_index, sentence_vectors="off")
    report = temp_index.build()

    assert not report.unchanged and report.passages_embedded == 0
    loaded = temp_index.load()
    assert loaded.sentences is None and loaded.manifest.data["sentence_vectors"] == 0


def stop_after_first_chunk(temp: TempIndex) -> None:
    """Start a build of the town news and stop it once one chunk of vectors is saved."""
    cancel = threading.Event()

    def progress(_update: BuildProgress) -> None:
        if saved_chunks(temp.index_dir):
            cancel.set()

    with pytest.raises(BuildCancelledError):
        build_index(
            CorpusConfig(path=temp.corpus), temp.passages, temp.index_config,
            lambda: temp.embedder, progress, cancel=cancel,
        )  # fmt: skip
    assert saved_chunks(temp.index_dir)


def test_a_resumed_build_takes_no_chunk_embedded_under_other_passage_settings(
    temp_index: TempIndex,
) -> None:
    temp_index.passages = temp_index.passages.model_copy(update=SMALL_PASSAGES)
    temp_index.chunk_size = CHUNK
    temp_index.write("harbour-lighthouse.md", NEWS_ARTICLES["harbour-lighthouse.md"])
    temp_index.build()
    write_town_news(temp_index)
    stop_after_first_chunk(temp_index)
    staged = {path.parent.parent.name for path in saved_chunks(temp_index.index_dir)}

    temp_index.passages = temp_index.passages.model_copy(update={"max_words": 24})
    report = temp_index.build()

    # Other passages: every one is embedded by this build, none taken from the staged chunks.
    assert report.passages_embedded == report.passages
    layout = IndexLayout(temp_index.index_dir)
    assert not layout.staging.exists() or not ({p.name for p in layout.staging.iterdir()} & staged)
    loaded = LoadedIndex.open_current(temp_index.index_config)
    assert loaded.manifest.data["passage_config"]["max_words"] == 24


def test_a_resumed_build_keeps_its_chunks_when_only_the_index_type_changed(
    temp_index: TempIndex,
) -> None:
    temp_index.passages = temp_index.passages.model_copy(update=SMALL_PASSAGES)
    temp_index.chunk_size = CHUNK
    temp_index.write("harbour-lighthouse.md", NEWS_ARTICLES["harbour-lighthouse.md"])
    first = temp_index.build()
    write_town_news(temp_index)
    stop_after_first_chunk(temp_index)

    configure(temp_index, index_type="hnsw")  # what is built from the vectors, not the vectors
    report = temp_index.build()

    new = report.passages - first.passages
    assert 0 < report.passages_embedded < new  # the saved chunk was resumed
    assert temp_index.load().manifest.data["index_type"] == "hnsw"


@pytest.mark.parametrize(
    "change",
    [
        {"chunk_size": 32},
        {"sentence_vectors": "off"},
        {"multilingual_model": "none"},
        {"model": "another-model"},
    ],
)
def test_the_staging_folder_is_named_by_everything_its_chunks_depend_on(
    temp_index: TempIndex, change: dict[str, object]
) -> None:
    index = temp_index.index_config.model_copy(update={"backend": "torch"})
    files = [("a.md", "0" * 64)]
    with_sentences = index.sentence_vectors != "off"
    before = plan_key(index, temp_index.passages, with_sentences, files)
    changed = index.model_copy(update=change)
    after = plan_key(changed, temp_index.passages, changed.sentence_vectors != "off", files)
    assert after != before
    moved = index.model_copy(update={"index_type": "ivf", "hnsw_m": 8, "ivf_nprobe": 5})
    assert plan_key(moved, temp_index.passages, with_sentences, files) == before
