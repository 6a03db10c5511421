"""The index directory on disk: builds, the manifest, the build lock and atomic publishing.

<index.path>/
    current -> builds/<build_id>     symlink, replaced atomically to publish a build
    builds/<build_id>/               manifest.json (written last), documents.jsonl,
                                     passages.jsonl (+ .offsets.npy), vectors.npy,
                                     dense.faiss, bm25/
    staging/<plan>/                  a build in progress; embedded chunks survive a kill
    build.lock                       held by the one build that may run
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import BuildInProgressError, IndexMismatchError, IndexNotFoundError

logger = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 2: sentence vectors; 3: the multilingual model, passage scripts
MANIFEST = "manifest.json"
REBUILD_HINT = "run `citebot index --full` to rebuild it"


@dataclass(frozen=True)
class Manifest:
    """The stamp of a published build; everything a loader checks before trusting the files."""

    data: dict[str, Any]

    @property
    def build_id(self) -> str:
        return str(self.data["build_id"])

    @property
    def model(self) -> str:
        return str(self.data["model"]["name"])

    @property
    def backend(self) -> str:
        """What embedded the vectors (torch, onnx, onnx-int8, openvino); builds from before it
        was recorded were all made by torch."""
        return str(self.data["model"].get("backend", "torch"))

    @property
    def multilingual_model(self) -> str:
        return str(self.data["multilingual_model"]["name"])

    def identity(self) -> dict[str, Any]:
        """What the build's vectors and terms depend on (see the builder's `_identity`)."""
        return {
            "model": self.model,
            "backend": self.backend,
            "multilingual_model": self.multilingual_model,
            "tokenizer": self.data.get("tokenizer"),
            "passage_config": self.data.get("passage_config"),
        }

    def structure(self) -> dict[str, Any] | None:
        """What the build made of its vectors: index type, its build parameters, sentence vectors
        on or off (index/build_identity.py). None for builds from before it was recorded: they
        are rewritten once from their vectors."""
        structure = self.data.get("structure")
        return dict(structure) if isinstance(structure, dict) else None

    @property
    def base_id(self) -> str | None:
        """For a delta build (index/segments.py), the build holding its base segment."""
        base = self.data.get("base")
        return str(base["build_id"]) if isinstance(base, dict) else None

    @property
    def dimension(self) -> int:
        return int(self.data["model"]["dimension"])

    @property
    def passage_count(self) -> int:
        return int(self.data["passage_count"])

    @property
    def sources(self) -> dict[str, dict[str, Any]]:
        return dict(self.data["sources"])


class IndexLayout:
    """Paths inside one index directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.current = root / "current"
        self.builds = root / "builds"
        self.staging = root / "staging"
        self.lock_file = root / "build.lock"

    def current_build(self) -> Path | None:
        if not self.current.is_symlink() and not self.current.exists():
            return None
        target = self.current.resolve()
        return target if target.is_dir() else None

    def staging_dir(self, plan_key: str) -> Path:
        return self.staging / plan_key

    def publish(self, staging_dir: Path, build_id: str) -> Path:
        """Move a finished build into place and point `current` at it in one atomic rename."""
        self.builds.mkdir(parents=True, exist_ok=True)
        final = self.builds / build_id
        os.replace(staging_dir, final)
        link = self.root / f".current-{build_id}"
        try:
            if link.is_symlink():
                link.unlink()
            link.symlink_to(Path("builds") / build_id)
            os.replace(link, self.current)
        except OSError:
            shutil.rmtree(final, ignore_errors=True)  # never published: it would only take room
            raise
        _fsync_dir(self.root)
        return final

    def remove_old_builds(self, keep: int = 2) -> None:
        """Keep the current build and the one before it, and the base segment of either when it
        is a delta build; a running reader keeps its open files."""
        current = self.current_build()
        if not self.builds.is_dir():
            return
        builds = sorted(self.builds.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        kept = [b for b in builds if b != current][: keep - 1]
        kept += [current] if current is not None else []
        kept += [self.builds / base for base in map(_base_of, kept) if base is not None]
        for build in builds:
            if build not in kept:
                shutil.rmtree(build, ignore_errors=True)

    def remove_stale_staging(self, keep: str | None) -> None:
        """Staging folders of builds that will not resume (crashed, other inputs) are removed."""
        if self.staging.is_dir():
            for folder in self.staging.iterdir():
                if folder.name != keep:
                    shutil.rmtree(folder, ignore_errors=True)
        for link in self.root.glob(".current-*"):
            link.unlink(missing_ok=True)

    def discard_staging(self, staging_dir: Path, keep_chunks: bool) -> None:
        """After a build that failed or was stopped: its half-written build directory goes, and
        its saved chunks too unless `keep_chunks` (a resumed build can use them)."""
        shutil.rmtree(staging_dir / "build" if keep_chunks else staging_dir, ignore_errors=True)
        for link in self.root.glob(".current-*"):
            link.unlink(missing_ok=True)


_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def is_disk_full(error: BaseException) -> bool:
    """Whether a failure, or one that caused it, was a write that found no room: a full disk, a
    quota, a file size limit, or numpy's short write (which carries no errno at all)."""
    seen: BaseException | None = error
    for _ in range(8):  # the chain of causes is short; a cycle must not loop forever
        if seen is None:
            return False
        no_errno = isinstance(seen, OSError) and seen.errno is None
        if (isinstance(seen, OSError) and seen.errno in _NO_ROOM) or (
            no_errno and "written" in str(seen)
        ):
            return True
        if "No space left on device" in str(seen):  # a library that wraps the OSError
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class BuildLock:
    """An exclusive lock file: one build at a time, across processes. Taken at once or not at
    all (BuildInProgressError), or, with `wait`, as soon as the build holding it ends."""

    def __init__(self, layout: IndexLayout, wait: bool = False) -> None:
        self._path = layout.lock_file
        self._wait = wait
        self._handle: Any = None

    def __enter__(self) -> BuildLock:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self._path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if self._wait else fcntl.LOCK_NB))
        except BlockingIOError as error:
            handle.close()
            raise BuildInProgressError("another build of this index is already running") from error
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_files(build_dir: Path) -> dict[str, dict[str, Any]]:
    """Size and sha256 of every file in a build, for the manifest."""
    files = {}
    for path in sorted(build_dir.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            name = path.relative_to(build_dir).as_posix()
            files[name] = {"bytes": path.stat().st_size, "sha256": file_digest(path)}
    return files


def write_manifest(build_dir: Path, data: dict[str, Any]) -> None:
    data = {"format_version": FORMAT_VERSION, **data, "files": describe_files(build_dir)}
    write_json_atomic(build_dir / MANIFEST, data)


def read_manifest(build_dir: Path, verify_checksums: bool = True) -> Manifest:
    """Read and check a build's manifest; any mismatch is one IndexMismatchError with the fix."""
    path = build_dir / MANIFEST
    if not path.exists():
        raise IndexNotFoundError(f"the index at {build_dir} has no manifest: {REBUILD_HINT}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        version = data["format_version"]
        files = data["files"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise IndexMismatchError(f"the index manifest is damaged: {REBUILD_HINT}") from error
    if version != FORMAT_VERSION:
        raise IndexMismatchError(
            f"the index was built by another citebot version (format {version}): {REBUILD_HINT}"
        )
    for name, expected in files.items():
        file = build_dir / name
        if not file.is_file():
            raise IndexMismatchError(f"the index is missing {name}: {REBUILD_HINT}")
        if file.stat().st_size != expected["bytes"]:
            raise IndexMismatchError(
                f"the index file {name} is truncated or changed: {REBUILD_HINT}"
            )
        if verify_checksums and file_digest(file) != expected["sha256"]:
            raise IndexMismatchError(f"the index file {name} is damaged (checksum): {REBUILD_HINT}")
    return Manifest(data)


def write_json_atomic(path: Path, data: Any) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _base_of(build_dir: Path) -> str | None:
    """The base build a delta build stands on, from its manifest (None for a base build)."""
    try:
        data = json.loads((build_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return Manifest(data).base_id if isinstance(data, dict) else None


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class JsonlTable:
    """Records in a JSON-lines file with a row → byte-offset array: random access via mmap,
    so a million passages cost no start-up time and little memory."""

    def __init__(self, path: Path) -> None:
        self._offsets = np.load(path.with_suffix(".offsets.npy"), mmap_mode="r")
        self._file = open(path, "rb")  # noqa: SIM115 - lives as long as the loaded index
        self._data = np.memmap(self._file, dtype=np.uint8, mode="r") if path.stat().st_size else b""

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, row: int) -> dict[str, Any]:
        begin, end = int(self._offsets[row]), int(self._offsets[row + 1])
        return json.loads(bytes(self._data[begin:end]))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for row in range(len(self)):
            yield self[row]

    @staticmethod
    def write(path: Path, records: Iterable[dict[str, Any]]) -> int:
        """Write records and their offsets; returns how many were written."""
        offsets = [0]
        with open(path, "wb") as handle:
            for record in records:
                line = json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n"
                handle.write(line)
                offsets.append(offsets[-1] + len(line))
        np.save(path.with_suffix(".offsets.npy"), np.asarray(offsets, dtype=np.int64))
        return len(offsets) - 1
