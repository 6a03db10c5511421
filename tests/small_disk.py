"""A disk that really fills up: a command run with a small file system of its own.

`unshare --user --map-root-user --mount` gives the child a private mount namespace (no root
needed where unprivileged user namespaces are allowed, as on most Linux machines), where a tmpfs
of a chosen size is mounted over one folder and a prepared copy of its contents copied in. Writes
past the size fail with ENOSPC ("No space left on device"), exactly as on a full disk. The test
reaches that file system through /proc/<pid>/root, to look at it or to fill it up.
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
import subprocess
from pathlib import Path

PAGE = 4096
# Mount a tmpfs of $1 bytes over $2, copy $3 into it, then run the rest of the arguments.
_SCRIPT = (
    'mount -t tmpfs -o size="$1" citebot-test "$2" && cp -a "$3"/. "$2"/ && shift 3 && exec "$@"'
)


@functools.cache
def small_disk_unavailable() -> str | None:
    """Why this machine cannot give a test a small disk of its own (None when it can)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return "no `unshare` command"
    probe = subprocess.run(
        [unshare, "--user", "--map-root-user", "--mount", "sh", "-c",
         "mount -t tmpfs -o size=64k citebot-test /tmp"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if probe.returncode != 0:
        return f"cannot mount a tmpfs in a user namespace: {probe.stderr.strip()}"
    return None


def on_small_disk(mount_point: Path, size: int, contents: Path) -> list[str]:
    """The command prefix that runs a command with a `size`-byte file system at `mount_point`,
    holding a copy of the folder `contents`."""
    unshare = shutil.which("unshare")
    assert unshare is not None
    return [unshare, "--user", "--map-root-user", "--mount", "sh", "-c", _SCRIPT, "sh",
            str(size), str(mount_point), str(contents)]  # fmt: skip


def bytes_used(folder: Path) -> int:
    """What a folder's files take on a tmpfs: every file rounded up to whole pages."""
    total = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            total += -(-path.stat().st_size // PAGE) * PAGE
    return total


def seen_from_outside(pid: int, path: Path) -> Path:
    """`path` as the process `pid` sees it, on its own file systems."""
    return Path(f"/proc/{pid}/root") / path.relative_to("/")


def fill_up(folder: Path) -> Path:
    """Write a file into `folder` until its file system is full; returns the file."""
    filler = folder / "filler.bin"
    block = b"\0" * PAGE
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        while True:
            os.write(descriptor, block)
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
    finally:
        os.close(descriptor)
    return filler
