"""``pairwise-worker``: runs the server's training and generation jobs (docs/worker.md).

    pairwise-worker --server URL --token TOKEN [--kinds ...] [--work-dir DIR] [--once]
    pairwise-worker serve --checkpoint DIR_OR_HUB_ID [--port 8000]

Protocol (docs/worker-protocol.md): register, then claim -> download inputs -> run the job through
the trainer's Python API while a heartbeat thread streams progress, metrics and log lines and
listens for ``cancel`` -> upload outputs -> complete (or fail). One job at a time.

The training loops report through a ``Progress``-shaped object; ours raises ``Cancelled`` (or
``LeaseLost``/``ShuttingDown``) from ``step``/``metrics`` once the heartbeat thread has seen the
signal, so a job stops within one optimizer step (one PPO update) of the request.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import shutil
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

from .worker_client import (
    ArtifactCache,
    ChecksumMismatch,
    LeaseLost,
    ProtocolError,
    TransientError,
    WorkerClient,
    make_tarball,
)

ALL_KINDS = ("train_reward", "sft", "ppo", "generate", "evaluate", "judge")
log = logging.getLogger("pairwise.worker")


class Cancelled(Exception):
    """The server asked to cancel the job (heartbeat answered ``cancel: true``)."""


class ShuttingDown(Exception):
    """SIGTERM/SIGINT while a job was running."""


class JobState:
    """What the main thread and the heartbeat thread share for one job (guarded by a lock)."""

    MAX_METRICS, MAX_LOG = 1000, 500  # per heartbeat, the server's limits

    def __init__(self, stop_flag: threading.Event):
        self.lock = threading.Lock()
        self.step, self.total = 0, 0
        self.metrics: list[dict] = []
        self.log: list[str] = []
        self.cancel = False
        self.lease_lost = False
        self.shutdown = stop_flag

    def check(self) -> None:
        if self.lease_lost:
            raise LeaseLost("the server re-queued this job or gave it to another worker")
        if self.cancel:
            raise Cancelled("cancelled")
        if self.shutdown.is_set():
            raise ShuttingDown("worker shutting down")

    def add_metrics(self, step: int, values: dict) -> None:
        clean = {
            k: float(v)
            for k, v in values.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        }
        if clean:
            with self.lock:
                self.metrics.append({"step": max(0, int(step)), "values": clean})

    def add_log(self, line: str) -> None:
        log.info("%s", line)
        with self.lock:
            self.log.append(line[:4000])

    def take(self) -> dict:
        with self.lock:
            body: dict = {"progress": {"step": max(0, self.step), "total": max(0, self.total)}}
            m, self.metrics = self.metrics[: self.MAX_METRICS], self.metrics[self.MAX_METRICS :]
            lg, self.log = self.log[: self.MAX_LOG], self.log[self.MAX_LOG :]
        if m:
            body["metrics"] = m
        if lg:
            body["log"] = lg
        return body

    def put_back(self, body: dict) -> None:
        with self.lock:
            self.metrics = body.get("metrics", []) + self.metrics
            self.log = body.get("log", []) + self.log


class Heartbeat(threading.Thread):
    """Posts the job's heartbeat every ``interval`` seconds until stopped."""

    def __init__(self, client: WorkerClient, job_id: int, state: JobState, interval: float):
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.client, self.job_id, self.state, self.interval = client, job_id, state, interval
        self._halt = threading.Event()

    def beat(self) -> None:
        body = self.state.take()
        try:
            resp = self.client.post(f"/jobs/{self.job_id}/heartbeat", body) or {}
        except LeaseLost:
            self.state.lease_lost = True
            return
        except TransientError as e:
            self.state.put_back(body)  # try again next beat; the lease has slack
            log.warning("heartbeat failed: %s", e)
            return
        except ProtocolError as e:
            log.warning("heartbeat rejected (%s); dropping that batch of metrics", e)
            return
        if resp.get("cancel"):
            self.state.cancel = True

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.beat()
            if self.state.lease_lost:
                return

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join()


