"""Scale on a small scale: the faiss index type follows the corpus size (and the config when it
says so), an approximate index finds what exact search finds, the ONNX backends embed like the
torch model, and a change of backend re-embeds everything instead of mixing vectors."""

from __future__ import annotations

import math
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import faiss
import numpy as np
import pytest

from bot.config import AppConfig
from index.builder import build_index
from index.config import CorpusConfig, IndexConfig
from index.embedder import Embedder, model_cache_dir
from index.errors import IndexMismatchError
from index.models import BuildReport
from index.retriever import LoadedIndex, Query
from tests.index_fixtures import SHIPPED_CORPUS

QUESTIONS = (
    "Which country's flag did Roscosmos leave on the rocket at Baikonur?",
    "Why did Russia stop delivering rocket engines to the United States?",
    "What did Roscosmos demand from OneWeb?",
    "Will the Russian segment of the ISS be detached?",
)


@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = tmp_path_factory.mktemp("scale") / "corpus"
    shutil.copytree(SHIPPED_CORPUS, corpus)
    return corpus


@pytest.fixture(scope="module")
def shared_model_cache(core_config: AppConfig, core_index_dir: Path) -> Path:
    """The session index's ONNX exports, so these tests export nothing again."""
    return model_cache_dir(core_config.index.model_copy(update={"path": core_index_dir}))


def build(
    corpus: Path, index_config: IndexConfig, embedder: Embedder, config: AppConfig
) -> BuildReport:
    return build_index(CorpusConfig(path=corpus), config.passages, index_config, lambda: embedder)


def index_config(config: AppConfig, path: Path, cache: Path, **settings: object) -> IndexConfig:
    return config.index.model_copy(update={"path": path, "model_cache": cache, **settings})


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"exact_max_passages": 5}, "hnsw"),
        ({"exact_max_passages": 100_000}, "flat"),
        ({"exact_max_passages": 5, "index_type": "flat"}, "flat"),
        ({"exact_max_passages": 100_000, "index_type": "ivf"}, "ivf"),
    ],
)
def test_the_index_type_follows_the_corpus_size_unless_the_config_names_one(
    settings: dict[str, object],
    expected: str,
    shipped_copy: Path,
    tmp_path: Path,
    shared_model_cache: Path,
    core_embedder: Embedder,
    core_config: AppConfig,
) -> None:
    config = index_config(core_config, tmp_path / "index", shared_model_cache, **settings)
    report = build(shipped_copy, config, core_embedder, core_config)
    assert report.passages > 5

    loaded = LoadedIndex.open_current(config)
    assert loaded.manifest.data["index_type"] == expected
    kinds = {"flat": faiss.IndexFlat, "hnsw": faiss.IndexHNSW, "ivf": faiss.IndexIVF}
    assert isinstance(loaded.dense, kinds[expected])
    assert loaded.dense.ntotal == report.passages


def test_an_ivf_index_visits_twice_the_square_root_of_its_lists_unless_configured(
    shipped_copy: Path,
    tmp_path: Path,
    shared_model_cache: Path,
    core_embedder: Embedder,
    core_config: AppConfig,
) -> None:
    config = index_config(core_config, tmp_path / "index", shared_model_cache, index_type="ivf")
    build(shipped_copy, config, core_embedder, core_config)
    dense = LoadedIndex.open_current(config).dense
    assert dense.nprobe == int(2 * math.sqrt(dense.nlist)) > 1
    configured = config.model_copy(update={"ivf_nprobe": 3})
    assert LoadedIndex.open_current(configured).dense.nprobe == 3


def test_an_hnsw_index_finds_the_same_best_passage_as_exact_search(
    shipped_copy: Path,
    tmp_path: Path,
    shared_model_cache: Path,
    core_embedder: Embedder,
    core_config: AppConfig,
) -> None:
    loaded = {}
    for kind, threshold in (("flat", 100_000), ("hnsw", 5)):
        config = index_config(
            core_config, tmp_path / kind, shared_model_cache, exact_max_passages=threshold
        )
        build(shipped_copy, config, core_embedder, core_config)
        loaded[kind] = LoadedIndex.open_current(config)
    assert isinstance(loaded["hnsw"].dense, faiss.IndexHNSW)

    for question in QUESTIONS:
        query = Query.of(question, core_embedder)
        flat, hnsw = (loaded[k].search(query, core_config.retrieval) for k in loaded)
        assert flat and hnsw
        assert loaded["hnsw"].passage(hnsw[0].row) == loaded["flat"].passage(flat[0].row)


