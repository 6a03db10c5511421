"""Turns a question and a loaded index into an Answer: clean, search, decide, quote, merge."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import numpy as np

from index.answer_types import answering_sentences
from index.config import AnswerConfig, RetrievalConfig
from index.embedder import Embedder
from index.models import Answer, Citation, Hit
from index.retriever import Query
from index.snippets import ScoredSentences, Snippet, score_sentences
from index.store_api import SearchIndex

NOT_FOUND = "I couldn't find anything about that in the articles."
EMPTY_QUESTION = "Ask me a question about the articles, for example: who is Dmitry Rogozin?"

_LEADING_COMMAND = re.compile(r"^\s*/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?(?=\s|$)")
_BOT_MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_]*bot\b", re.IGNORECASE)
_WORDLIKE = re.compile(r"\w")
_NORMALISE = re.compile(r"[\W_]+")
# Ten words in a row shared by two quotes make them the same quote; shorter runs ("Roscosmos
# chief Dmitry Rogozin said") are shared by unrelated passages.
QUOTE_RUN_WORDS = 10
MAX_QUESTION_CHARS = 1000
# Hits quoted per citation shown: enough to merge repeated quotes, few enough to stay fast.
CANDIDATES_PER_CITATION = 4  # the model reads 256 word pieces; more only slows BM25 down
# Fused hits reordered by their best sentence's cosine: a passage whose one sentence answers
# beats one that is broadly on the topic (bench/RESULTS.md: +6 points of hit@1 on the dev set).
RERANK_DEPTH = 20


def clean_question(text: str, bot_username: str | None = None) -> str:
    """Drop a leading /command, mentions of the bot and extra white space."""
    text = _LEADING_COMMAND.sub(" ", text or "", count=1)
    if bot_username:
        text = re.sub(rf"(?<![\w@])@{re.escape(bot_username)}\b", " ", text, flags=re.IGNORECASE)
    text = _BOT_MENTION.sub(" ", text)
    return " ".join(text.split())[:MAX_QUESTION_CHARS]


def answer_question(
    question: str,
    index: SearchIndex,
    embedder: Embedder,
    retrieval: RetrievalConfig,
    config: AnswerConfig,
    max_citations: int | None = None,
) -> Answer:
    started = time.perf_counter()
    cleaned = clean_question(question)
    if not _WORDLIKE.search(cleaned):
        return Answer(cleaned, False, EMPTY_QUESTION, (), time.perf_counter() - started)
    query = Query.of(cleaned, embedder)
    hits = index.search(query, retrieval)
    if not any(hit.cosine >= _threshold(hit, config) for hit in hits):
        return Answer(cleaned, False, NOT_FOUND, (), time.perf_counter() - started)
    # The thresholds decide whether the corpus answers at all; citations then need only be
    # close to the best one, so a strong keyword match with a lower cosine still gets quoted.
    limit = max_citations or config.max_citations
    floor = max(_relevance(hit, config) for hit in hits) * config.relative_cutoff
    depth = max(RERANK_DEPTH, limit * CANDIDATES_PER_CITATION)
    hits, cosines = _rerank(hits[:depth], query, index)
    kept = [i for i, hit in enumerate(hits) if _relevance(hit, config) >= floor]
    kept = kept[: limit * CANDIDATES_PER_CITATION]
    citations = _cite(
        cleaned,
        [hits[i] for i in kept],
        [cosines[i] for i in kept] if cosines is not None else None,
        query,
        index,
        config,
        limit,
    )
    text = citations[0].snippet[slice(*citations[0].highlight)] if citations else NOT_FOUND
    return Answer(cleaned, bool(citations), text, tuple(citations), time.perf_counter() - started)


def best_cosines(hits: list[Hit]) -> tuple[float, float]:
    """The best cosine among the hits the English model judges, and among the hits the
    multilingual model judges (-1 when there are none): what refusal compares with the two
    thresholds, exposed for calibration (bench/devset_calibration.py)."""
    english = [hit.cosine for hit in hits if hit.judged_by_english_model]
    other = [hit.cosine for hit in hits if not hit.judged_by_english_model]
    return max(english, default=-1.0), max(other, default=-1.0)


def _threshold(hit: Hit, config: AnswerConfig) -> float:
    """The cosine a hit needs to answer, on the scale of the model that judges it."""
    return config.min_score if hit.judged_by_english_model else config.multilingual_min_score


def _relevance(hit: Hit, config: AnswerConfig) -> float:
    """A hit's cosine in units of its model's threshold, so hits judged by different models
    compare (the raw cosine when refusal is switched off)."""
    threshold = _threshold(hit, config)
    return hit.cosine / threshold if threshold > 0 else hit.cosine


@dataclass
class _Kept:
    hit: Hit
    passage: dict
    snippet: Snippet
    quoted: set[str]  # the quoted sentences, normalised
    also_in: list[str] = field(default_factory=list)


def _rerank(
    hits: list[Hit], query: Query, index: SearchIndex
) -> tuple[list[Hit], list[np.ndarray] | None]:
    """The hits reordered by fused rank, (n + 1) / (n + 1 + position), plus their best
    sentence's cosine; with each hit's sentence cosines, in the new order."""
    cosines = _sentence_cosines(hits, query, index)
    if cosines is None:
        return hits, None
    depth = len(hits) + 1
    order = sorted(
        range(len(hits)),
        key=lambda i: -(depth / (depth + i) + float(np.max(cosines[i], initial=-1.0))),
    )
    return [hits[i] for i in order], [cosines[i] for i in order]


def _cite(
    question: str,
    hits: list[Hit],
    cosines: list[np.ndarray] | None,
    query: Query,
    index: SearchIndex,
    config: AnswerConfig,
    limit: int,
) -> list[Citation]:
    """Quote the hits in rank order. A hit that repeats what an earlier citation shows (the same
    quote carried by several articles) is merged into it and named in its `also_in`. Passages of
    one article overlap, so a hit quotes its best sentence that no earlier citation of that
    article shows yet, and is dropped when it has none left."""
    passages = [index.passage(hit.row) for hit in hits]
    scored = score_sentences([p["text"] for p in passages], query.terms, index.idf, cosines)
    if cosines is not None:
        hits, passages, scored = _answer_type_first(question, hits, passages, scored, cosines)
    kept: list[_Kept] = []
    for hit, passage, sentences in zip(hits, passages, scored, strict=True):
        doc_id = passage["doc_id"]
        same_article = [k for k in kept if k.passage["doc_id"] == doc_id]
        shown_texts = set().union(*(k.quoted for k in same_article))
        shown = {i for i, text in enumerate(sentences.sentences) if _normalise(text) in shown_texts}
        snippet = sentences.quote(config.snippet_max_chars, shown)
        if snippet is None or any(
            shares_quote(snippet.best_sentence, k.snippet.text) for k in same_article
        ):
            continue
        earlier = next(
            (
                k
                for k in kept
                if k.passage["doc_id"] != doc_id and shares_quote(snippet.text, k.snippet.text)
            ),
            None,
        )
        if earlier is not None:
            if doc_id not in earlier.also_in:
                earlier.also_in.append(doc_id)
            continue
        if len(kept) < limit:
            quoted = [sentences.sentences[number] for number in snippet.numbers]
            kept.append(_Kept(hit, passage, snippet, {_normalise(text) for text in quoted}))
    return [
        _citation(rank, k.hit, k.passage, k.snippet, k.also_in, index)
        for rank, k in enumerate(kept, start=1)
    ]


def _sentence_cosines(hits: list[Hit], query: Query, index: SearchIndex) -> list[np.ndarray] | None:
    """Each hit's sentences' cosines to the question, in the model that judges the hit."""
    cosines = []
    for hit in hits:
        values = index.sentence_cosines(hit.row, query, hit.judged_by_english_model)
        if values is None:
            return None
        cosines.append(values)
    return cosines


def _answer_type_first(
    question: str,
    hits: list[Hit],
    passages: list[dict],
    scored: list[ScoredSentences],
    cosines: list[np.ndarray],
) -> tuple[list[Hit], list[dict], list[ScoredSentences]]:
    """For a "when" or "how many" question, the passages with a sentence that closely matches
    it *and* holds a date or number come first (in fused order among themselves), quoting that
    sentence: fusion alone ranks "the U.S. was dependent on Soyuz" above "the US had lost its
    manned spaceflight capabilities in 2011" for "when did the US lose…"."""
    answering = answering_sentences(question, [s.sentences for s in scored], cosines)
    if not answering or not any(answering):
        return hits, passages, scored
    order = sorted(range(len(hits)), key=lambda i: not answering[i])
    return (
        [hits[i] for i in order],
        [passages[i] for i in order],
        [scored[i].favouring(answering[i]) if answering[i] else scored[i] for i in order],
    )


def _citation(
    rank: int, hit: Hit, passage: dict, snippet: Snippet, also_in: list[str], index: SearchIndex
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
        score=hit.cosine,
        passage_id=passage["id"],
        highlight=snippet.highlight,
        also_in_titles=tuple(index.articles[d].title for d in also_in),
    )


def shares_quote(text: str, other: str, run: int = QUOTE_RUN_WORDS) -> bool:
    """Whether two texts share a run of `run` words (ignoring case and punctuation), or the
    shorter one, if shorter than that, appears whole in the other."""
    words, other_words = _normalise(text).split(), _normalise(other).split()
    if min(len(words), len(other_words)) < run:
        short, long = sorted((" ".join(words), " ".join(other_words)), key=len)
        return bool(short) and f" {short} " in f" {long} "
    grams = {tuple(words[i : i + run]) for i in range(len(words) - run + 1)}
    return any(tuple(other_words[i : i + run]) in grams for i in range(len(other_words) - run + 1))


def _normalise(text: str) -> str:
    return _NORMALISE.sub(" ", text.lower()).strip()
