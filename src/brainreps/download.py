"""Downloads that resume, retry and verify checksums; safe, atomic archive extraction.

`fetch` writes to `<dest>.part` (resumed with an HTTP Range request when an earlier attempt
was cut off) and renames it to `dest` only once it is complete and its checksum matches.
Every failure is a `DownloadError`, a subclass of **OSError** (like urllib's own URLError),
so ``except OSError`` catches network failures, checksum mismatches and unsafe archives alike.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
import socket
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from http.client import HTTPException
from pathlib import Path, PurePosixPath
from typing import Any

from brainreps import __version__
from brainreps.logs import progress as progress_bar

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
USER_AGENT = f"brainreps/{__version__}"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")


def archive_name(url: str) -> str:
    """The file name a URL is downloaded to: the last segment of its path."""
    name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
    if not name or name in (".", "..") or "/" in name:
        raise ValueError(f"cannot name a download after the URL {url!r}")
    return name


class DownloadError(OSError):
    """A download failed for good (after retries), or a file or archive is not what it should be."""


class ChecksumError(DownloadError):
    """A file's checksum does not match the expected one."""


class ArchiveError(DownloadError):
    """An archive is unreadable, of an unknown type, or has members outside its destination."""


class _Retry(Exception):
    """An attempt failed in a way a later attempt may fix (connection error, truncation, 5xx)."""


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK_BYTES), b""):
            h.update(block)
    return h.hexdigest()


def verify_checksum(
    path: str | os.PathLike, sha256: str | None = None, md5: str | None = None
) -> bool:
    """True if the given checksum(s) match, False if none was given; ChecksumError on mismatch."""
    path = Path(path)
    mismatch = _checksum_mismatch(path, sha256, md5)
    if mismatch:
        raise ChecksumError(f"checksum mismatch for {path}: {mismatch}")
    return bool(sha256 or md5)


def _checksum_mismatch(
    path: Path, sha256: str | None, md5: str | None, digests: dict[str, str] | None = None
) -> str | None:
    """'<algorithm> is <actual>, expected <expected>' for the first mismatching checksum."""
    for algorithm, expected in (("sha256", sha256), ("md5", md5)):
        if expected:
            actual = (digests or {}).get(algorithm) or file_digest(path, algorithm)
            if actual.lower() != expected.strip().lower():
                return f"{algorithm} is {actual}, expected {expected.strip().lower()}"
    return None


def _meta_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _read_meta(part: Path) -> dict:
    try:
        return json.loads(_meta_path(part).read_text())
    except (OSError, ValueError):
        return {}


def _discard(*paths: Path) -> None:
    for p in paths:
        if p.exists() or p.is_symlink():
            p.unlink()