class JobProgress:
    """The trainer's ``Progress`` interface, feeding the heartbeat and checking for cancel."""

    def __init__(self, state: JobState, phase: str, log_every_s: float = 5.0):
        self.state, self.phase, self.log_every_s = state, phase, log_every_s
        self._last_log = 0.0

    def start(self, total: int) -> None:
        with self.state.lock:
            self.state.step, self.state.total = 0, int(total)
        self.state.check()

    def step(self, step: int, total: int, metrics: dict | None = None) -> None:
        with self.state.lock:
            self.state.step, self.state.total = int(step), int(total)
        now = time.time()
        if metrics and (now - self._last_log >= self.log_every_s or step == total):
            self._last_log = now
            vals = " ".join(f"{k}={v:.4g}" for k, v in metrics.items() if isinstance(v, float))
            self.state.add_log(f"{self.phase} {step}/{total} {vals}".rstrip())
        self.state.check()

    def metrics(self, step: int, metrics: dict) -> None:
        # Trainer names without a namespace (loss, accuracy, lr) go under "train/".
        named = {(k if "/" in k else f"train/{k}"): v for k, v in metrics.items()}
        self.state.add_metrics(step, named)
        self.state.check()

    def done(self, metrics: dict | None = None, output: str | None = None) -> None:
        pass

    def error(self, message: str) -> None:
        self.state.add_log(f"error: {message}")

    def close(self) -> None:
        pass


class JobContext:
    """Everything a job runner (``worker_jobs``) needs: inputs, params, progress, uploads."""

    def __init__(self, worker: Worker, job: dict, state: JobState, job_dir: Path):
        self.worker, self.job, self.state, self.job_dir = worker, job, state, job_dir
        self.job_id = int(job["id"])
        self.params: dict = job.get("params") or {}
        self.inputs: dict = job.get("inputs") or {}
        self.resume: dict | None = job.get("resume")
        self.device = worker.device
        self.cpu = worker.device.type == "cpu"

    def log(self, line: str) -> None:
        self.state.add_log(line)

    def progress(self, phase: str) -> JobProgress:
        return JobProgress(self.state, phase)

    def check(self) -> None:
        self.state.check()

    def file(self, name: str) -> Path:
        if name not in self.inputs:
            raise ValueError(f"the job has no input {name!r}")
        ref = self.inputs[name]
        path = self.worker.cache.file(ref)
        self.log(f"input {name}: artifact {ref['artifact_id']} ({path.stat().st_size} bytes)")
        self.check()
        return path

    def model(self, name: str, required: bool = False) -> str | None:
        """A model for input ``name``: the checkpoint artifact (extracted), else a params fallback
        (``<name>_ref``, a local path or hub id)."""
        from .worker_jobs import MODEL_NAMES

        if name in self.inputs:
            path = self.worker.cache.model_dir(self.inputs[name])
            self.log(f"input {name}: artifact {self.inputs[name]['artifact_id']} -> {path.name}")
            self.check()
            return str(path)
        for key in MODEL_NAMES.get(name, (f"{name}_ref",)):
            ref = self.params.get(key)
            if isinstance(ref, str) and ref:
                return os.path.expanduser(ref)
        if required:
            from .modeling import UserError

            refs = " or ".join(f"params.{k}" for k in MODEL_NAMES.get(name, ()))
            raise UserError(f"{self.job['kind']} needs inputs.{name} or {refs}")
        return None

    def upload_file(self, path: Path, name: str, kind: str) -> int:
        self.check()  # never upload for a job we lost or that was cancelled
        ref = self.worker.client.upload(path, name, kind)
        self.log(f"uploaded {kind} {name}: artifact {ref['artifact_id']} ({ref.get('size')} bytes)")
        return int(ref["artifact_id"])

    def upload_dir(self, src: Path, name: str, kind: str = "checkpoint") -> int:
        self.check()
        tar = make_tarball(src, self.job_dir / "upload" / name)
        return self.upload_file(tar, name, kind)

    def save_resume(self, filename: str, state: dict, step: int) -> None:
        """Upload a resume point (a .tar.gz holding ``filename``) and record it for the job."""
        import torch

        d = self.job_dir / f"resume-{step}"
        d.mkdir(parents=True, exist_ok=True)
        torch.save(state, d / filename)
        art = self.upload_dir(d, f"job-{self.job_id}-resume-{step}.tar.gz", "file")
        self.check()
        self.worker.client.post(
            f"/jobs/{self.job_id}/checkpoint", {"artifact_id": art, "step": step}
        )
        shutil.rmtree(d, ignore_errors=True)
        self.log(f"resume point at step {step}: artifact {art}")

    def load_resume(self, filename: str) -> dict:
        import torch

        d = self.worker.cache.model_dir(self.resume)
        state = torch.load(d / filename, map_location="cpu", weights_only=True)
        if self.resume.get("step") is not None and int(state["update"]) != int(self.resume["step"]):
            self.log(
                f"resume artifact is at step {state['update']}, claim said {self.resume['step']}"
            )
        return state


