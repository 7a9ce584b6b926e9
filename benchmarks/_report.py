"""Shared by the benchmark scripts: machine description, timing, RESULTS.md sections.

Each script owns one section of ``benchmarks/RESULTS.md``, delimited by
``<!-- BEGIN name -->`` / ``<!-- END name -->``; re-running a script replaces
only its own section.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS_MD = HERE / "RESULTS.md"
RESULTS_DIR = HERE / "results"

_HEADER = """# Benchmark results

Figures written by the scripts in `benchmarks/` (each script owns one section
below and rewrites it when run). Absolute times are noisy on a shared 2-core
machine; compare the ratios, which are measured side by side in one process.
"""


def machine() -> str:
    """One line: CPU model, cores, JAX backend and versions, date."""
    cpu = platform.processor() or platform.machine()
    try:  # the model name, and the family / model numbers and widest vector unit: hosts
        # sold under one name ("AMD EPYC") differ by generation, and timings with them
        info = {}
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
        cpu = info.get("model name", cpu)
        flags = info.get("flags", "").split()
        vector = next((f for f in ("avx512f", "avx2", "avx") if f in flags), None)
        if "cpu family" in info:
            cpu += f" (family {info['cpu family']} model {info.get('model', '?')}"
            cpu += f", {vector})" if vector else ")"
    except OSError:
        pass
    import jax

    try:
        import optax

        optax_version = optax.__version__
    except Exception:  # pragma: no cover
        optax_version = "?"
    dev = jax.devices()[0]
    return (
        f"{cpu}, {os.cpu_count()} cores; JAX {jax.__version__} on {dev.platform} "
        f"({dev.device_kind}); optax {optax_version}; Python {platform.python_version()}; "
        f"{datetime.date.today().isoformat()}"
    )


def median_time(fn, *, repeat: int = 7, number: int = 1, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeat`` runs of ``number`` calls.

    ``fn`` must block until its result is ready (call ``.block_until_ready()``).
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)


def fmt_time(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section ``name`` of RESULTS.md with ``body``."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    text = RESULTS_MD.read_text() if RESULTS_MD.exists() else _HEADER
    block = f"{begin}\n{body.rstrip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS_MD.write_text(text)


def git_revision() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True, check=True
        ).stdout.strip()
    except Exception:  # pragma: no cover
        return "?"
