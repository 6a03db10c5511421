"""Shared parts of the retrieval-core tests: one real index of the shipped corpus per session
(built once through CitebotService, with the real model, faiss and bm25s), small temporary
corpora indexed with that same loaded model, and a runner for the real `citebot` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.config import AppConfig, load_config
from index.answering import answer_question
from index.builder import build_index
from index.config import CorpusConfig, IndexConfig, PassageConfig
from index.embedder import Embedder
from index.models import Answer, BuildReport
from index.retriever import LoadedIndex
from index.service import CitebotService

__all__ = [
    "CORE_CONFIG_FILE",
    "JSON_ANSWER_KEYS",
    "JSON_CITATION_KEYS",
    "NEWS_ARTICLES",
    "SHIPPED_CORPUS",
    "SHIPPED_DOC_IDS",
    "TempIndex",
    "assert_answer_json",
    "citebot_command",
    "citebot_env",
    "core_config",
    "core_embedder",
    "core_index_dir",
    "core_service",
    "run_citebot",
    "temp_index",
]

REPO = Path(__file__).resolve().parents[1]
SHIPPED_CORPUS = REPO / "corpus"
CORE_CONFIG_FILE = REPO / "config.yaml"
# Where `citebot` keeps model exports with the shipped config (gitignored). Every test index
# shares it, so a model is exported once per machine rather than once per temporary index.
MODEL_CACHE = REPO / "data" / "models"
SHARES_MODEL_CACHE = "model_cache" in IndexConfig.model_fields
SHIPPED_DOC_IDS = (
    "2022-03-03-rocket-engine-deliveries-halted",
    "2022-03-04-baikonur-flags-india",
    "2022-03-07-russia-iss-segment-detach-video",
    "soyuz-flags-oneweb-ultimatum",
    "soyuz-transporter-z-markings",
)

JSON_ANSWER_KEYS = {"question", "found", "answer", "citations"}
JSON_CITATION_KEYS = {
    "rank", "doc_id", "title", "date", "source", "url", "also_in", "snippet", "passage", "score",
}  # fmt: skip

# Small articles on topics far from the shipped corpus, so a question about one finds only it.
NEWS_ARTICLES: dict[str, str] = {
    "harbour-lighthouse.md": (
        "---\n"
        "title: Harbour lighthouse reopens after restoration\n"
        "date: 2023-05-02\n"
        "source: Coastal Times\n"
        "url: https://example.org/lighthouse\n"
        "---\n"
        "The old harbour lighthouse reopened to visitors on Tuesday after a two-year restoration "
        "that replaced its rusted lantern room and repaired the spiral staircase. The town council "
        "said more than four thousand people had booked tours for the first month.\n\n"
        "The keeper's cottage now houses a small museum about shipwrecks along the northern coast. "
        "Volunteers from the maritime society will guide the tours every weekend until the end of "
        "September, and school classes may visit on weekdays without charge.\n"
    ),
    "chess-final.md": (
        "---\n"
        "title: Teenager wins the national chess final\n"
        "date: 2023-06-11\n"
        "source: Board Weekly\n"
        "---\n"
        "A sixteen-year-old from Tartu won the national chess championship on Sunday after a tense "
        "final game that lasted more than six hours. She sacrificed a rook on move thirty-one and "
        "forced checkmate twenty moves later. The defending champion resigned and congratulated "
        "her at the board.\n\n"
        "The winner receives a place in the European team and a prize of five thousand euros, "
        "which she said she would spend on a trip to a tournament in Iceland.\n"
    ),
    "orchard-frost.txt": (
        "date 2023-04-20 A late frost destroyed most of the apple blossom in the valley orchards "
        "this week, growers said on Thursday. Temperatures fell to minus five degrees during two "
        "clear nights, and the smudge pots that farmers lit between the rows could not protect the "
        "flowers. The growers' cooperative expects the apple harvest to be less than half of last "
        "year's. Cider makers have already started buying fruit from other regions to keep their "
        "presses running through the autumn.\n"
    ),
}


@pytest.fixture(scope="session")
def core_config() -> AppConfig:
    """The shipped config.yaml, as `citebot` reads it (with the shared model cache)."""
    config = load_config(CORE_CONFIG_FILE)
    if not SHARES_MODEL_CACHE:
        return config
    index = config.index.model_copy(update={"model_cache": MODEL_CACHE})
    return config.model_copy(update={"index": index})


@pytest.fixture(scope="session")
def core_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("core-index") / "index"


@pytest.fixture(scope="session")
def core_service(core_config: AppConfig, core_index_dir: Path) -> CitebotService:
    """The shipped corpus, indexed once per session in a temporary folder."""
    service = CitebotService(
        core_config.corpus.model_copy(update={"path": SHIPPED_CORPUS}),
        core_config.passages,
        core_config.index.model_copy(update={"path": core_index_dir}),
        core_config.retrieval,
        core_config.answer,
    )
    service.rebuild()
    return service


@pytest.fixture(scope="session")
def core_embedder(core_service: CitebotService) -> Embedder:
    """The one loaded model every test shares."""
    return core_service.embedder


@dataclass
class TempIndex:
    """A corpus folder of its own and its index, built and queried with the session's model."""

    corpus: Path
    index_dir: Path
    embedder: Embedder
    config: AppConfig
    passages: PassageConfig
    chunk_size: int = 4096

    @property
    def index_config(self) -> IndexConfig:
        return self.config.index.model_copy(
            update={"path": self.index_dir, "chunk_size": self.chunk_size}
        )

    def write(self, name: str, text: str | bytes) -> Path:
        path = self.corpus / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def write_news(self) -> None:
        for name, text in NEWS_ARTICLES.items():
            self.write(name, text)

    def build(self, full: bool = False) -> BuildReport:
        return build_index(
            CorpusConfig(path=self.corpus),
            self.passages,
            self.index_config,
            lambda: self.embedder,
            full=full,
        )

    def load(self) -> LoadedIndex:
        return LoadedIndex.open_current(self.index_config)

    def answer(self, question: str, index: LoadedIndex | None = None) -> Answer:
        return answer_question(
            question,
            index or self.load(),
            self.embedder,
            self.config.retrieval,
            self.config.answer,
        )


