"""Gives every article in a build an id of its own when two of them claim the same one.

An article claims the id its file name makes (`a b.md` and `a-b.md` both make "a-b"; `x.md`
and `x.txt` both "x") or, in a .jsonl file, the "id" its record gives. Two claims of one id
never drop or replace an article: one keeps the id, the other gets the id with a suffix made
from its file's name, and a note names both files.

Who keeps the id depends only on the corpus, never on which file came first, so an incremental
build gives the same ids as a full one: an article whose own file name is the id (`good.md` for
"good") first, then one whose file name makes it, then .jsonl records; between equals, the
file whose path sorts first.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from index.build_writer import CLAIMED, SourcePlan
from index.corpus import JSONL_SUFFIXES, printable

logger = logging.getLogger(__name__)

__all__ = ["CLAIMED", "assign_article_ids"]


@dataclass(frozen=True)
class _Claim:
    rank: int
    relpath: str
    position: int  # the article's place in its file
    claimed: str
    record: dict[str, Any]
    passages: list[dict[str, Any]]


def assign_article_ids(plans: list[SourcePlan]) -> list[str]:
    """Make every article's id unique, renaming documents and passages in place.

    Returns one note per article that could not have the id it claimed.
    """
    claims = sorted(_claims(plans), key=lambda c: (c.rank, c.relpath, c.position))
    holders: dict[str, _Claim] = {}
    for claim in claims:
        holders.setdefault(claim.claimed, claim)
    taken = set(holders)
    notes = []
    for claim in claims:
        holder = holders[claim.claimed]
        if holder is claim:
            _rename(claim, claim.claimed)
            continue
        new_id = _free_id(claim, taken)
        taken.add(new_id)
        _rename(claim, new_id)
        note = (
            f"{printable(claim.relpath)}: article id {printable(claim.claimed)} is already used "
            f"by {printable(holder.relpath)}, so this article is indexed as {printable(new_id)}"
        )
        logger.warning("%s", note)
        notes.append(note)
    return notes


def _claims(plans: list[SourcePlan]) -> Iterator[_Claim]:
    for plan in plans:
        relpath = plan.source.relpath
        first_passage = 0
        for position, record in enumerate(plan.documents):
            claimed = record.get(CLAIMED, record["doc_id"])
            passages = plan.passages[first_passage : first_passage + record["passages"]]
            first_passage += record["passages"]
            yield _Claim(_rank(relpath, claimed), relpath, position, claimed, record, passages)


def _rank(relpath: str, claimed: str) -> int:
    """0: the file's own name is the id; 1: its name makes the id; 2: a .jsonl record's id."""
    stem, _, suffix = relpath.rpartition(".")
    if f".{suffix.lower()}" in JSONL_SUFFIXES:
        return 2
    return 0 if stem == claimed else 1


def _free_id(claim: _Claim, taken: set[str]) -> str:
    """The claimed id with a suffix from the file's path: the same in every build."""
    digest = hashlib.sha256(f"{claim.relpath}\n{claim.claimed}".encode()).hexdigest()[:6]
    candidate, number = f"{claim.claimed}-{digest}", 1
    while candidate in taken:  # the same id twice in one .jsonl file, or a contrived name
        number += 1
        candidate = f"{claim.claimed}-{digest}-{number}"
    return candidate


def _rename(claim: _Claim, new_id: str) -> None:
    record = claim.record
    if record["doc_id"] == new_id:
        return
    record["doc_id"] = new_id
    if new_id == claim.claimed:
        record.pop(CLAIMED, None)
    else:
        record[CLAIMED] = claim.claimed
    for passage in claim.passages:
        passage["doc_id"] = new_id
        passage["id"] = f"{new_id}#{passage['id'].rpartition('#')[2]}"
