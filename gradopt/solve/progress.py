"""A text progress bar fed from inside compiled loops by ``jax.debug.callback``.

The compiled loop calls back only every ``every`` steps (a traced modulus, so
it costs one integer comparison per step), and the host side redraws at most
``MAX_HZ`` times per second. No dependency is imported when progress is off.
"""

from __future__ import annotations

import itertools
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

MAX_HZ = 10.0
_BARS: dict[int, "_Bar"] = {}
_IDS = itertools.count()


class _Bar:
    def __init__(self, total: int, unit: str, stream=None):
        self.total = int(total)
        self.unit = unit
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.last = (0, float("nan"))

    def update(self, step: int, loss: float, force: bool = False) -> None:
        self.last = (step, loss)
        now = time.perf_counter()
        if not force and now - self.last_draw < 1.0 / MAX_HZ:
            return
        self.last_draw = now
        frac = min(1.0, step / max(self.total, 1))
        filled = int(round(25 * frac))
        bar = "#" * filled + "." * (25 - filled)
        self.stream.write(
            f"\r[{bar}] {step}/{self.total} {self.unit}  loss={loss:.6g}  "
            f"{now - self.start:.1f}s"
        )
        self.stream.flush()

    def close(self) -> None:
        step, loss = self.last
        self.update(step, loss, force=True)
        self.stream.write("\n")
        self.stream.flush()


def open_bar(total: int, unit: str) -> int:
    """Create a host-side bar; returns its id (to pass into the compiled loop)."""
    bar_id = next(_IDS)
    _BARS[bar_id] = _Bar(total, unit)
    return bar_id


def close_bar(bar_id: int) -> None:
    bar = _BARS.pop(bar_id, None)
    if bar is not None:
        bar.close()


def _host_update(bar_id, step, loss):
    bar = _BARS.get(int(np.asarray(bar_id).ravel()[0]))
    if bar is not None:
        bar.update(int(np.max(step)), float(np.mean(loss)))


def report(bar_id, step, loss, every) -> None:
    """From compiled code: send ``(step, loss)`` to the host every ``every`` steps."""
    jax.lax.cond(
        step % every == 0,
        lambda: jax.debug.callback(_host_update, bar_id, step, loss),
        lambda: None,
    )


def every_for(total) -> jnp.ndarray:
    """Callback period: about 200 callbacks over a run."""
    return jnp.maximum(jnp.asarray(total, jnp.int32) // 200, 1)
