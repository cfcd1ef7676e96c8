"""brainreps.download against a local HTTP server on 127.0.0.1 (Range, truncation, failures)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brainreps.download import (
    ArchiveError,
    ChecksumError,
    DownloadError,
    extract_archive,
    fetch,
    verify_checksum,
)

# --- a tiny archive of generated images and a local server ------------------------------------

CLASSES = {"n01000001": 4, "n01000002": 5, "n01000003": 6}


def make_image(seed: int, width: int, height: int, mode: str) -> Image.Image:
    """A deterministic random image in one PIL mode."""
    rng = np.random.default_rng(seed)
    rgb = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")
    if mode == "P":
        return rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return rgb.convert(mode)


def image_bytes(seed: int, fmt: str) -> bytes:
    """A small JPEG (RGB or grayscale) or PNG (RGBA or palette) of varying aspect ratio."""
    width, height = 24 + 4 * (seed % 5), 20 + 3 * (seed % 7)
    mode = {"JPEG": ("RGB", "L")[seed % 2], "PNG": ("RGBA", "P")[seed % 2]}[fmt]
    buf = io.BytesIO()
    make_image(seed, width, height, mode).save(buf, format=fmt)
    return buf.getvalue()


def toy_files(top: str = "toynet/val") -> dict[str, bytes]:
    """Relative path -> bytes of an Imagenette-like layout: <top>/<wnid>/<name>.JPEG|.png."""
    files = {}
    seed = 0
    for wnid, n in CLASSES.items():
        for i in range(n):
            fmt = "JPEG" if i % 2 == 0 else "PNG"
            ext = ".JPEG" if fmt == "JPEG" else ".png"
            files[f"{top}/{wnid}/{wnid}_{i:04d}{ext}"] = image_bytes(seed, fmt)
            seed += 1
    files[f"{top}/README.txt"] = b"not an image\n"
    return files


def make_tar_gz(files: dict[str, bytes]) -> bytes:
    """A .tar.gz holding `files` (directories implied by the paths)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Write `files` below `root`; returns root."""
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@dataclass
class ServerState:
    """What the server serves and what it saw."""

    files: dict[str, bytes] = field(default_factory=dict)
    truncate: dict[str, int] = field(default_factory=dict)  # path -> bytes sent on next GET
    next_files: dict[str, bytes] = field(default_factory=dict)  # swap in after the first GET
    drop_always: bool = False
    ignore_range: bool = False
    requests: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ranges(self) -> list[str | None]:
        return [r["range"] for r in self.requests]


def _handler(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:
            with state.lock:
                state.requests.append({"path": self.path, "range": self.headers.get("Range")})
                body = state.files.get(self.path)
                cut = state.truncate.pop(self.path, None)
                if self.path in state.next_files:
                    state.files[self.path] = state.next_files.pop(self.path)
            if state.drop_always:
                self.close_connection = True
                return  # no response at all: the client sees the connection closed
            if body is None:
                self.send_error(404, "Not Found")
                return
            start = 0
            m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if m and not state.ignore_range:
                start = int(m.group(1))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            payload = body[start:] if cut is None else body[start : start + cut]
            self.wfile.write(payload)
            self.wfile.flush()
            if cut is not None:
                self.close_connection = True

    return Handler


@pytest.fixture
def server():
    """A local HTTP server on 127.0.0.1 (ephemeral port) and its state; yields (base_url, state)."""
    state = ServerState()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


FAST = {"backoff": 0.0, "timeout": 10.0, "progress": False}


# --- downloads ---------------------------------------------------------------------------------


def test_good_download_verifies_and_extracts(server, tmp_path):
    base, state = server
    files = toy_files()
    archive = make_tar_gz(files)
    state.files["/toy.tar.gz"] = archive
    dest = tmp_path / "dl" / "toy.tar.gz"
    out = fetch(f"{base}/toy.tar.gz", dest, sha256=sha256_of(archive), **FAST)
    assert out == dest
    assert dest.read_bytes() == archive
    assert len(state.requests) == 1 and state.ranges() == [None]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["toy.tar.gz"]  # no .part left
    assert verify_checksum(dest, md5=hashlib.md5(archive).hexdigest()) is True
    assert verify_checksum(dest) is False
    extracted = extract_archive(dest, tmp_path / "x")
    got = {
        p.relative_to(extracted).as_posix(): p.read_bytes()
        for p in extracted.rglob("*")
        if p.is_file()
    }
    assert got == files
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp dirs
    # a second fetch finds the verified file in place and makes no request
    fetch(f"{base}/toy.tar.gz", dest, sha256=sha256_of(archive), **FAST)
    assert len(state.requests) == 1


def test_truncated_download_is_resumed_with_range(server, tmp_path):
    base, state = server
    data = bytes(np.random.default_rng(1).integers(0, 256, 300_000, dtype=np.uint8))
    state.files["/big.bin"] = data
    state.truncate["/big.bin"] = 123_457
    dest = tmp_path / "big.bin"
    fetch(f"{base}/big.bin", dest, sha256=sha256_of(data), **FAST)
    assert state.ranges() == [None, "bytes=123457-"]
    assert dest.read_bytes() == data
    assert not (tmp_path / "big.bin.part").exists()


def test_interrupted_fetch_is_resumed_by_the_next_call(server, tmp_path):
    base, state = server
    data = bytes(range(256)) * 1000
    state.files["/a.bin"] = data
    state.truncate["/a.bin"] = 100_000
    dest = tmp_path / "a.bin"
    with pytest.raises(DownloadError, match=r"after 1 attempts.*100000 of 256000 bytes"):
        fetch(f"{base}/a.bin", dest, md5=hashlib.md5(data).hexdigest(), retries=0, **FAST)
    assert not dest.exists()
    assert (tmp_path / "a.bin.part").stat().st_size == 100_000
    fetch(f"{base}/a.bin", dest, md5=hashlib.md5(data).hexdigest(), retries=0, **FAST)
    assert state.ranges() == [None, "bytes=100000-"]
    assert dest.read_bytes() == data


def test_complete_part_file_is_finished_without_downloading_again(server, tmp_path):
    base, state = server
    data = b"z" * 4096
    state.files["/z.bin"] = data
    dest = tmp_path / "z.bin"
    # a run that died after downloading everything but before the rename
    (tmp_path / "z.bin.part").write_bytes(data)
    (tmp_path / "z.bin.part.json").write_text(json.dumps({"url": f"{base}/z.bin"}))
    fetch(f"{base}/z.bin", dest, sha256=sha256_of(data), **FAST)
    assert state.ranges() == ["bytes=4096-"]  # answered 416: nothing more to send
    assert dest.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z.bin"]


def test_server_ignoring_range_gives_the_whole_file(server, tmp_path):
    base, state = server
    data = b"0123456789" * 5000
    state.files["/f.bin"] = data
    state.truncate["/f.bin"] = 20_000
    state.ignore_range = True
    dest = tmp_path / "f.bin"
    fetch(f"{base}/f.bin", dest, sha256=sha256_of(data), **FAST)
    assert state.ranges() == [None, "bytes=20000-"]
    assert dest.read_bytes() == data


def test_resume_onto_a_changed_file_restarts_from_scratch(server, tmp_path):
    base, state = server
    old = b"a" * 50_000
    new = b"b" * 50_000
    state.files["/c.bin"] = old
    state.next_files["/c.bin"] = new
    state.truncate["/c.bin"] = 10_000
    dest = tmp_path / "c.bin"
    fetch(f"{base}/c.bin", dest, sha256=sha256_of(new), **FAST)
    # truncated old, resumed onto new (mixed bytes fail the checksum), then a fresh download
    assert state.ranges() == [None, "bytes=10000-", None]
    assert dest.read_bytes() == new


def test_bad_checksum_names_url_and_leaves_no_file(server, tmp_path):
    base, state = server
    state.files["/toy.tar.gz"] = make_tar_gz(toy_files())
    dest = tmp_path / "toy.tar.gz"
    url = f"{base}/toy.tar.gz"
    with pytest.raises(ChecksumError) as info:
        fetch(url, dest, sha256="0" * 64, **FAST)
    message = str(info.value)
    assert url in message and str(dest) in message and "0" * 64 in message
    assert isinstance(info.value, OSError)
    assert list(tmp_path.iterdir()) == []
    assert len(state.requests) == 1


def test_always_failing_server_exhausts_retries(server, tmp_path):
    base, state = server
    state.files["/x.bin"] = b"x" * 1000
    state.drop_always = True
    dest = tmp_path / "x.bin"
    url = f"{base}/x.bin"
    with pytest.raises(DownloadError, match=r"after 3 attempts") as info:
        fetch(url, dest, sha256=sha256_of(b"x" * 1000), retries=2, **FAST)
    assert url in str(info.value) and str(dest) in str(info.value)
    assert len(state.requests) == 3
    assert not dest.exists()


def test_missing_file_is_not_retried(server, tmp_path):
    base, state = server
    with pytest.raises(DownloadError, match=r"HTTP 404") as info:
        fetch(f"{base}/nope.tgz", tmp_path / "nope.tgz", retries=3, **FAST)
    assert f"{base}/nope.tgz" in str(info.value)
    assert len(state.requests) == 1


def test_existing_file_with_wrong_checksum_is_downloaded_again(server, tmp_path):
    base, state = server
    state.files["/d.bin"] = b"good" * 100
    dest = tmp_path / "d.bin"
    dest.write_bytes(b"stale")
    fetch(f"{base}/d.bin", dest, md5=hashlib.md5(b"good" * 100).hexdigest(), **FAST)
    assert dest.read_bytes() == b"good" * 100
    assert len(state.requests) == 1


def test_verify_checksum_mismatch_names_the_file(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert verify_checksum(path, sha256=sha256_of(b"abc")) is True
    with pytest.raises(ChecksumError, match=re.escape(str(path))):
        verify_checksum(path, md5="0" * 32)


# --- extraction --------------------------------------------------------------------------------


def _tar_with(tmp_path: Path, *members: tarfile.TarInfo) -> Path:
    path = tmp_path / "evil.tar"
    with tarfile.open(path, "w") as tar:
        for m in members:
            tar.addfile(m, io.BytesIO(b"x" * m.size) if m.isfile() else None)
    return path


@pytest.mark.parametrize(
    "name, linkname, kind",
    [
        ("../escape.txt", "", tarfile.REGTYPE),
        ("/abs/escape.txt", "", tarfile.REGTYPE),
        ("ok/link", "../../outside", tarfile.SYMTYPE),
        ("ok/link", "/etc/passwd", tarfile.SYMTYPE),
    ],
)
def test_tar_path_traversal_is_refused(tmp_path, name, linkname, kind):
    good = tarfile.TarInfo("ok/file.txt")
    good.size = 3
    bad = tarfile.TarInfo(name)
    bad.type = kind
    bad.linkname = linkname
    bad.size = 3 if kind == tarfile.REGTYPE else 0
    archive = _tar_with(tmp_path, good, bad)
    dest = tmp_path / "out" / "x"
    with pytest.raises(ArchiveError, match=re.escape(name)):
        extract_archive(archive, dest)
    assert not dest.exists()
    assert list((tmp_path / "out").iterdir()) == []  # no temp dir left
    assert not (tmp_path / "escape.txt").exists()


def test_zip_extracts_and_refuses_traversal(tmp_path):
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("top/a/1.png", b"one")
        zf.writestr("top/b/2.png", b"two")
    out = extract_archive(good, tmp_path / "good")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "top/a/1.png",
        "top/b/2.png",
    ]
    assert (out / "top/b/2.png").read_bytes() == b"two"
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("fine.txt", b"ok")
        zf.writestr("../../evil.txt", b"bad")
    with pytest.raises(ArchiveError, match=r"\.\./\.\./evil\.txt"):
        extract_archive(evil, tmp_path / "evil")
    assert not (tmp_path / "evil").exists()


def test_corrupt_archive_is_an_archive_error(tmp_path):
    archive = tmp_path / "broken.tar.gz"
    archive.write_bytes(make_tar_gz(toy_files())[:200])
    with pytest.raises(ArchiveError, match=re.escape(str(archive))):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()