@pytest.fixture
def temp_index(tmp_path: Path, core_embedder: Embedder, core_config: AppConfig) -> TempIndex:
    """An empty corpus folder and no index yet."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    return TempIndex(corpus, tmp_path / "index", core_embedder, core_config, core_config.passages)


def citebot_env(**overrides: str | Path) -> dict[str, str]:
    """The environment for a `citebot` run: offline, the shipped config, plus CITEBOT_ overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    env.update(HF_HUB_OFFLINE="1", CITEBOT_CONFIG=str(CORE_CONFIG_FILE))
    if SHARES_MODEL_CACHE:
        env["CITEBOT_INDEX__MODEL_CACHE"] = str(MODEL_CACHE)
    env.update({key: str(value) for key, value in overrides.items()})
    return env


def citebot_command(*args: str) -> list[str]:
    """The installed `citebot` console script of this virtual environment, with arguments."""
    return [str(Path(sys.executable).with_name("citebot")), *args]


def run_citebot(
    *args: str,
    env: Mapping[str, str],
    cwd: Path,
    stdin: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run the installed `citebot` console script as a user would."""
    return subprocess.run(
        citebot_command(*args),
        input=stdin,
        capture_output=True,
        text=True,
        env=dict(env),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def assert_answer_json(line: str) -> dict[str, Any]:
    """Check one line of `citebot ask --json` against the public schema; return the object."""
    data = json.loads(line)
    assert isinstance(data, dict)
    assert set(data) == JSON_ANSWER_KEYS
    assert isinstance(data["question"], str)
    assert isinstance(data["found"], bool)
    assert isinstance(data["answer"], str) and data["answer"]
    assert isinstance(data["citations"], list)
    assert data["found"] == bool(data["citations"])
    for rank, citation in enumerate(data["citations"], start=1):
        assert set(citation) == JSON_CITATION_KEYS
        assert citation["rank"] == rank and type(citation["rank"]) is int
        for key in ("doc_id", "title", "snippet", "passage"):
            assert isinstance(citation[key], str) and citation[key], key
        for key in ("date", "source", "url"):
            assert citation[key] is None or isinstance(citation[key], str), key
        assert isinstance(citation["also_in"], list)
        assert all(isinstance(doc_id, str) for doc_id in citation["also_in"])
        assert isinstance(citation["score"], float)
    return data
