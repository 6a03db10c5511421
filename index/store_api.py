"""What answering needs from an index, whichever store holds it.

`LoadedIndex` (index/retriever.py: one published build of local files) and `PgIndex`
(index/pg_index.py: PostgreSQL + pgvector) implement it; index/stores.py picks one. Answering
(index/answering.py) and the service see only this protocol, so answers and the JSON contract
do not change with the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from index.config import RetrievalConfig
from index.models import Hit, SourceInfo

if TYPE_CHECKING:
    from index.retriever import Query


class SearchIndex(Protocol):
    """One consistent state of the index: what a question is answered from."""

    @property
    def build_id(self) -> str: ...

    @property
    def articles(self) -> Mapping[str, SourceInfo]:
        """Every indexed article by doc_id."""

    def search(self, query: Query, config: RetrievalConfig) -> list[Hit]:
        """Fused candidates, best first, each with its exact cosines to the question."""

    def passage(self, row: int) -> dict[str, Any]:
        """A hit's passage: id, doc_id, text (and where it sits in its article)."""

    def article_text(self, doc_id: str) -> str | None: ...

    def sentence_cosines(self, row: int, query: Query, english: bool) -> np.ndarray | None:
        """Each sentence of passage `row` against the question, in the English model's space
        (`english`) or the multilingual one's; None when the build keeps no sentence vectors."""

    def idf(self, term: str) -> float:
        """The BM25 inverse document frequency of a (stemmed) question term."""
