"""Turns a question and a loaded index into an Answer: clean, search, decide, quote, merge."""

from __future__ import annotations

import re
import time

from index.config import AnswerConfig, RetrievalConfig
from index.embedder import Embedder
from index.lexical import tokenize
from index.models import Answer, Citation, Hit
from index.retriever import LoadedIndex
from index.snippets import Snippet, make_snippets

NOT_FOUND = "I couldn't find anything about that in the articles."
EMPTY_QUESTION = "Ask me a question about the articles, for example: who is Dmitry Rogozin?"

_LEADING_COMMAND = re.compile(r"^\s*/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?(?=\s|$)")
_BOT_MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_]*bot\b", re.IGNORECASE)
_WORDLIKE = re.compile(r"\w")
_NORMALISE = re.compile(r"[\W_]+")
MAX_QUESTION_CHARS = 1000  # the model reads 256 word pieces; more only slows BM25 down


def clean_question(text: str, bot_username: str | None = None) -> str:
    """Drop a leading /command, mentions of the bot and extra white space."""
    text = _LEADING_COMMAND.sub(" ", text or "", count=1)
    if bot_username:
        text = re.sub(rf"(?<![\w@])@{re.escape(bot_username)}\b", " ", text, flags=re.IGNORECASE)
    text = _BOT_MENTION.sub(" ", text)
    return " ".join(text.split())[:MAX_QUESTION_CHARS]


def answer_question(
    question: str,
    index: LoadedIndex,
    embedder: Embedder,
    retrieval: RetrievalConfig,
    config: AnswerConfig,
    max_citations: int | None = None,
) -> Answer:
    started = time.perf_counter()
    cleaned = clean_question(question)
    if not _WORDLIKE.search(cleaned):
        return Answer(cleaned, False, EMPTY_QUESTION, (), time.perf_counter() - started)
    terms = tokenize([cleaned])[0]
    hits = index.search(embedder.embed_query(cleaned), terms, retrieval)
    best = max((hit.dense_score for hit in hits), default=-1.0)
    if best < config.min_score:
        return Answer(cleaned, False, NOT_FOUND, (), time.perf_counter() - started)
    floor = max(config.min_score, best * config.relative_cutoff)
    relevant = [hit for hit in hits if hit.dense_score >= floor]
    citations = _cite(relevant, terms, index, config, max_citations or config.max_citations)
    text = citations[0].snippet[slice(*citations[0].highlight)] if citations else NOT_FOUND
    return Answer(cleaned, bool(citations), text, tuple(citations), time.perf_counter() - started)


def _cite(
    hits: list[Hit], terms: list[str], index: LoadedIndex, config: AnswerConfig, limit: int
) -> list[Citation]:
    """Quote the hits in rank order; a passage whose best sentence is already quoted (the same
    quote carried by several articles) is merged into the earlier citation."""
    passages = [index.passage(hit.row) for hit in hits]
    snippets = make_snippets(
        [p["text"] for p in passages], terms, index.lexical.idf, config.snippet_max_chars
    )
    kept: list[tuple[Hit, dict, Snippet, list[str]]] = []
    for hit, passage, snippet in zip(hits, passages, snippets, strict=True):
        key = _normalise(snippet.best_sentence)
        earlier = next((k for k in kept if key and key in _normalise(k[1]["text"])), None)
        if earlier is not None:
            doc_id = passage["doc_id"]
            if doc_id != earlier[1]["doc_id"] and doc_id not in earlier[3]:
                earlier[3].append(doc_id)
            continue
        if len(kept) < limit:
            kept.append((hit, passage, snippet, []))
    return [
        _citation(rank, hit, passage, snippet, also_in, index)
        for rank, (hit, passage, snippet, also_in) in enumerate(kept, start=1)
    ]


def _citation(
    rank: int, hit: Hit, passage: dict, snippet: Snippet, also_in: list[str], index: LoadedIndex
) -> Citation:
    article = index.articles[passage["doc_id"]]
    return Citation(
        rank=rank,
        doc_id=article.doc_id,
        title=article.title,
        date=article.date,
        source=article.source,
        url=article.url,
        also_in=tuple(also_in),
        snippet=snippet.text,
        passage=passage["text"],
        score=hit.dense_score,
        passage_id=passage["id"],
        highlight=snippet.highlight,
    )


def _normalise(text: str) -> str:
    return _NORMALISE.sub(" ", text.lower()).strip()