def _content_range_start(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) from a Content-Range header such as 'bytes 100-199/200'."""
    m = re.match(r"bytes\s+(\d+)-\d+/(\d+|\*)", value or "")
    if not m:
        return None, None
    total = None if m.group(2) == "*" else int(m.group(2))
    return int(m.group(1)), total


def _hash_file_into(path: Path, hashers: dict[str, Any]) -> None:
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK_BYTES), b""):
            for h in hashers.values():
                h.update(block)


def _attempt(
    url: str, part: Path, timeout: float, show_progress: bool, hashers: dict[str, Any]
) -> bool:
    """One download attempt into `part`, resuming it if it holds bytes; True if it resumed.

    `hashers` (fresh hash objects) are fed the complete file's bytes as they are written.
    """
    meta = _read_meta(part)
    if part.exists() and meta.get("url") != url:
        logger.info("discarding %s: it was started from another URL (%s)", part, meta.get("url"))
        _discard(part)
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        validator = meta.get("etag") or meta.get("last_modified")
        if validator:
            headers["If-Range"] = validator
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            total = re.search(r"/(\d+)\s*$", exc.headers.get("Content-Range") or "")
            if total and int(total.group(1)) == offset:  # the part file already holds everything
                _hash_file_into(part, hashers)
                return True
            logger.info("server refused to resume %s at byte %d; starting over", url, offset)
            _discard(part)
            raise _Retry(f"HTTP 416 resuming at byte {offset}") from exc
        if exc.code in (408, 425, 429) or exc.code >= 500:
            raise _Retry(f"HTTP {exc.code} {exc.reason}") from exc
        raise DownloadError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from exc
    with response:
        status = getattr(response, "status", 200)
        resumed = False
        if offset and status == 206:
            start, _ = _content_range_start(response.headers.get("Content-Range"))
            if start != offset:
                _discard(part)
                raise _Retry(f"server resumed at byte {start}, asked for {offset}")
            resumed = True
            logger.info("resuming %s at byte %d", url, offset)
        elif offset:
            logger.info("server ignored the Range request for %s; downloading it whole", url)
            offset = 0
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None and length.isdigit() else None
        part.parent.mkdir(parents=True, exist_ok=True)
        _meta_path(part).write_text(
            json.dumps(
                {
                    "url": url,
                    "etag": response.headers.get("ETag"),
                    "last_modified": response.headers.get("Last-Modified"),
                }
            )
        )
        received = 0

        def chunks() -> Iterator[bytes]:
            while True:
                block = response.read(CHUNK_BYTES)
                if not block:
                    return
                yield block

        blocks: Iterator[bytes] = chunks()
        if show_progress:
            n_chunks = math.ceil(expected / CHUNK_BYTES) if expected else None
            size = f"{(offset + (expected or 0)) / 2**20:.1f} MiB" if expected else "? MiB"
            blocks = iter(progress_bar(blocks, desc=f"{part.name[:-5]} ({size})", total=n_chunks))
        if resumed:
            _hash_file_into(part, hashers)
        with open(part, "ab" if resumed else "wb") as fh:
            for block in blocks:
                fh.write(block)
                for h in hashers.values():
                    h.update(block)
                received += len(block)
        if expected is not None and received < expected:
            raise _Retry(f"connection closed after {received} of {expected} bytes")
        return resumed


RETRYABLE = (
    _Retry,
    urllib.error.URLError,
    HTTPException,
    ConnectionError,
    TimeoutError,
    socket.timeout,
)


def fetch(
    url: str,
    dest: str | Path,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    backoff: float = 1.0,
    progress: bool = True,
) -> Path:
    """Download `url` to `dest` atomically, resuming, retrying and verifying its checksum.

    Up to ``1 + retries`` attempts, sleeping ``backoff * 2**k`` seconds after the k-th failure.
    An existing `dest` whose checksum matches is kept without downloading. On a checksum
    mismatch the bad file is deleted and ChecksumError names the URL and the file.
    """
    dest = Path(dest)
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    if dest.is_file():
        try:
            if verify_checksum(dest, sha256, md5) or not (sha256 or md5):
                logger.info("%s already present; not downloading %s", dest, url)
                return dest
        except ChecksumError as exc:
            logger.warning("%s; downloading it again", exc)
            dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    failures: list[str] = []
    fresh_retry_left = True
    attempt = 0
    while True:
        attempt += 1
        try:
            hashers = {"sha256": hashlib.sha256()}
            if md5:
                hashers["md5"] = hashlib.md5()
            resumed = _attempt(url, part, timeout, progress, hashers)
        except RETRYABLE as exc:
            reason = getattr(exc, "reason", None) or exc
            failures.append(f"attempt {attempt}: {reason}")
            logger.warning(
                "download of %s failed (attempt %d of %d): %s", url, attempt, retries + 1, reason
            )
            if attempt > retries:
                raise DownloadError(
                    f"cannot download {url} to {dest} after {attempt} attempts: "
                    + "; ".join(failures)
                    + (f" (partial file kept for resuming: {part})" if part.exists() else "")
                ) from exc
            time.sleep(backoff * 2 ** (attempt - 1))
            continue
        digests = {name: h.hexdigest() for name, h in hashers.items()}
        mismatch = _checksum_mismatch(part, sha256, md5, digests)
        if mismatch:
            _discard(part, _meta_path(part))
            if resumed and fresh_retry_left:
                # a resumed file may mix two versions of the resource: try once from scratch
                logger.warning(
                    "checksum mismatch after resuming %s (%s); downloading it again from the start",
                    url,
                    mismatch,
                )
                fresh_retry_left = False
                continue
            raise ChecksumError(
                f"checksum mismatch for {url} (downloaded to {dest}, deleted): {mismatch}"
            )
        if not (sha256 or md5):
            logger.warning(
                "no checksum given for %s; its sha256 is %s (put it in the config to verify it)",
                url,
                digests["sha256"],
            )
        os.replace(part, dest)
        _discard(_meta_path(part))
        logger.info("downloaded %s to %s (%d bytes)", url, dest, dest.stat().st_size)
        return dest


def archive_kind(path: str | os.PathLike) -> str:
    """'tar' or 'zip' from the archive's name (.tar, .tar.gz, .tgz, .zip) or, failing that, its bytes."""
    name = Path(path).name.lower()
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        return "tar"
    if name.endswith(".zip"):
        return "zip"
    if zipfile.is_zipfile(path):
        return "zip"
    if tarfile.is_tarfile(path):
        return "tar"
    raise ArchiveError(
        f"{path} is not a tar or zip archive (known types: {', '.join(ARCHIVE_SUFFIXES)})"
    )


