"""A text progress bar fed from inside compiled loops by ``jax.debug.callback``.

The compiled loop calls back only every ``every`` steps (a traced modulus, so
it costs one integer comparison per step), and the host side redraws at most
``MAX_HZ`` times per second. No dependency is imported when progress is off.

The bar is drawn by the callbacks themselves, not by the Python call that
built the loop: the first callback of a run opens it (the total number of
steps travels with the callback, so a traced ``max_steps`` works), and the
loop's last callback (``final=True``) closes it. So a loop called inside an
outer ``jax.jit`` draws its bar each time the compiled program runs, not when
it is traced. The eager call forgets its bar's registration after the run; a
traced call leaves one small entry (the unit) per trace.
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


_UNITS: dict[int, str] = {}
_ACTIVE: dict[int, _Bar] = {}


def open_bar(unit: str) -> int:
    """Register a bar (drawn once the compiled loop reports); returns its id."""
    bar_id = next(_IDS)
    _UNITS[bar_id] = unit
    return bar_id


def close_bar(bar_id: int) -> None:
    """After an eager run: close the bar if the loop did not, and forget it."""
    _UNITS.pop(bar_id, None)
    bar = _ACTIVE.pop(bar_id, None)
    if bar is not None:
        bar.close()


def _host_update(bar_id, step, total, loss, final):
    bar_id = int(np.asarray(bar_id).ravel()[0])
    unit = _UNITS.get(bar_id)
    if unit is None:
        return
    bar = _ACTIVE.get(bar_id)
    if bar is None:
        bar = _ACTIVE[bar_id] = _Bar(int(np.max(total)), unit)
    bar.update(int(np.max(step)), float(np.mean(loss)))
    if bool(np.any(final)):
        del _ACTIVE[bar_id]
        bar.close()


def report(bar_id, step, total, loss, every) -> None:
    """From compiled code: send ``(step, loss)`` to the host every ``every`` steps."""
    jax.lax.cond(
        step % every == 0,
        lambda: jax.debug.callback(_host_update, bar_id, step, total, loss, False),
        lambda: None,
    )


def finish(bar_id, step, total, loss) -> None:
    """From compiled code, once at the end of a loop: final figures, close the bar."""
    jax.debug.callback(_host_update, bar_id, step, total, loss, True)


def every_for(total) -> jnp.ndarray:
    """Callback period: about 200 callbacks over a run."""
    return jnp.maximum(jnp.asarray(total, jnp.int32) // 200, 1)