def error_line(e: BaseException) -> str:
    from .modeling import UserError

    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if isinstance(e, UserError | TransientError | ChecksumMismatch) and msg:
        return msg[:2000]
    return f"{type(e).__name__}: {msg}"[:2000] if msg else type(e).__name__


def is_retryable(e: BaseException) -> bool:
    """Network trouble and out-of-memory may pass on another try (or another worker)."""
    import torch

    if isinstance(e, TransientError | ConnectionError | TimeoutError | MemoryError):
        return True
    if isinstance(e, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(e, RuntimeError) and "out of memory" in str(e).lower()


def detect_device(want: str = "auto"):
    """(torch.device, capabilities fragment)."""
    import torch

    if want in ("auto", "cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return torch.device("cuda"), {
            "device": "cuda",
            "gpu_name": props.name,
            "gpu_memory_mb": int(props.total_memory // 2**20),
        }
    if want == "cuda":
        raise SystemExit("error: --device cuda but torch sees no CUDA device")
    mps = getattr(torch.backends, "mps", None)
    if want in ("auto", "mps") and mps is not None and mps.is_available():
        return torch.device("mps"), {"device": "mps", "gpu_name": None, "gpu_memory_mb": None}
    return torch.device("cpu"), {"device": "cpu", "gpu_name": None, "gpu_memory_mb": None}


class Worker:
    def __init__(
        self,
        client: WorkerClient,
        name: str,
        kinds: list[str],
        work_dir: Path,
        poll_seconds: float = 2.0,
        device: str = "auto",
        hb_client: WorkerClient | None = None,
    ):
        self.client, self.name, self.kinds = client, name, kinds
        self.hb_client = hb_client or client
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.poll_seconds = poll_seconds
        self.device, self.device_caps = detect_device(device)
        self.cache = ArtifactCache(client, self.work_dir)
        self.stopping = threading.Event()
        self.heartbeat_seconds = 5.0

    def capabilities(self) -> dict:
        import torch

        return {
            **self.device_caps,
            "kinds": list(self.kinds),
            "torch": torch.__version__.split("+")[0],
            "python": platform.python_version(),
        }

    def register(self) -> dict:
        resp = self.client.post(
            "/register", {"name": self.name, "capabilities": self.capabilities()}
        )
        self.heartbeat_seconds = float(resp.get("heartbeat_seconds", 5))
        log.info(
            "registered as worker %s (%s), heartbeat every %ss",
            resp.get("worker_id"),
            self.device_caps["device"],
            self.heartbeat_seconds,
        )
        return resp

    def run(self, once: bool = False) -> int:
        """Claim and run jobs until stopped (or after one job with ``once``)."""
        self.register()
        while not self.stopping.is_set():
            try:
                claimed = self.client.post("/claim", {})
            except TransientError as e:
                log.warning("claim failed: %s", e)
                self.stopping.wait(self.poll_seconds)
                continue
            if not claimed:
                self.stopping.wait(self.poll_seconds)
                continue
            self.run_job(claimed["job"])
            if once:
                break
        return 0

    def run_job(self, job: dict) -> str:
        """Run one claimed job to completion; returns how it ended (for logs and tests):
        ``completed``, ``failed``, ``cancelled``, ``lease_lost`` or ``shutdown``."""
        from .worker_jobs import RUNNERS

        job_id = int(job["id"])
        state = JobState(self.stopping)
        job_dir = self.work_dir / "jobs" / f"{job_id}-{job.get('attempt', 0)}"
        job_dir.mkdir(parents=True, exist_ok=True)
        hb = Heartbeat(self.hb_client, job_id, state, self.heartbeat_seconds)
        hb.start()
        state.add_log(f"job {job_id} ({job['kind']}, attempt {job.get('attempt')}) on {self.name}")
        outcome = "failed"
        try:
            runner = RUNNERS.get(job["kind"])
            if runner is None:
                raise ValueError(f"this worker cannot run {job['kind']!r} jobs")
            ctx = JobContext(self, job, state, job_dir)
            outputs, result = runner(ctx)
            state.check()
            hb.stop()
            hb.beat()  # flush the last metrics and log lines before completing
            state.check()
            self.client.post(f"/jobs/{job_id}/complete", {"outputs": outputs, "result": result})
            outcome = "completed"
            log.info("job %s completed: %s", job_id, outputs)
        except LeaseLost:
            outcome = "lease_lost"
            hb.stop()
            log.warning("job %s: lease lost; dropped without uploading", job_id)
        except Cancelled:
            outcome = "cancelled"
            self._fail(hb, state, job_id, {"error": "cancelled", "cancelled": True})
        except (ShuttingDown, KeyboardInterrupt):
            outcome = "shutdown"
            self.stopping.set()
            self._fail(hb, state, job_id, {"error": "worker shutting down", "retryable": True})
        except Exception as e:
            log.error("job %s failed:\n%s", job_id, traceback.format_exc())
            if state.lease_lost:
                outcome = "lease_lost"
                hb.stop()
            else:
                self._fail(
                    hb, state, job_id, {"error": error_line(e), "retryable": is_retryable(e)}
                )
        finally:
            hb.stop()
            shutil.rmtree(job_dir, ignore_errors=True)
        return outcome

    def _fail(self, hb: Heartbeat, state: JobState, job_id: int, body: dict) -> None:
        hb.stop()
        if state.lease_lost:
            return
        hb.beat()  # flush log lines (e.g. the error) so the job page shows them
        try:
            self.client.post(f"/jobs/{job_id}/fail", body)
            log.info("job %s failed: %s", job_id, body)
        except (LeaseLost, ProtocolError, TransientError) as e:
            log.warning("job %s: could not report failure: %s", job_id, e)


# --------------------------------------------------------------------------------------------------
# command line


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="pairwise-worker",
        description="Run Pairwise training/generation jobs (docs/worker.md). "
        "`pairwise-worker serve --help` for the OpenAI-compatible server.",
    )
    ap.add_argument("--server", required=True, help="Pairwise server URL, e.g. http://host:3000")
    ap.add_argument(
        "--token",
        default=os.environ.get("PAIRWISE_WORKER_TOKEN"),
        help="worker token pww_… (default: $PAIRWISE_WORKER_TOKEN; prefer the variable, argv is "
        "visible to other users of the machine)",
    )
    ap.add_argument("--name", default=platform.node() or "worker", help="shown in the app")
    ap.add_argument("--kinds", default=",".join(ALL_KINDS), help="comma list of job kinds to claim")
    ap.add_argument(
        "--work-dir",
        default=os.environ.get("PAIRWISE_WORKER_DIR", str(Path.home() / ".cache/pairwise-worker")),
        help="artifact cache and scratch space (default: ~/.cache/pairwise-worker)",
    )
    ap.add_argument("--poll-seconds", type=float, default=2.0, help="wait between empty claims")
    ap.add_argument("--device", choices=["auto", "cuda", "mps", "cpu"], default="auto")
    ap.add_argument("--once", action="store_true", help="exit after one job")
    ap.add_argument("-v", "--verbose", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "serve":
        from .worker_serve import main as serve_main

        return serve_main(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not args.token:
        print("error: give --token or set PAIRWISE_WORKER_TOKEN", file=sys.stderr)
        return 2
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    bad = [k for k in kinds if k not in ALL_KINDS]
    if bad or not kinds:
        print(f"error: unknown kind(s) {bad}; choose from {', '.join(ALL_KINDS)}", file=sys.stderr)
        return 2
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    worker = Worker(
        WorkerClient(args.server, args.token),
        args.name,
        kinds,
        Path(args.work_dir).expanduser(),
        args.poll_seconds,
        args.device,
        hb_client=WorkerClient(args.server, args.token, retries=1, timeout_s=10.0),
    )

    def on_signal(signum, _frame):
        if worker.stopping.is_set():
            raise KeyboardInterrupt  # second signal: stop waiting
        log.info("signal %s: finishing up (failing the current job as retryable)", signum)
        worker.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        return worker.run(once=args.once)
    except ProtocolError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