def _check_member_name(archive: Path, name: str) -> None:
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or re.match(r"^[A-Za-z]:", name):
        raise ArchiveError(f"{archive}: member {name!r} would be written outside the destination")


def _extract_tar(archive: Path, tmp: Path) -> int:
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for m in members:
            _check_member_name(archive, m.name)
            if m.issym() or m.islnk():
                target = (
                    PurePosixPath(m.name).parent / m.linkname
                    if m.issym()
                    else PurePosixPath(m.linkname)
                )
                if PurePosixPath(m.linkname).is_absolute() or _escapes(target):
                    raise ArchiveError(
                        f"{archive}: link {m.name!r} -> {m.linkname!r} points outside the destination"
                    )
            elif not (m.isfile() or m.isdir()):
                raise ArchiveError(f"{archive}: member {m.name!r} is a device or special file")
        tar.extractall(tmp, members=members, filter="data")
    return sum(m.isfile() for m in members)


def _escapes(path: PurePosixPath) -> bool:
    depth = 0
    for part in path.parts:
        if part == "..":
            depth -= 1
        elif part not in ("", "."):
            depth += 1
        if depth < 0:
            return True
    return False


def _extract_zip(archive: Path, tmp: Path) -> int:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        for info in infos:
            _check_member_name(archive, info.filename)
        zf.extractall(tmp)
    return sum(not i.is_dir() for i in infos)


def extract_archive(archive: str | os.PathLike, dest_dir: str | os.PathLike) -> Path:
    """Unpack a .tar/.tar.gz/.tgz/.zip into `dest_dir`, atomically, refusing unsafe members.

    The archive is unpacked into a temporary sibling of `dest_dir`, renamed into place only
    when complete; a member with an absolute path, '..', a link leaving the destination or a
    device file raises ArchiveError naming it, and nothing is left at `dest_dir`.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    if not archive.is_file():
        raise ArchiveError(f"archive {archive} does not exist")
    kind = archive_kind(archive)
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest_dir.with_name(f".{dest_dir.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        tmp.mkdir()
        try:
            n_files = (_extract_tar if kind == "tar" else _extract_zip)(archive, tmp)
        except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
            raise ArchiveError(f"{archive} is not a readable {kind} archive: {exc}") from exc
        except tarfile.FilterError as exc:  # pragma: no cover - our checks come first
            raise ArchiveError(f"{archive}: unsafe member: {exc}") from exc
        if dest_dir.exists():
            old = dest_dir.with_name(f".{dest_dir.name}.old-{uuid.uuid4().hex[:8]}")
            os.rename(dest_dir, old)
            os.rename(tmp, dest_dir)
            shutil.rmtree(old)
        else:
            os.rename(tmp, dest_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("extracted %d files from %s into %s", n_files, archive, dest_dir)
    return dest_dir
