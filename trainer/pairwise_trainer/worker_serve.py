"""``pairwise-worker serve``: a small OpenAI-compatible HTTP server for one checkpoint.

    pairwise-worker serve --checkpoint runs/ppo [--host 127.0.0.1] [--port 8000] [--model-name x]

Endpoints: ``GET /v1/models``, ``POST /v1/completions``, ``POST /v1/chat/completions`` (the
package's chat template, ``data.render_chat``). Sampling is the trainer's own sampler
(``generate.sample_tokens``: temperature, top-p, seed), so responses match what ``generate`` jobs
and PPO see. One request generates at a time (a lock); the HTTP server itself is threaded so
``/v1/models`` answers while a generation runs. No streaming, no auth: bind to localhost or put it
behind a proxy that authenticates.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MAX_BODY = 4 * 1024 * 1024


class BadRequest(Exception):
    pass


class ModelServer:
    """The loaded checkpoint and the sampling entry point shared by the handlers."""

    def __init__(self, checkpoint: str, model_name: str | None = None, device: str = "auto"):
        import torch

        from .modeling import load_causal_lm, load_tokenizer

        checkpoint = _maybe_extract(checkpoint)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.tokenizer = load_tokenizer(checkpoint, padding_side="left")
        self.model = load_causal_lm(checkpoint, self.device, merge=True).eval()
        self.name = model_name or Path(checkpoint.rstrip("/")).name or checkpoint
        self.created = int(time.time())
        self.lock = threading.Lock()

    def complete(self, prompts: list[str], body: dict) -> tuple[list[dict], int]:
        """Sample ``n`` completions per prompt. Returns (choices, prompt_tokens)."""
        import torch

        from .generate import make_generator, sample_tokens

        n = _int(body, "n", 1, 1, 16)
        max_tokens = _int(body, "max_tokens", 16, 1, 4096)
        if body.get("max_completion_tokens") is not None:
            max_tokens = _int(body, "max_completion_tokens", 16, 1, 4096)
        temperature = _num(body, "temperature", 1.0, 0.0, 2.0)
        top_p = _num(body, "top_p", 1.0, 0.0, 1.0) or 1.0
        seed = body.get("seed")
        if seed is not None and not isinstance(seed, int):
            raise BadRequest("seed must be an integer")
        stop = body.get("stop") or []
        stop = [stop] if isinstance(stop, str) else list(stop)
        tok = self.tokenizer
        expanded = [p for p in prompts for _ in range(n)]
        with self.lock, torch.no_grad():
            enc = tok(expanded, return_tensors="pt", padding=True).to(self.device)
            gen = make_generator(
                seed if seed is not None else int(torch.randint(0, 2**31 - 1, ()).item()),
                self.device,
            )
            resp = sample_tokens(
                self.model,
                enc["input_ids"],
                enc["attention_mask"],
                max_tokens,
                tok.eos_token_id,
                tok.pad_token_id,
                temperature,
                top_p,
                gen,
            )
        prompt_tokens = int(enc["attention_mask"].sum().item()) // n
        choices = []
        for i, ids in enumerate(resp.tolist()):
            finish = "length"
            if tok.eos_token_id in ids:
                ids = ids[: ids.index(tok.eos_token_id)]
                finish = "stop"
            text = tok.decode(ids, skip_special_tokens=True)
            for s in stop:
                if s and s in text:
                    text, finish = text[: text.index(s)], "stop"
            choices.append(
                {
                    "index": i,
                    "text": text,
                    "finish_reason": finish,
                    "tokens": len(ids) + (finish == "stop"),
                }
            )
        return choices, prompt_tokens


def _int(body: dict, key: str, default: int, lo: int, hi: int) -> int:
    v = body.get(key, default)
    if v is None:
        return default
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise BadRequest(f"{key} must be an integer in [{lo}, {hi}]")
    return v


def _num(body: dict, key: str, default: float, lo: float, hi: float) -> float:
    v = body.get(key, default)
    if v is None:
        return default
    if not isinstance(v, int | float) or isinstance(v, bool) or not lo <= v <= hi:
        raise BadRequest(f"{key} must be a number in [{lo}, {hi}]")
    return float(v)


def _maybe_extract(checkpoint: str) -> str:
    """Accept a checkpoint .tar.gz (as the server stores them) by extracting it to a temp dir."""
    p = Path(checkpoint).expanduser()
    if p.is_file() and p.name.endswith((".tar.gz", ".tgz", ".tar")):
        from .worker_client import find_model_root, safe_extract

        d = Path(tempfile.mkdtemp(prefix="pairwise-serve-"))
        safe_extract(p, d)
        return str(find_model_root(d))
    return str(p) if p.exists() else checkpoint


def make_handler(server: ModelServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "pairwise-serve"

        def log_message(self, fmt, *args):  # one short line per request on stderr
            sys.stderr.write(f"{self.address_string()} {fmt % args}\n")

        def _send(self, status: int, obj: dict) -> None:
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, typ: str = "invalid_request_error") -> None:
            self._send(status, {"error": {"message": message, "type": typ, "code": None}})

        def do_GET(self):
            if self.path.rstrip("/") == "/v1/models":
                return self._send(
                    200,
                    {
                        "object": "list",
                        "data": [
                            {
                                "id": server.name,
                                "object": "model",
                                "created": server.created,
                                "owned_by": "pairwise",
                            }
                        ],
                    },
                )
            if self.path.rstrip("/") in ("", "/health"):
                return self._send(200, {"ok": True, "model": server.name})
            self._error(404, f"no route {self.path}")

        def do_POST(self):
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    return self._error(413, "request body too large")
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    return self._error(400, "body must be JSON")
                if not isinstance(body, dict):
                    return self._error(400, "body must be a JSON object")
                if body.get("stream"):
                    return self._error(400, "stream is not supported by pairwise-worker serve")
                path = self.path.rstrip("/")
                if path == "/v1/completions":
                    return self._send(200, self._completions(body))
                if path == "/v1/chat/completions":
                    return self._send(200, self._chat(body))
                self._error(404, f"no route {self.path}")
            except BadRequest as e:
                self._error(400, str(e))
            except Exception as e:  # keep serving; report without a traceback
                self._error(500, f"{type(e).__name__}: {e}", "server_error")

        def _completions(self, body: dict) -> dict:
            prompt = body.get("prompt")
            prompts = [prompt] if isinstance(prompt, str) else prompt
            if (
                not isinstance(prompts, list)
                or not prompts
                or not all(isinstance(p, str) for p in prompts)
            ):
                raise BadRequest("prompt must be a string or a non-empty list of strings")
            choices, prompt_tokens = server.complete(prompts, body)
            completion_tokens = sum(c.pop("tokens") for c in choices)
            for c in choices:
                c["logprobs"] = None
            return {
                "id": f"cmpl-{uuid.uuid4().hex[:24]}",
                "object": "text_completion",
                "created": int(time.time()),
                "model": server.name,
                "choices": choices,
                "usage": _usage(prompt_tokens, completion_tokens),
            }

        def _chat(self, body: dict) -> dict:
            from .data import _is_messages, render_chat

            messages = body.get("messages")
            if not _is_messages(messages) or not messages:
                raise BadRequest("messages must be a non-empty list of {role, content}")
            prompt = render_chat(messages, add_generation_prompt=True, tokenizer=server.tokenizer)
            choices, prompt_tokens = server.complete([prompt], body)
            completion_tokens = sum(c.pop("tokens") for c in choices)
            return {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": server.name,
                "choices": [
                    {
                        "index": c["index"],
                        "message": {"role": "assistant", "content": c["text"]},
                        "finish_reason": c["finish_reason"],
                        "logprobs": None,
                    }
                    for c in choices
                ],
                "usage": _usage(prompt_tokens, completion_tokens),
            }

    return Handler


def _usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def make_server(
    model: ModelServer, host: str = "127.0.0.1", port: int = 8000
) -> ThreadingHTTPServer:
    httpd = ThreadingHTTPServer((host, port), make_handler(model))
    httpd.daemon_threads = True
    return httpd


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="pairwise-worker serve",
        description="Serve a checkpoint over an OpenAI-compatible API (completions, chat).",
    )
    ap.add_argument("--checkpoint", required=True, help="model directory, .tar.gz or hub id")
    ap.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1)")
    ap.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 = any free)")
    ap.add_argument("--model-name", help="model id reported by /v1/models (default: dir name)")
    ap.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    args = ap.parse_args(argv)
    from transformers.utils import logging as hf_logging

    from .modeling import UserError

    hf_logging.set_verbosity_error()
    try:
        model = ModelServer(args.checkpoint, args.model_name, args.device)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    httpd = make_server(model, args.host, args.port)
    host, port = httpd.server_address[:2]
    print(f"serving {model.name} on http://{host}:{port}/v1", file=sys.stderr, flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0
