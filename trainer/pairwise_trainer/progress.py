"""Progress reporting: a tqdm bar for humans (only on a tty) and JSONL lines for machines.

``--progress-jsonl FILE`` appends one JSON object per line, flushed immediately:

* ``{"event": "start", "command": "reward", "total": 120}``
* ``{"event": "progress", "step": 10, "total": 120}``
* ``{"event": "metrics", "step": 10, "metrics": {"loss": 0.61, ...}}``
* ``{"event": "done", "metrics": {...}, "output": "runs/rm"}``
* ``{"event": "error", "message": "..."}``
"""

from __future__ import annotations

import json
import sys
import time
from typing import IO


class Progress:
    """Reports steps and metrics; silent on non-main processes (``enabled=False``)."""

    def __init__(
        self,
        command: str,
        jsonl_path: str | None = None,
        enabled: bool = True,
        bar: bool | None = None,
    ):
        self.command = command
        self.enabled = enabled
        self._fh: IO[str] | None = None
        if enabled and jsonl_path:
            self._fh = open(jsonl_path, "a", encoding="utf-8")  # noqa: SIM115
        self._bar = None
        self._want_bar = enabled and (sys.stderr.isatty() if bar is None else bar)
        self._t0 = time.time()

    def _emit(self, obj: dict) -> None:
        if self._fh is not None:
            self._fh.write(json.dumps(obj) + "\n")
            self._fh.flush()

    def start(self, total: int) -> None:
        self._emit({"event": "start", "command": self.command, "total": total})
        if self._want_bar:
            import shutil

            from tqdm import tqdm

            # A pty without a window size reports 0 columns, which makes tqdm draw nothing.
            cols = shutil.get_terminal_size((100, 20)).columns or 100
            self._bar = tqdm(total=total, desc=self.command, ncols=min(cols, 120))

    def step(self, step: int, total: int, metrics: dict | None = None) -> None:
        """Advance to ``step`` of ``total``; ``metrics`` (if any) go to the bar's postfix only."""
        if not self.enabled:
            return
        self._emit({"event": "progress", "step": step, "total": total})
        if self._bar is not None:
            self._bar.n = step
            if metrics:
                self._bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()}, refresh=False)
            self._bar.refresh()

    def metrics(self, step: int, metrics: dict) -> None:
        """Emit a metrics line (values must be JSON numbers)."""
        if self.enabled:
            self._emit({"event": "metrics", "step": step, "metrics": _clean(metrics)})

    def done(self, metrics: dict | None = None, output: str | None = None) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._emit(
            {
                "event": "done",
                "metrics": _clean(metrics or {}),
                "output": output,
                "elapsed_s": round(time.time() - self._t0, 3),
            }
        )

    def error(self, message: str) -> None:
        if self.enabled:
            self._emit({"event": "error", "message": message})

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _clean(metrics: dict) -> dict:
    out = {}
    for k, v in metrics.items():
        if isinstance(v, dict):
            out[k] = _clean(v)
        elif isinstance(v, int | float | str | bool) or v is None:
            out[k] = v
        else:
            out[k] = float(v)
    return out
