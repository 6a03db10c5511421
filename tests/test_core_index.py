"""The index on disk: a manifest that vouches for every file, loads that refuse a damaged or
foreign index with the fix to run, builds that embed only what changed, and builds that can be
killed at any moment without harming the index that is serving."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from bot.config import AppConfig
from bot.terminal_text import render_build_report
from index.errors import BuildInProgressError, IndexMismatchError, IndexNotFoundError
from index.retriever import LoadedIndex
from index.service import CitebotService
from index.store import FORMAT_VERSION, BuildLock, IndexLayout
from tests.index_fixtures import (
    NEWS_ARTICLES,
    SHIPPED_CORPUS,
    TempIndex,
    citebot_command,
    citebot_env,
)

# ----------------------------------------------------------------------------- the manifest


def test_the_manifest_vouches_for_every_file_of_the_build(
    core_service: CitebotService, core_index_dir: Path
) -> None:
    build = IndexLayout(core_index_dir).current_build()
    assert build is not None
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))

    assert manifest["format_version"] == FORMAT_VERSION == 3
    assert manifest["sentence_vectors"] > manifest["passage_count"]
    assert (manifest["model"]["name"], manifest["model"]["dimension"]) == ("default", 384)
    multilingual = manifest["multilingual_model"]
    assert (multilingual["name"], multilingual["dimension"]) == ("use-multilingual-v3", 512)
    assert manifest["tokenizer"]
    passage_lines = (build / "passages.jsonl").read_text(encoding="utf-8").splitlines()
    assert manifest["passage_count"] == len(passage_lines) > 10
    articles = {p.name for p in SHIPPED_CORPUS.glob("*.md") if p.name != "README.md"}
    assert set(manifest["sources"]) == articles
    for name, info in manifest["sources"].items():
        assert info["sha256"] == hashlib.sha256((SHIPPED_CORPUS / name).read_bytes()).hexdigest()
    built_at = datetime.fromisoformat(manifest["built_at"])
    assert built_at.tzinfo is not None
    assert datetime.now(UTC) - built_at < timedelta(hours=1)

    on_disk = {
        p.relative_to(build).as_posix()
        for p in build.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert set(manifest["files"]) == on_disk
    assert {"vectors.npy", "dense.faiss", "passages.jsonl", "documents.jsonl"} <= on_disk
    assert any(name.startswith("bm25/") for name in on_disk)
    for name, info in manifest["files"].items():
        data = (build / name).read_bytes()
        assert info == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


# ------------------------------------------------------------------- loading checks the manifest


def truncate(name: str) -> Callable[[Path], None]:
    def damage(build: Path) -> None:
        data = (build / name).read_bytes()
        (build / name).write_bytes(data[: len(data) // 2])

    return damage


def flip_bytes(name: str) -> Callable[[Path], None]:
    def damage(build: Path) -> None:
        data = bytearray((build / name).read_bytes())
        data[-8:] = bytes(255 - b for b in data[-8:])
        (build / name).write_bytes(bytes(data))

    return damage


def edit_manifest(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(build: Path) -> None:
        manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
        edit(manifest)
        (build / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    return damage


def write_file(name: str, text: str) -> Callable[[Path], None]:
    return lambda build: (build / name).write_text(text, encoding="utf-8")


DAMAGES = {
    "truncated dense.faiss": truncate("dense.faiss"),
    "truncated vectors.npy": truncate("vectors.npy"),
    "truncated passages.jsonl": truncate("passages.jsonl"),
    "vectors.npy changed in place": flip_bytes("vectors.npy"),
    "bm25 folder missing": lambda build: shutil.rmtree(build / "bm25"),
    "passage count edited": edit_manifest(lambda m: m.update(passage_count=m["passage_count"] + 1)),
    "checksum edited": edit_manifest(lambda m: m["files"]["dense.faiss"].update(sha256="0" * 64)),
    "dimension edited": edit_manifest(lambda m: m["model"].update(dimension=768)),
    "old format version": edit_manifest(lambda m: m.update(format_version=0)),
    "manifest not JSON": write_file("manifest.json", '{"format_version": 1, "files": '),
}


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_a_damaged_index_is_refused_with_the_command_that_fixes_it(
    core_service: CitebotService,
    core_index_dir: Path,
    core_config: AppConfig,
    tmp_path: Path,
    damage: Callable[[Path], None],
) -> None:
    copy = tmp_path / "index"
    shutil.copytree(core_index_dir, copy, symlinks=True)
    config = core_config.index.model_copy(update={"path": copy})
    LoadedIndex.open_current(config)  # the copy itself is sound
    build = IndexLayout(copy).current_build()
    assert build is not None

    damage(build)

    with pytest.raises(IndexMismatchError, match="`citebot index"):
        LoadedIndex.open_current(config)


def test_an_index_without_its_manifest_is_not_an_index(
    core_service: CitebotService, core_index_dir: Path, core_config: AppConfig, tmp_path: Path
) -> None:
    copy = tmp_path / "index"
    shutil.copytree(core_index_dir, copy, symlinks=True)
    build = IndexLayout(copy).current_build()
    assert build is not None
    (build / "manifest.json").unlink()

    with pytest.raises(IndexNotFoundError, match="`citebot index"):
        LoadedIndex.open_current(core_config.index.model_copy(update={"path": copy}))


def test_an_index_built_with_another_model_is_refused(
    core_service: CitebotService, core_index_dir: Path, core_config: AppConfig
) -> None:
    other = CitebotService(
        core_config.corpus.model_copy(update={"path": SHIPPED_CORPUS}),
        core_config.passages,
        core_config.index.model_copy(
            update={"path": core_index_dir, "model": "sentence-transformers/all-mpnet-base-v2"}
        ),
        core_config.retrieval,
        core_config.answer,
    )
    with pytest.raises(IndexMismatchError) as refused:
        other.answer("Who is Rogozin?")
    message = str(refused.value)
    assert "all-mpnet-base-v2" in message and "'default'" in message
    assert "`citebot index" in message


def test_asking_before_any_build_says_to_run_citebot_index(
    core_config: AppConfig, tmp_path: Path
) -> None:
    service = CitebotService(
        core_config.corpus.model_copy(update={"path": SHIPPED_CORPUS}),
        core_config.passages,
        core_config.index.model_copy(update={"path": tmp_path / "no-index-here"}),
        core_config.retrieval,
        core_config.answer,
    )
    assert not service.has_index()
    with pytest.raises(IndexNotFoundError, match="`citebot index`"):
        service.answer("Who is Rogozin?")


# ------------------------------------------------------------------------ incremental builds


def passages_by_id(index: LoadedIndex) -> dict[str, dict]:
    return {record["id"]: record for record in index.passages}


def test_a_changed_article_is_the_only_one_embedded_again(temp_index: TempIndex) -> None:
    temp_index.write_news()
    first = temp_index.build()
    old = temp_index.load()
    old_rows = {record["id"]: row for row, record in enumerate(old.passages)}

    changed = NEWS_ARTICLES["chess-final.md"].replace(
        "a trip to a tournament in Iceland", "a training camp in Norway with her coach"
    )
    temp_index.write("chess-final.md", changed)
    report = temp_index.build()
    new = temp_index.load()

    assert report.files_changed == ("chess-final.md",)
    assert report.files_added == report.files_removed == ()
    assert report.passages_embedded == new.manifest.sources["chess-final.md"]["passages"] > 0
    assert report.passages_embedded < report.passages
    assert report.build_id != first.build_id == old.build_id
    for row, record in enumerate(new.passages):
        if record["doc_id"] != "chess-final":  # reused as they were, vectors and all
            assert passages_by_id(old)[record["id"]] == record
            assert np.array_equal(new.vectors[row], old.vectors[old_rows[record["id"]]])
    answer = temp_index.answer("Where will the chess champion go with her coach?", new)
    assert answer.citations[0].doc_id == "chess-final"
    assert "training camp in Norway" in answer.citations[0].snippet


def test_a_new_article_is_added_alone(temp_index: TempIndex) -> None:
    temp_index.write("harbour-lighthouse.md", NEWS_ARTICLES["harbour-lighthouse.md"])
    temp_index.write("chess-final.md", NEWS_ARTICLES["chess-final.md"])
    temp_index.build()
    temp_index.write("orchard-frost.txt", NEWS_ARTICLES["orchard-frost.txt"])

    report = temp_index.build()
    index = temp_index.load()

    assert report.files_added == ("orchard-frost.txt",)
    assert report.files_changed == report.files_removed == ()
    assert report.passages_embedded == index.manifest.sources["orchard-frost.txt"]["passages"]
    assert report.articles == 3 and set(index.articles) >= {"orchard-frost"}
    answer = temp_index.answer("What did the frost do to the apples?", index)
    assert answer.citations[0].doc_id == "orchard-frost"


def test_a_deleted_article_drops_out_without_embedding_anything(temp_index: TempIndex) -> None:
    temp_index.write_news()
    before = temp_index.build()
    chess_passages = temp_index.load().manifest.sources["chess-final.md"]["passages"]
    (temp_index.corpus / "chess-final.md").unlink()

    report = temp_index.build()
    index = temp_index.load()

    assert report.files_removed == ("chess-final.md",)
    assert report.files_added == report.files_changed == ()
    assert report.passages_embedded == 0
    assert report.passages == before.passages - chess_passages
    assert "chess-final" not in index.articles
    assert all(record["doc_id"] != "chess-final" for record in index.passages)
    answer = temp_index.answer("Who won the national chess championship?", index)
    assert all(c.doc_id != "chess-final" for c in answer.citations)


def test_full_rebuild_embeds_everything_and_keeps_the_passage_ids(temp_index: TempIndex) -> None:
    temp_index.write_news()
    first = temp_index.build()
    ids_before = list(passages_by_id(temp_index.load()))

    report = temp_index.build(full=True)

    assert report.passages_embedded == report.passages == first.passages
    assert report.build_id != first.build_id
    index = temp_index.load()
    assert list(passages_by_id(index)) == ids_before
    for record in index.passages:
        text = index.article_text(record["doc_id"])
        assert text is not None and text[record["start"] : record["end"]] == record["text"]


def test_an_unchanged_corpus_is_up_to_date(temp_index: TempIndex) -> None:
    temp_index.write_news()
    first = temp_index.build()
    serving = IndexLayout(temp_index.index_dir).current_build()

    again = temp_index.build()

    assert again.unchanged and again.passages_embedded == 0
    assert again.build_id == first.build_id
    assert IndexLayout(temp_index.index_dir).current_build() == serving
    assert render_build_report(again).startswith("Index is up to date: 3 articles")


def test_an_unreadable_file_does_not_make_every_build_a_new_one(temp_index: TempIndex) -> None:
    temp_index.write_news()
    temp_index.write("broken.md", b"\x00\x01 not an article")
    first = temp_index.build()
    assert first.skipped == ("broken.md: binary file",)

    again = temp_index.build()

    assert again.unchanged, "nothing changed, yet the index was built again"
    assert again.build_id == first.build_id


def test_a_second_build_while_one_runs_is_refused(temp_index: TempIndex) -> None:
    temp_index.write_news()
    with (
        BuildLock(IndexLayout(temp_index.index_dir)),
        pytest.raises(BuildInProgressError, match="already running"),
    ):
        temp_index.build()
    assert IndexLayout(temp_index.index_dir).current_build() is None
    assert temp_index.build().articles == 3  # the lock is free again


# ----------------------------------------------------------- a build killed in the middle


TOWNS = ("Tartu", "Narva", "Viljandi", "Rakvere", "Haapsalu", "Valga", "Paide", "Kuressaare")
BODIES = (
    "The town council", "A family bakery", "The football club", "The harbour authority",
    "The school board", "A cycling group", "The fire brigade", "The town museum",
)  # fmt: skip
DEEDS = (
    "approved a new playground", "postponed the summer festival", "repaired the old bridge",
    "opened a reading room", "funded the river cleanup", "cancelled the winter market",
    "restored the town clock", "bought two electric buses",
)  # fmt: skip
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
CHUNK = 16
SMALL_PASSAGES = {"min_words": 10, "max_words": 20}


def write_town_news(temp: TempIndex) -> None:
    """Eight articles of one-sentence passages (with 10–20 word passages): 136 to embed."""
    sentences = itertools.cycle(itertools.product(BODIES, DEEDS))
    for number, town in enumerate(TOWNS):
        lines = []
        for count in range(17):
            body, deed = next(sentences)
            day = DAYS[(number + count) % len(DAYS)]
            lines.append(f"{body} in {town} {deed} on {day} after {count + 12} residents asked.")
        temp.write(
            f"town-{town.lower()}.md", f"---\ntitle: News from {town}\n---\n" + "\n".join(lines)
        )


def saved_chunks(index_dir: Path) -> list[Path]:
    return [
        path
        for path in (index_dir / "staging").glob("*/chunks/*.npy")
        if re.fullmatch(r"\d{6}\.npy", path.name)
    ]


def test_a_killed_build_leaves_the_old_index_serving_and_the_next_build_resumes(
    temp_index: TempIndex, tmp_path: Path
) -> None:
    temp_index.passages = temp_index.passages.model_copy(update=SMALL_PASSAGES)
    temp_index.chunk_size = CHUNK
    temp_index.write("harbour-lighthouse.md", NEWS_ARTICLES["harbour-lighthouse.md"])
    temp_index.write("chess-final.md", NEWS_ARTICLES["chess-final.md"])
    first = temp_index.build()
    layout = IndexLayout(temp_index.index_dir)
    serving = layout.current_build()
    questions = ["How many people booked lighthouse tours?", "Who won the chess final?", "hello"]
    before = [json.dumps(temp_index.answer(q).to_json()) for q in questions]

    write_town_news(temp_index)
    env = citebot_env(
        CITEBOT_CORPUS__PATH=temp_index.corpus,
        CITEBOT_INDEX__PATH=temp_index.index_dir,
        CITEBOT_INDEX__CHUNK_SIZE=str(CHUNK),
        CITEBOT_PASSAGES__MIN_WORDS=str(SMALL_PASSAGES["min_words"]),
        CITEBOT_PASSAGES__MAX_WORDS=str(SMALL_PASSAGES["max_words"]),
    )
    with open(tmp_path / "stdout", "w") as out, open(tmp_path / "stderr", "w") as err:
        build = subprocess.Popen(
            citebot_command("index"), env=env, cwd=tmp_path, stdout=out, stderr=err
        )
    try:
        deadline = time.monotonic() + 90
        while not saved_chunks(temp_index.index_dir) and build.poll() is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.005)
    finally:
        build.kill()  # SIGKILL, once the first chunk of vectors is saved: no clean-up code runs
        build.wait()
    assert build.returncode == -9, (tmp_path / "stderr").read_text()
    chunks = len(saved_chunks(temp_index.index_dir))

    # The old index is still the one serving, and answers exactly as before.
    assert layout.current_build() == serving
    assert [json.dumps(temp_index.answer(q).to_json()) for q in questions] == before
    assert 1 <= chunks < 136 // CHUNK

    stale = layout.staging / "0123456789abcdef" / "chunks"
    stale.mkdir(parents=True)
    (stale / "000000.npy").write_bytes(b"left over from another plan")

    resumed = temp_index.build()  # (a full build would embed everything again)

    assert resumed.articles == 10
    assert layout.current_build() != serving
    assert not layout.staging.exists() or not any(layout.staging.iterdir())
    answer = temp_index.answer("What did the football club in Narva do?")
    assert answer.found and answer.citations[0].doc_id == "town-narva"
    # Only what the killed build had not saved yet is embedded again (a chunk holds passages
    # and their sentences, so fewer than CHUNK passages per saved chunk are skipped).
    assert 0 < resumed.passages_embedded < resumed.passages - first.passages
