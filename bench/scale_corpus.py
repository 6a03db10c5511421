"""A large, realistic article corpus for bench/scale.py, recombined from real sentences.

Sentences come from the 5,183 SciFact abstracts and the shipped news articles in corpus/. An
article takes the title of a real abstract and runs of 2-5 consecutive real sentences (so
neighbouring sentences still belong together), paragraph after paragraph, until it reaches a
length drawn from a log-normal around 550 words (120-2,500), like news articles. Articles are
written as .jsonl files of 500 and counted in passages with the real splitter.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from index.config import PassageConfig
from index.corpus import scan_corpus
from index.documents import load_file
from index.models import Document
from index.passages import count_words, split_passages, split_sentences

ROOT = Path(__file__).resolve().parent.parent
SCIFACT_CORPUS = ROOT.parent / "shared" / "bench" / "scifact" / "corpus.jsonl.gz"
ARTICLES_PER_FILE = 500
SOURCES = ("Science Desk", "Health Wire", "Lab Notes", "The Review", "Daily Report")


def sentence_pool() -> tuple[list[str], list[list[str]]]:
    """Real titles and, for each source text, its sentences in order."""
    titles, texts = [], []
    with gzip.open(SCIFACT_CORPUS, "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            titles.append(record["title"])
            texts.append(record["text"])
    sources, _ = scan_corpus(ROOT / "corpus", 20_000_000)
    for source in sources:
        for document in load_file(source):
            titles.append(document.title)
            texts.append(document.text)
    runs = [[t[s:e] for s, e in split_sentences(t)] for t in texts]
    keep = [i for i, r in enumerate(runs) if r]
    return [titles[i] for i in keep], [runs[i] for i in keep]


def generate_articles(seed: int, titles: list[str], runs: list[list[str]]) -> Iterator[dict]:
    """An endless stream of articles as .jsonl records."""
    rng = np.random.default_rng(seed)
    number = 0
    while True:
        target = int(np.clip(rng.lognormal(np.log(550), 0.5), 120, 2500))
        first = int(rng.integers(len(runs)))
        paragraphs, words = [], 0
        while words < target:
            run = runs[first if not paragraphs else int(rng.integers(len(runs)))]
            start = int(rng.integers(len(run)))
            taken = run[start : start + int(rng.integers(2, 6))]
            paragraphs.append(" ".join(taken))
            words += sum(count_words(s) for s in taken)
        day = int(rng.integers(0, 3650))
        year, day_of_year = 2015 + day // 365, day % 365
        yield {
            "id": f"a{seed}-{number:07d}",
            "title": titles[first],
            "date": f"{year}-{1 + day_of_year // 31 % 12:02d}-{1 + day_of_year % 28:02d}",
            "source": SOURCES[int(rng.integers(len(SOURCES)))],
            "text": "\n\n".join(paragraphs),
        }
        number += 1


def stats_file(folder: Path) -> Path:
    """Counts of a written corpus, beside it (inside, the builder would take it for an article)."""
    return folder.with_name(folder.name + ".stats.json")


def write_corpus(folder: Path, target_passages: int, seed: int) -> dict[str, int]:
    """Write articles until they make `target_passages` passages; returns the counts."""
    folder.mkdir(parents=True, exist_ok=True)
    titles, runs = sentence_pool()
    config = PassageConfig()
    passages = articles = words = 0
    batch: list[str] = []
    for record in generate_articles(seed, titles, runs):
        document = Document(record["id"], record["title"], record["text"], "generated")
        passages += len(split_passages(document, config))
        words += count_words(record["text"])
        articles += 1
        batch.append(json.dumps(record, ensure_ascii=False))
        done = passages >= target_passages
        if len(batch) == ARTICLES_PER_FILE or done:
            name = folder / f"articles-{(articles - 1) // ARTICLES_PER_FILE:05d}.jsonl"
            name.write_text("\n".join(batch) + "\n", encoding="utf-8")
            batch = []
        if done:
            break
    stats = {"articles": articles, "passages": passages, "words": words}
    stats_file(folder).write_text(json.dumps(stats), encoding="utf-8")
    return stats