def test_the_onnx_and_openvino_backends_embed_like_the_torch_model(
    core_config: AppConfig, tmp_path: Path, shared_model_cache: Path
) -> None:
    passages = [
        "Roscosmos removed the flags of the United States, Japan and the UK from the rocket.",
        "The harvest was less than half of last year's after a late frost destroyed the blossom.",
        "A sixteen-year-old won the national chess championship after a six-hour final game.",
    ]
    vectors = {
        backend: Embedder(
            index_config(core_config, tmp_path / "index", shared_model_cache, backend=backend)
        ).embed_passages(passages)
        for backend in ("torch", "onnx", "onnx-int8", "openvino")
    }
    for backend, bound in (("onnx", 0.999), ("onnx-int8", 0.98), ("openvino", 0.999)):
        cosines = (vectors[backend] * vectors["torch"]).sum(axis=1)
        assert cosines.min() >= bound, (backend, cosines)
        assert np.allclose(np.linalg.norm(vectors[backend], axis=1), 1.0, atol=1e-5)
    assert not list(shared_model_cache.glob(".tmp-*")), "an export left its temporary folder"


def test_the_onnx_backends_tokenize_exactly_as_transformers_does() -> None:
    """They read tokenizer.json with `tokenizers` (a cold ask without importing transformers
    and torch): the ids, masks and truncation must be transformers' own."""
    from transformers import AutoTokenizer

    from index.embedder import resolve_model
    from index.onnx_backend import _Tokenizer

    model = Path(resolve_model("default"))
    texts = [
        "Who heads Roscosmos?",
        "Кто возглавляет «Роскосмос»? — Дмитрий Рогозин, с 2018 года.",
        "",
        "Ünïcödé, 日本語 and 😀 emoji",
        "word " * 400,  # past the 256 tokens the model reads: truncated alike
    ]
    ours = _Tokenizer.of(model, 256)(texts)
    theirs = AutoTokenizer.from_pretrained(str(model))(
        texts, padding=True, truncation=True, max_length=256, return_tensors="np"
    )
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        assert ours[name].shape == theirs[name].shape, name
        assert (ours[name] == theirs[name]).all(), name
    assert ours["input_ids"].shape[1] == 256


def test_the_default_cpu_backend_is_openvino_and_embeds_questions_during_a_build(
    core_embedder: Embedder,
) -> None:
    """The bot embeds a question on an answer thread while /reindex embeds passages on another:
    both get exactly the vectors they would get alone."""
    assert core_embedder.backend == "openvino"
    passages = [f"{sentence} ({n})" for n in range(40) for sentence in QUESTIONS]
    alone_passages = core_embedder.embed_passages(passages)
    alone_questions = [core_embedder.embed_query(q) for q in QUESTIONS]
    with ThreadPoolExecutor(2) as pool:
        building = pool.submit(core_embedder.embed_passages, passages)
        asked = [pool.submit(core_embedder.embed_query, q) for q in QUESTIONS * 5]
        together = building.result()
        answers = [future.result() for future in asked]
    assert np.allclose(together, alone_passages, atol=1e-5)
    for answer, question in zip(answers, QUESTIONS * 5, strict=True):
        assert np.allclose(answer, alone_questions[QUESTIONS.index(question)], atol=1e-5)


def test_changing_the_backend_re_embeds_everything_and_old_vectors_are_refused(
    core_config: AppConfig, tmp_path: Path, shared_model_cache: Path, shipped_copy: Path
) -> None:
    int8 = index_config(core_config, tmp_path / "index", shared_model_cache, backend="onnx-int8")
    onnx = int8.model_copy(update={"backend": "onnx"})
    first = build(shipped_copy, int8, Embedder(int8), core_config)
    assert first.passages_embedded == first.passages

    with pytest.raises(IndexMismatchError, match=r"backend 'onnx-int8'.*backend 'onnx'.*--full"):
        LoadedIndex.open_current(onnx)

    second = build(shipped_copy, onnx, Embedder(onnx), core_config)
    assert second.passages_embedded == second.passages == first.passages
    loaded = LoadedIndex.open_current(onnx)
    assert loaded.manifest.data["model"]["backend"] == "onnx"
    assert build(shipped_copy, onnx, Embedder(onnx), core_config).unchanged
