"""Opening an X archive, a zip or its unpacked folder, and reading its parts one at a time.

The layout: ``data/tweets.js`` (older: ``data/tweet.js``) with further parts ``tweets-part1.js``, …;
``data/account.js``, ``data/profile.js``, ``data/note-tweet.js``; media in ``data/tweets_media/``
(older: ``data/tweet_media/``) as ``<tweetid>-<filename>``. A single top-level folder around ``data/``
is allowed. A zip member with an unsafe name (absolute, ``..``, a symlink) refuses the whole archive
when it is opened, before anything is read or written.
"""

from __future__ import annotations

import re
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from nostrweet.errors import InputError

_PART_RE = re.compile(r"^(tweets?)(?:-part([0-9]+))?\.js$")
MEDIA_DIRS = ("tweets_media", "tweet_media")
CHUNK = 1 << 20


def unsafe_member(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member may not be read (absolute name, ``..``, symlink), or None if it is safe."""
    name = info.filename
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute name"
    if ".." in re.split(r"[/\\]", name):
        return "'..' in its name"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link"
    return None


def tweet_parts(names: list[str]) -> list[str]:
    """The tweets parts among file names of ``data/``, in order: ``tweets.js``, ``tweets-part1.js``, …
    (older archives: ``tweet.js``, …). Empty if there is none."""
    found: dict[str, list[tuple[int, str]]] = {"tweets": [], "tweet": []}
    for name in names:
        match = _PART_RE.match(name)
        if match:
            found[match.group(1)].append((int(match.group(2) or 0), name))
    parts = found["tweets"] or found["tweet"]
    return [name for _, name in sorted(parts)]


class XArchive:
    """An opened archive: its parts by name (under ``data/``) and its media files."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._root = ""  # the zip's prefix before "data/"
        self._dir: Path | None = None
        if path.is_dir():
            self._dir = _data_dir(path)
            names = sorted(p.name for p in self._dir.iterdir() if p.is_file())
        elif path.is_file():
            names = self._open_zip(path)
        else:
            raise InputError(f"archive {path} does not exist")
        self.parts = tweet_parts(names)
        if not self.parts:
            raise InputError(f"archive {path}: no data/tweets.js (nor data/tweet.js) in it")
        if "account.js" not in names:
            raise InputError(f"archive {path}: no data/account.js in it")
        self.names = set(names)

    def _open_zip(self, path: Path) -> list[str]:
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError):
            raise InputError(f"archive {path} is not a zip file nor a folder") from None
        for info in archive.infolist():
            why = unsafe_member(info)
            if why is not None:
                archive.close()
                raise InputError(f"archive {path} refused: member {info.filename!r} is unsafe ({why})")
        members = [i.filename for i in archive.infolist() if not i.is_dir()]
        tops = {m.split("/", 1)[0] for m in members}
        if not any(m.startswith("data/") for m in members) and len(tops) == 1:
            self._root = tops.pop() + "/"
        self._zip = archive
        prefix = self._root + "data/"
        return [m[len(prefix) :] for m in members if m.startswith(prefix) and "/" not in m[len(prefix) :]]

    def close(self) -> None:
        """Close the zip file (a folder holds nothing open)."""
        if self._zip is not None:
            self._zip.close()

    def has(self, name: str) -> bool:
        """Whether ``data/<name>`` exists."""
        return name in self.names

    def read(self, name: str) -> bytes:
        """The bytes of ``data/<name>`` (for the small parts: account, profile, notes)."""
        if self._zip is not None:
            return self._zip.read(self._root + "data/" + name)
        assert self._dir is not None
        return (self._dir / name).read_bytes()

    def chunks(self, name: str, size: int = CHUNK) -> Iterator[bytes]:
        """The bytes of ``data/<name>`` in chunks, for a part too large to hold at once."""
        if self._zip is not None:
            stream: IO[bytes] = self._zip.open(self._root + "data/" + name)
        else:
            assert self._dir is not None
            stream = (self._dir / name).open("rb")
        with stream:
            while chunk := stream.read(size):
                yield chunk

    def size(self, name: str) -> int:
        """The size of ``data/<name>`` in bytes (uncompressed)."""
        if self._zip is not None:
            return self._zip.getinfo(self._root + "data/" + name).file_size
        assert self._dir is not None
        return (self._dir / name).stat().st_size

    @contextmanager
    def open_media(
        self, tweet_id: str, candidates: tuple[str, ...]
    ) -> Iterator[tuple[str, IO[bytes]] | None]:
        """The first of ``candidates`` (``<tweetid>-<filename>``) found in the media folder, open for
        reading as ``(file name, stream)``; None if the archive lacks them all."""
        for folder in MEDIA_DIRS:
            for name in candidates:
                if self._zip is not None:
                    member = f"{self._root}data/{folder}/{name}"
                    if member in self._zip.NameToInfo:
                        with self._zip.open(member) as stream:
                            yield name, stream
                        return
                else:
                    assert self._dir is not None
                    file = self._dir / folder / name
                    if file.is_file():
                        with file.open("rb") as stream:
                            yield name, stream
                        return
        yield None


def _data_dir(path: Path) -> Path:
    if (path / "data").is_dir():
        return path / "data"
    subdirs = [p for p in path.iterdir() if p.is_dir()]
    if len(subdirs) == 1 and (subdirs[0] / "data").is_dir():
        return subdirs[0] / "data"
    if path.name == "data" and any(path.glob("tweet*.js")):
        return path
    raise InputError(f"archive {path}: no data/ folder in it")
