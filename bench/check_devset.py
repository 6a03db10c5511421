"""Checks bench/devset.jsonl (or the files named) without running citebot's answerer.

    python bench/check_devset.py [FILE ...] [--fix-doc-ids]

For every row: valid JSON, a unique id, a known corpus and kind, a question in the language the
row names; for an answerable row, every evidence phrase (`gold` and `also`) copied verbatim from
an article (after folding white space and curly quotes), inside one sentence as citebot splits
them, and `doc_ids` equal to every article of that corpus holding the gold phrase (computed
here; `--fix-doc-ids` rewrites them). Cross-lingual rows must be answered only by articles in
the other language; paraphrase rows may share no content word with the gold sentence except
names. It reads the articles with citebot's own loader and never looks at any answer.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bm25s  # noqa: E402
import Stemmer  # noqa: E402

from bench.devset_corpora import CORPORA, read_documents  # noqa: E402
from index.models import Document  # noqa: E402
from index.passages import passage_sentences  # noqa: E402

KINDS = {
    "factual": "a question asked in the article's own language",
    "paraphrase": "few shared words: no content word of the gold sentence except names",
    "cross_ru_en": "a Russian question answered only by English text",
    "cross_en_ru": "an English question answered only by Russian text",
    "near_topic": "names what the corpus knows, asks a fact it lacks: must be refused",
    "off_topic": "greetings, small talk, unrelated subjects: must be refused",
}
UNANSWERABLE = {"near_topic", "off_topic"}
_QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"'})
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_LATIN = re.compile(r"[A-Za-z]")
_WORD = re.compile(r"\w+")


def normalise(text: str) -> str:
    return " ".join(text.translate(_QUOTES).split())


def language(text: str) -> str:
    """ "ru" or "en" by which alphabet most letters are in."""
    cyrillic, latin = len(_CYRILLIC.findall(text)), len(_LATIN.findall(text))
    return "ru" if cyrillic > latin else "en"


@lru_cache(maxsize=2)
def _stemmer(lang: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer("russian" if lang == "ru" else "english")


def content_stems(text: str, names: bool) -> set[str]:
    """Stemmed non-stop words; without `names`, capitalised words not at a sentence start
    (names) are left out."""
    words = _WORD.findall(text)
    stop = set(bm25s.stopwords.STOPWORDS_EN) | set(bm25s.stopwords.STOPWORDS_RUSSIAN)
    kept = []
    for position, word in enumerate(words):
        if word.lower() in stop or word.isdigit():
            continue
        if not names and position > 0 and word[:1].isupper():
            continue
        kept.append(word.lower())
    return {_stemmer(language(w)).stemWord(w) for w in kept}


def sentence_holding(document: Document, phrase: str) -> str | None:
    wanted = normalise(phrase)
    for sentence in passage_sentences(document.text):
        if wanted in normalise(sentence):
            return sentence
    return None


def check(rows: list[dict], fix: bool) -> list[str]:
    problems: list[str] = []
    documents = {name: read_documents(name) for name in CORPORA}
    seen: Counter[str] = Counter(row.get("id", "") for row in rows)
    for row in rows:
        rid = row.get("id", "?")
        where = f"{rid}:"
        if seen[rid] > 1:
            problems.append(f"{where} id used {seen[rid]} times")
        corpus, kind = row.get("corpus", "corpus"), row.get("kind")
        if corpus not in CORPORA:
            problems.append(f"{where} unknown corpus {corpus!r}")
            continue
        if kind not in KINDS:
            problems.append(f"{where} unknown kind {kind!r}")
            continue
        question = row.get("question", "")
        if not question.strip():
            problems.append(f"{where} empty question")
        lang = row.get("lang")
        if lang not in ("en", "ru"):
            problems.append(f"{where} lang must be en or ru")
        elif language(question) != lang and kind != "off_topic":
            problems.append(f"{where} question is not in {lang}")
        if kind in UNANSWERABLE:
            if not row.get("off_topic"):
                problems.append(f'{where} unanswerable rows carry "off_topic": true')
            if row.get("gold"):
                problems.append(f"{where} an unanswerable row has no gold phrase")
            continue
        gold = row.get("gold", "")
        if not gold:
            problems.append(f"{where} no gold phrase")
            continue
        docs = documents[corpus]
        holders = sorted(d for d, doc in docs.items() if normalise(gold) in normalise(doc.text))
        if not holders:
            problems.append(f"{where} gold phrase is in no article of {corpus}: {gold!r}")
            continue
        if fix:
            row["doc_ids"] = holders
        elif sorted(row.get("doc_ids", [])) != holders:
            problems.append(f"{where} doc_ids should be {holders}")
        for phrase in (gold, *row.get("also", [])):
            if not any(normalise(phrase) in normalise(docs[d].text) for d in docs):
                problems.append(f"{where} evidence is in no article: {phrase!r}")
            elif not any(sentence_holding(docs[d], phrase) for d in docs):
                problems.append(f"{where} evidence crosses a sentence boundary: {phrase!r}")
        article_langs = {language(docs[d].text) for d in holders}
        if kind == "cross_ru_en" and (lang != "ru" or article_langs != {"en"}):
            problems.append(f"{where} cross_ru_en wants a Russian question on English text")
        if kind == "cross_en_ru" and (lang != "en" or article_langs != {"ru"}):
            problems.append(f"{where} cross_en_ru wants an English question on Russian text")
        if kind in ("factual", "paraphrase") and article_langs != {lang}:
            problems.append(f"{where} {kind} wants the question in the article's language")
        if kind == "paraphrase":
            sentence = sentence_holding(docs[holders[0]], gold) or gold
            shared = content_stems(question, names=False) & content_stems(sentence, names=False)
            if shared:
                problems.append(f"{where} paraphrase shares {sorted(shared)} with: {sentence!r}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, default=[ROOT / "bench" / "devset.jsonl"])
    parser.add_argument("--fix-doc-ids", action="store_true")
    args = parser.parse_args()
    failed = False
    for path in args.files:
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    print(f"{path}:{number}: not JSON: {error}")
                    failed = True
        problems = check(rows, args.fix_doc_ids)
        if args.fix_doc_ids:
            text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
            path.write_text(text, encoding="utf-8")
        for problem in problems:
            print(f"{path.name}: {problem}")
        kinds = Counter(row.get("kind") for row in rows)
        corpora = Counter(row.get("corpus", "corpus") for row in rows)
        print(
            f"{path.name}: {len(rows)} rows; {dict(kinds)}; {dict(corpora)}; "
            f"{len(problems)} problems"
        )
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
