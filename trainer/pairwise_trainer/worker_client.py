"""HTTP side of ``pairwise-worker``: the worker protocol client, artifact cache and safe tarballs.

Standard library only (``urllib``). The token travels in the ``Authorization`` header and is never
put in a message, a log line or an exception.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

SHA_HEADER = "X-Pairwise-Sha256"
_CHUNK = 1 << 20


class ProtocolError(Exception):
    """The server answered with an error we cannot retry (a 4xx other than 409/429)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status, self.code = status, code


class LeaseLost(Exception):
    """409 lease_lost: the job is no longer ours; stop at once and upload nothing."""


class TransientError(Exception):
    """A network failure or 5xx that outlived the retries (the job is retryable)."""


class ChecksumMismatch(Exception):
    """Downloaded bytes do not hash to the expected sha256 (not retryable)."""


def _error_of(e: urllib.error.HTTPError) -> tuple[str, str]:
    try:
        body = json.loads(e.read() or b"{}")
        err = body.get("error", {}) if isinstance(body, dict) else {}
        return str(err.get("code", "error")), str(err.get("message", e.reason))[:500]
    except (ValueError, OSError):
        return "error", str(e.reason)[:500]


class WorkerClient:
    """Calls ``{server}/api/v1/worker/*`` with retries and exponential backoff on transient errors."""

    def __init__(
        self,
        server: str,
        token: str,
        retries: int = 5,
        backoff_s: float = 0.5,
        timeout_s: float = 60.0,
    ):
        self.base = server.rstrip("/") + "/api/v1/worker"
        self._token = token
        self.retries, self.backoff_s, self.timeout_s = retries, backoff_s, timeout_s

    def __repr__(self) -> str:  # never show the token
        return f"WorkerClient({self.base!r})"

    def _request(self, method: str, path: str, body=None, headers=None, stream=False):
        """One request with retries. ``body`` is a dict (JSON), bytes, or a callable returning a
        fresh binary file object (re-opened on each attempt). Returns ``(status, headers, data)``
        where data is parsed JSON (or None), or the open response when ``stream``."""
        url = self.base + path
        for attempt in range(self.retries + 1):
            hdrs = {"Authorization": f"Bearer {self._token}", **(headers or {})}
            data, fh = None, None
            if isinstance(body, dict):
                data = json.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
            elif isinstance(body, bytes):
                data = body
            elif callable(body):
                fh = body()
                data = fh
            req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
            try:
                resp = urllib.request.urlopen(req, timeout=self.timeout_s)
                if stream:
                    return resp.status, resp.headers, resp
                with resp:
                    raw = resp.read()
                return resp.status, resp.headers, (json.loads(raw) if raw else None)
            except urllib.error.HTTPError as e:
                code, message = _error_of(e)
                if e.code == 409 and code == "lease_lost":
                    raise LeaseLost(message) from None
                if e.code < 500 and e.code != 429:
                    raise ProtocolError(e.code, code, message) from None
                last: Exception = TransientError(f"HTTP {e.code} {code}: {message}")
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
                reason = getattr(e, "reason", e)
                last = TransientError(f"{method} {path}: {type(e).__name__}: {reason}")
            finally:
                if fh is not None:
                    fh.close()
            if attempt < self.retries:
                time.sleep(self.backoff_s * (2**attempt) * (0.5 + random.random()))
        raise last

    def post(self, path: str, body: dict | None = None):
        status, _, data = self._request("POST", path, body if body is not None else {})
        return None if status == 204 else data

    # ---- artifacts ------------------------------------------------------------------------------

    def download(self, artifact_id: int, expected_sha: str, dest: Path) -> Path:
        """Stream an artifact to ``dest``, checking the header and the computed sha256."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(self.retries + 1):
            try:
                _, headers, resp = self._request("GET", f"/artifacts/{artifact_id}", stream=True)
                h = hashlib.sha256()
                fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
                try:
                    with resp, os.fdopen(fd, "wb") as out:
                        while chunk := resp.read(_CHUNK):
                            h.update(chunk)
                            out.write(chunk)
                    header_sha = (headers.get(SHA_HEADER) or "").lower()
                    got = h.hexdigest()
                    if expected_sha and header_sha and header_sha != expected_sha.lower():
                        raise ChecksumMismatch(
                            f"sha256 mismatch for artifact {artifact_id}: the server sends "
                            f"{header_sha[:12]}…, the claim says {expected_sha[:12]}…"
                        )
                    if got != (expected_sha or header_sha).lower():
                        raise ChecksumMismatch(
                            f"sha256 mismatch for artifact {artifact_id}: downloaded bytes hash "
                            f"to {got[:12]}…, expected {(expected_sha or header_sha)[:12]}…"
                        )
                    os.replace(tmp, dest)
                    return dest
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
            except (ConnectionError, TimeoutError, OSError) as e:
                # A connection dropped mid-body: retry the whole download.
                if attempt >= self.retries:
                    raise TransientError(f"download of artifact {artifact_id} failed: {e}") from e
                time.sleep(self.backoff_s * (2**attempt))
        raise AssertionError("unreachable")

    def upload(self, path: Path, name: str, kind: str) -> dict:
        """PUT a file as an artifact; returns ``{"artifact_id", "sha256", "size"}``."""
        sha = sha256_file(path)
        size = path.stat().st_size
        q = urllib.parse.urlencode({"name": name, "kind": kind})
        _, _, data = self._request(
            "PUT",
            f"/artifacts?{q}",
            body=lambda: open(path, "rb"),  # noqa: SIM115 (closed by _request)
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(size),
                SHA_HEADER: sha,
            },
        )
        if data.get("sha256") and data["sha256"] != sha:
            raise ChecksumMismatch(f"server stored sha256 {data['sha256'][:12]}…, sent {sha[:12]}…")
        return data


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class ArtifactCache:
    """Downloads artifacts once per sha256 under ``work_dir/cache`` and extracts checkpoints once
    under ``work_dir/models/<sha>``."""

    def __init__(self, client: WorkerClient, work_dir: Path):
        self.client, self.root = client, work_dir

    def file(self, ref: dict) -> Path:
        sha = str(ref["sha256"]).lower()
        if not sha or any(c not in "0123456789abcdef" for c in sha) or len(sha) != 64:
            raise ChecksumMismatch(f"artifact {ref.get('artifact_id')}: invalid sha256 in claim")
        dest = self.root / "cache" / sha[:2] / sha
        if dest.exists() and sha256_file(dest) == sha:
            return dest
        return self.client.download(int(ref["artifact_id"]), sha, dest)

    def model_dir(self, ref: dict) -> Path:
        """A checkpoint artifact (.tar.gz of a model directory) extracted; returns the directory
        holding ``config.json`` or ``adapter_config.json``."""
        tar = self.file(ref)
        out = self.root / "models" / str(ref["sha256"]).lower()
        if not (out / ".complete").exists():
            tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=".extract-"))
            try:
                safe_extract(tar, tmp)
                if out.exists():
                    shutil.rmtree(out)
                out.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, out)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp)
            (out / ".complete").touch()
        return find_model_root(out)


def find_model_root(d: Path) -> Path:
    markers = ("config.json", "adapter_config.json", "resume_state.pt")
    if any((d / m).exists() for m in markers):
        return d
    subs = [p for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if len(subs) == 1:
        return find_model_root(subs[0])
    raise ValueError(f"checkpoint archive has no config.json (found {[p.name for p in subs][:5]})")


def safe_extract(tar_path: Path, dest: Path) -> None:
    """Extract a tar(.gz) refusing absolute paths, ``..``, links and device files."""
    dest = dest.resolve()
    with tarfile.open(tar_path, "r:*") as tf:
        members = tf.getmembers()
        for m in members:
            name = m.name
            if name.startswith(("/", "\\")) or os.path.isabs(name) or ".." in Path(name).parts:
                raise ValueError(f"unsafe path in checkpoint archive: {name!r}")
            if not (m.isfile() or m.isdir()):
                raise ValueError(f"unsupported member in checkpoint archive: {name!r} (links etc.)")
            if not (dest / name).resolve().is_relative_to(dest):
                raise ValueError(f"unsafe path in checkpoint archive: {name!r}")
        tf.extractall(dest, members=members, filter="data")


def make_tarball(src_dir: Path, out: Path) -> Path:
    """``.tar.gz`` of the files in ``src_dir`` (relative names, no top-level folder), byte-stable
    for the same files (sorted, zeroed mtimes/owners) so identical checkpoints deduplicate."""
    out.parent.mkdir(parents=True, exist_ok=True)
    import gzip

    with (
        open(out, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tf,
    ):
        for p in sorted(src_dir.rglob("*")):
            if not p.is_file() or p.name.startswith(".part-"):
                continue
            info = tarfile.TarInfo(p.relative_to(src_dir).as_posix())
            info.size, info.mtime, info.mode = p.stat().st_size, 0, 0o644
            with open(p, "rb") as f:
                tf.addfile(info, f)
    return out


def tar_bytes(files: dict[str, bytes]) -> bytes:
    """A small in-memory .tar.gz (tests and tooling)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()
