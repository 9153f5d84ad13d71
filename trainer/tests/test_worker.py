"""pairwise-worker against a fake protocol server (docs/worker-protocol.md), and `serve`.

The fake server is a threaded http.server that implements the worker endpoints, stores artifacts
in memory with sha256 checks, and records every call; hooks let a test answer heartbeats with
``cancel: true`` or ``409 lease_lost``. The lead tests the worker against the real Node server.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import torch
from safetensors.torch import load_file

from pairwise_trainer import task
from pairwise_trainer.worker import Worker
from pairwise_trainer.worker_client import WorkerClient, make_tarball, safe_extract, tar_bytes

TOKEN = "pww_test-token"


class FakeServer:
    """The worker protocol in ~100 lines: jobs are queued by the test, one claim each."""

    def __init__(self, heartbeat_seconds: float = 0.2):
        self.heartbeat_seconds = heartbeat_seconds
        self.calls: list[tuple[float, str, str, object]] = []  # (time, method, path, body)
        self.artifacts: dict[int, dict] = {}
        self.jobs: list[dict] = []
        self.heartbeats = 0
        self.on_heartbeat = None  # (n, body) -> (status, obj) | None
        self.corrupt: set[int] = set()
        self.next_job_id = 100
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def add_artifact(self, data: bytes, name: str, kind: str = "file") -> dict:
        with self.lock:
            aid = len(self.artifacts) + 1
            sha = hashlib.sha256(data).hexdigest()
            self.artifacts[aid] = {"name": name, "kind": kind, "data": data, "sha256": sha}
        return {"artifact_id": aid, "sha256": sha, "size": len(data), "name": name}

    def queue(self, kind: str, params: dict, inputs: dict | None = None, resume=None) -> int:
        job_id = self.next_job_id
        self.next_job_id += 1
        self.jobs.append(
            {
                "id": job_id,
                "kind": kind,
                "attempt": 1,
                "params": params,
                "inputs": inputs or {},
                "resume": resume,
                "lease_expires_at": "2026-11-28T12:00:30.000Z",
            }
        )
        return job_id

    def bodies(self, suffix: str, method: str = "POST") -> list:
        return [b for _, m, p, b in self.calls if m == method and p.endswith(suffix)]

    def when(self, suffix: str) -> list[float]:
        return [t for t, _, p, _ in self.calls if p.endswith(suffix)]

    def _handler(self):
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _json(self, status: int, obj=None):
                data = b"" if obj is None else json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _err(self, status, code, message="x"):
                self._json(status, {"error": {"code": code, "message": message}})

            def _auth(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._err(401, "unauthenticated")
                    return False
                return True

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_POST(self):
                raw = self._body()
                if not self._auth():
                    return
                path = urlparse(self.path).path.removeprefix("/api/v1/worker")
                body = json.loads(raw or b"{}")
                fake.calls.append((time.time(), "POST", path, body))
                if path == "/register":
                    return self._json(
                        200,
                        {
                            "worker_id": 1,
                            "heartbeat_seconds": fake.heartbeat_seconds,
                            "lease_seconds": 30,
                        },
                    )
                if path == "/claim":
                    with fake.lock:
                        job = fake.jobs.pop(0) if fake.jobs else None
                    return self._json(200, {"job": job}) if job else self._json(204)
                if path.endswith("/heartbeat"):
                    with fake.lock:
                        fake.heartbeats += 1
                        n = fake.heartbeats
                    hook = fake.on_heartbeat(n, body) if fake.on_heartbeat else None
                    if hook:
                        return self._json(*hook)
                    return self._json(200, {"cancel": False, "lease_expires_at": "x"})
                if path.endswith("/checkpoint"):
                    assert body["artifact_id"] in fake.artifacts
                    return self._json(200, {"ok": True})
                if path.endswith("/complete"):
                    return self._json(200, {"ok": True})
                if path.endswith("/fail"):
                    return self._json(200, {"status": "failed"})
                self._err(404, "not_found")

            def do_PUT(self):
                raw = self._body()
                if not self._auth():
                    return
                u = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(u.query).items()}
                fake.calls.append((time.time(), "PUT", u.path, {**q, "size": len(raw)}))
                if hashlib.sha256(raw).hexdigest() != self.headers.get("X-Pairwise-Sha256"):
                    return self._err(400, "checksum_mismatch")
                ref = fake.add_artifact(raw, q.get("name", "artifact"), q.get("kind", "file"))
                self._json(201, {k: ref[k] for k in ("artifact_id", "sha256", "size")})

            def do_GET(self):
                if not self._auth():
                    return
                path = urlparse(self.path).path.removeprefix("/api/v1/worker")
                fake.calls.append((time.time(), "GET", path, None))
                aid = int(path.rsplit("/", 1)[1])
                a = fake.artifacts[aid]
                data = a["data"][:-1] + b"!" if aid in fake.corrupt else a["data"]
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Pairwise-Sha256", a["sha256"])
                self.end_headers()
                self.wfile.write(data)

        return H


@pytest.fixture
def fake():
    s = FakeServer()
    yield s
    s.close()


def make_worker(fake: FakeServer, tmp_path: Path) -> Worker:
    client = WorkerClient(fake.url, TOKEN, retries=1, backoff_s=0.01, timeout_s=30)
    return Worker(
        client,
        "test-worker",
        ["train_reward", "sft", "ppo", "generate", "evaluate"],
        tmp_path / "work",
        poll_seconds=0.05,
        device="cpu",
    )


@pytest.fixture(scope="module")
def tiny_tar(tiny_model, tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("tar") / "tiny.tar.gz"
    return make_tarball(Path(tiny_model), out).read_bytes()


def prefs_jsonl(n: int, seed: int) -> bytes:
    rows = task.synthetic_preferences(n, seed=seed)
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def extract(data: bytes, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    (dest.parent / (dest.name + ".tar.gz")).write_bytes(data)
    safe_extract(dest.parent / (dest.name + ".tar.gz"), dest)
    return dest


PPO_CONFIG = {
    "num_updates": 4,
    "rollout_batch_size": 16,
    "mini_batch_size": 8,
    "ppo_epochs": 1,
    "max_new_tokens": 4,
    "lr": 1e-3,
}


# ------------------------------------------------------------------------------------------------


def test_register_payload(fake, tmp_path):
    w = make_worker(fake, tmp_path)
    resp = w.register()
    assert resp["heartbeat_seconds"] == fake.heartbeat_seconds
    (body,) = fake.bodies("/register")
    assert body["name"] == "test-worker"
    caps = body["capabilities"]
    assert caps["device"] == "cpu" and caps["gpu_name"] is None and caps["gpu_memory_mb"] is None
    assert caps["kinds"] == ["train_reward", "sft", "ppo", "generate", "evaluate"]
    assert caps["torch"] == torch.__version__.split("+")[0]
    assert caps["python"].count(".") == 2
    assert TOKEN not in repr(w.client), "the token must never appear in reprs or logs"


def test_train_reward_end_to_end(fake, tmp_path, tiny_tar):
    data = fake.add_artifact(prefs_jsonl(1200, seed=3), "snapshot.jsonl", "dataset")
    model = fake.add_artifact(tiny_tar, "tiny.tar.gz", "checkpoint")
    job = fake.queue(
        "train_reward",
        {"config": {"lr": 1e-3, "batch_size": 32, "epochs": 2, "log_every": 5}},
        {"dataset": data, "model": model},
    )
    make_worker(fake, tmp_path).run(once=True)

    assert fake.bodies(f"/jobs/{job}/fail") == [], fake.bodies(f"/jobs/{job}/fail")
    gets = [p for _, m, p, _ in fake.calls if m == "GET"]
    assert (
        f"/artifacts/{data['artifact_id']}" in gets and f"/artifacts/{model['artifact_id']}" in gets
    )
    beats = fake.bodies(f"/jobs/{job}/heartbeat")
    metrics = [m for b in beats for m in b.get("metrics", [])]
    assert any("train/loss" in m["values"] for m in metrics), "heartbeats should carry train/loss"
    assert beats[-1]["progress"]["step"] == beats[-1]["progress"]["total"] > 0
    assert any(line.startswith("job ") for b in beats for line in b.get("log", []))

    (put,) = fake.bodies("/artifacts", "PUT")
    assert put["kind"] == "checkpoint" and put["name"].endswith(".tar.gz")
    (done,) = fake.bodies(f"/jobs/{job}/complete")
    art = fake.artifacts[done["outputs"]["model"]]
    assert art["sha256"] == hashlib.sha256(art["data"]).hexdigest()
    res = done["result"]
    # 120 held-out pairs: chance is 0.5 +- 0.05; a short run on the tiny model reaches ~0.7.
    assert res["eval/accuracy"] >= 0.65, f"held-out accuracy {res['eval/accuracy']:.3f}"
    assert res["train/loss_last"] < res["train/loss_first"], "training loss should fall"
    assert all(isinstance(v, int | float | str | bool) for v in res.values()), res
    with tarfile.open(fileobj=io.BytesIO(art["data"])) as tf:
        files = {Path(n).name for n in tf.getnames()}
    assert {"config.json", "model.safetensors", "reward_stats.json", "tokenizer.json"} <= files


def test_generate_self_and_ab_write_pair_jsonl(fake, tmp_path, tiny_tar, tiny_model):
    model = fake.add_artifact(tiny_tar, "tiny.tar.gz", "checkpoint")
    chat = [{"role": "user", "content": "What is 12+34?"}]
    prompts = ["12+34=", chat, "40+2="]
    j1 = fake.queue(
        "generate",
        {
            "mode": "self",
            "prompts": prompts,
            "max_new_tokens": 4,
            "seed": 1,
            "model_a_name": "tiny",
        },
        {"model_a": model},
    )
    j2 = fake.queue(
        "generate",
        {"mode": "ab", "prompts": prompts[:1], "model_b_ref": tiny_model, "temperature": 0},
        {"model_a": model},
    )
    w = make_worker(fake, tmp_path)
    w.run(once=True)
    w.run(once=True)
    for job, n, names in ((j1, 3, ("tiny", "tiny")), (j2, 1, ("model_a", "model_b"))):
        (done,) = fake.bodies(f"/jobs/{job}/complete")
        assert done["result"] == {"count": n}
        art = fake.artifacts[done["outputs"]["generations"]]
        assert art["kind"] == "generations"
        lines = [json.loads(x) for x in art["data"].decode().splitlines()]
        assert len(lines) == n
        for given, row in zip(prompts, lines):
            assert list(row) == ["prompt", "response_a", "response_b", "model_a", "model_b"]
            assert row["prompt"] == given, "prompts must come back exactly as given"
            assert isinstance(row["response_a"], str) and isinstance(row["response_b"], str)
            assert (row["model_a"], row["model_b"]) == names
    # greedy decoding of the same weights: both sides of the ab pair agree
    (ab,) = [
        json.loads(x)
        for x in fake.artifacts[fake.bodies(f"/jobs/{j2}/complete")[0]["outputs"]["generations"]][
            "data"
        ]
        .decode()
        .splitlines()
    ]
    assert ab["response_a"] == ab["response_b"]


def test_cancel_stops_within_seconds(fake, tmp_path, tiny_model):
    cancel_at: list[float] = []

    def hb(n, body):
        if n >= 3:
            cancel_at.append(time.time())
            return 200, {"cancel": True, "lease_expires_at": "x"}
        return None

    fake.on_heartbeat = hb
    job = fake.queue(
        "ppo",
        {
            "policy_ref": tiny_model,
            "reward": "task",
            "num_prompts": 64,
            "config": {**PPO_CONFIG, "num_updates": 500},
        },
    )
    t0 = time.time()
    make_worker(fake, tmp_path).run(once=True)
    (fail,) = fake.bodies(f"/jobs/{job}/fail")
    assert fail == {"error": "cancelled", "cancelled": True}
    assert fake.bodies(f"/jobs/{job}/complete") == []
    # (A resume point saved before the cancel arrived is fine; the model is never uploaded.)
    kinds = [b["kind"] for b in fake.bodies("/artifacts", "PUT")]
    assert "checkpoint" not in kinds, "a cancelled job uploads no model"
    lag = fake.when(f"/jobs/{job}/fail")[0] - cancel_at[0]
    assert lag < 5, f"worker took {lag:.1f}s to stop after cancel (run {time.time() - t0:.1f}s)"


def test_lease_lost_stops_without_upload_or_complete(fake, tmp_path, tiny_tar):
    fake.on_heartbeat = lambda n, body: (
        (409, {"error": {"code": "lease_lost", "message": "gone"}}) if n >= 2 else None
    )
    data = fake.add_artifact(prefs_jsonl(2000, seed=4), "d.jsonl", "dataset")
    model = fake.add_artifact(tiny_tar, "tiny.tar.gz", "checkpoint")
    job = fake.queue(
        "train_reward",
        {"config": {"lr": 1e-3, "batch_size": 16, "epochs": 20}},
        {"dataset": data, "model": model},
    )
    t0 = time.time()
    make_worker(fake, tmp_path).run(once=True)
    assert time.time() - t0 < 30, "the worker should drop the job at once, not train 20 epochs"
    assert fake.bodies("/artifacts", "PUT") == []
    assert fake.bodies(f"/jobs/{job}/complete") == [] and fake.bodies(f"/jobs/{job}/fail") == []


def test_checksum_mismatch_fails_without_retry(fake, tmp_path, tiny_tar):
    data = fake.add_artifact(prefs_jsonl(50, seed=5), "d.jsonl", "dataset")
    model = fake.add_artifact(tiny_tar, "tiny.tar.gz", "checkpoint")
    fake.corrupt.add(data["artifact_id"])
    job = fake.queue("train_reward", {}, {"dataset": data, "model": model})
    make_worker(fake, tmp_path).run(once=True)
    (fail,) = fake.bodies(f"/jobs/{job}/fail")
    assert fail["retryable"] is False and "sha256" in fail["error"], fail
    assert fake.bodies("/artifacts", "PUT") == []


def test_bad_config_fails_with_one_line(fake, tmp_path, tiny_model):
    job = fake.queue("ppo", {"policy_ref": tiny_model, "reward": "task", "config": {"nope": 1}})
    make_worker(fake, tmp_path).run(once=True)
    (fail,) = fake.bodies(f"/jobs/{job}/fail")
    assert fail == {
        "error": "unknown PPOConfig field(s) in params.config: nope",
        "retryable": False,
    }


def test_ppo_resume_continues_from_saved_step(fake, tmp_path, tiny_model):
    params = {
        "policy_ref": tiny_model,
        "reward": "task",
        "num_prompts": 64,
        "seed": 0,
        "checkpoint_every": 2,
        "eval_prompts": 20,
        "config": PPO_CONFIG,
    }
    full = fake.queue("ppo", params)
    w = make_worker(fake, tmp_path)
    w.run(once=True)
    (done_full,) = fake.bodies(f"/jobs/{full}/complete")
    (ckpt,) = fake.bodies(f"/jobs/{full}/checkpoint")
    assert ckpt["step"] == 2
    assert done_full["result"]["ppo/resumed_from"] == 0
    assert 0 <= done_full["result"]["eval/task_accuracy"] <= 1

    r = fake.artifacts[ckpt["artifact_id"]]
    resume = {
        "artifact_id": ckpt["artifact_id"],
        "sha256": r["sha256"],
        "size": len(r["data"]),
        "step": 2,
    }
    resumed = fake.queue("ppo", params, resume=resume)
    w.run(once=True)
    (done_res,) = fake.bodies(f"/jobs/{resumed}/complete")
    assert done_res["result"]["ppo/resumed_from"] == 2
    steps = {
        m["step"] for b in fake.bodies(f"/jobs/{resumed}/heartbeat") for m in b.get("metrics", [])
    }
    assert steps == {3, 4}, f"the resumed attempt should run updates 3-4 only, got {sorted(steps)}"

    # Weights, optimizer, KL coefficient and RNG are restored: same policy as the unbroken run.
    a = load_file(
        extract(fake.artifacts[done_full["outputs"]["model"]]["data"], tmp_path / "a")
        / "model.safetensors"
    )
    b = load_file(
        extract(fake.artifacts[done_res["outputs"]["model"]]["data"], tmp_path / "b")
        / "model.safetensors"
    )
    base = load_file(str(Path(tiny_model) / "model.safetensors"))
    assert any(not torch.equal(a[k], base[k]) for k in a), "PPO should have changed the policy"
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), f"resumed run diverged at {k}"


def test_sft_and_evaluate_jobs(fake, tmp_path, tiny_model):
    rows = [task.split_line(ln) for ln in task.load_corpus()[:300]]
    sft = "".join(json.dumps({"prompt": p, "completion": c}) + "\n" for p, c in rows).encode()
    data = fake.add_artifact(sft, "sft.jsonl", "dataset")
    j1 = fake.queue(
        "sft",
        {"model_ref": tiny_model, "config": {"lr": 1e-3, "batch_size": 16, "epochs": 1}},
        {"dataset": data},
    )
    prompts = task.make_prompts(24, seed=9)
    j2 = fake.queue(
        "evaluate",
        {
            "policy_ref": tiny_model,
            "reference_ref": tiny_model,
            "prompts": prompts,
            "max_new_tokens": 4,
            "seed": 2,
        },
    )
    w = make_worker(fake, tmp_path)
    w.run(once=True)
    w.run(once=True)
    (done,) = fake.bodies(f"/jobs/{j1}/complete")
    assert done["outputs"]["model"] in fake.artifacts
    assert done["result"]["train/steps"] > 0 and done["result"]["eval/loss"] > 0
    (ev,) = fake.bodies(f"/jobs/{j2}/complete")
    r = ev["result"]
    assert abs(r["eval/kl"]) < 1e-4, "KL of a policy against itself must be 0"
    assert 0 <= r["eval/task_accuracy"] <= 1 and r["eval/n"] == 24
    assert r["eval/score"] == r["eval/task_score"], "no reward model: the task scores"


def test_sigterm_fails_job_as_retryable_and_exits(fake, tmp_path, tiny_model):
    job = fake.queue(
        "ppo",
        {"policy_ref": tiny_model, "reward": "task", "config": {**PPO_CONFIG, "num_updates": 500}},
    )
    cmd = [
        sys.executable,
        "-m",
        "pairwise_trainer.worker",
        "--server",
        fake.url,
        "--once",
        "--work-dir",
        str(tmp_path / "w"),
        "--device",
        "cpu",
        "--name",
        "sub",
    ]
    env = {**os.environ, "PAIRWISE_WORKER_TOKEN": TOKEN}
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not any(
            m["step"] for b in fake.bodies(f"/jobs/{job}/heartbeat") for m in b.get("metrics", [])
        ):
            assert time.time() < deadline and proc.poll() is None, "worker never started training"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-2000:]
    (fail,) = fake.bodies(f"/jobs/{job}/fail")
    assert fail == {"error": "worker shutting down", "retryable": True}
    assert TOKEN not in err, "the token leaked into the worker's log"


def test_safe_extract_refuses_escaping_paths(tmp_path):
    for bad in ("../evil.txt", "/etc/evil.txt", "a/../../evil.txt"):
        p = tmp_path / "bad.tar.gz"
        p.write_bytes(tar_bytes({bad: b"x"}))
        with pytest.raises(ValueError, match="unsafe"):
            safe_extract(p, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def test_serve_openai_compatible(tiny_model):
    from pairwise_trainer.worker_serve import ModelServer, make_server

    httpd = make_server(ModelServer(tiny_model, "tiny", device="cpu"), port=0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        with urllib.request.urlopen(base + "/models", timeout=30) as r:
            models = json.loads(r.read())
        assert models["object"] == "list" and models["data"][0]["id"] == "tiny"

        c = _post(
            base + "/completions",
            {"model": "tiny", "prompt": "12+34=", "max_tokens": 4, "n": 2, "seed": 0},
        )
        assert c["object"] == "text_completion" and c["model"] == "tiny"
        assert [ch["index"] for ch in c["choices"]] == [0, 1]
        assert all(
            isinstance(ch["text"], str) and ch["finish_reason"] in ("stop", "length")
            for ch in c["choices"]
        )
        u = c["usage"]
        assert (
            u["prompt_tokens"] > 0
            and u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
        )
        again = _post(
            base + "/completions", {"prompt": "12+34=", "max_tokens": 4, "n": 2, "seed": 0}
        )
        assert [x["text"] for x in again["choices"]] == [x["text"] for x in c["choices"]], "seeded"

        chat = _post(
            base + "/chat/completions",
            {
                "model": "tiny",
                "messages": [{"role": "user", "content": "What is 12+34?"}],
                "max_tokens": 4,
                "temperature": 0,
            },
        )
        assert chat["object"] == "chat.completion"
        msg = chat["choices"][0]["message"]
        assert msg["role"] == "assistant" and isinstance(msg["content"], str)
        assert chat["usage"]["completion_tokens"] >= 1

        req = urllib.request.Request(
            base + "/completions", b'{"prompt": 5}', {"Content-Type": "application/json"}
        )
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=30)
        assert e.value.code == 400 and "prompt" in json.loads(e.value.read())["error"]["message"]
    finally:
        httpd.shutdown()
        httpd.server_close()
