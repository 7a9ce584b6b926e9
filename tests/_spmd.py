"""Run test code on many devices, away from the suite's own single-device process.

* :func:`run_devices`: one subprocess with ``n`` virtual CPU devices
  (``--xla_force_host_platform_device_count``).
* :func:`run_processes`: ``n_processes`` subprocesses joined by
  ``jax.distributed`` on localhost, gloo CPU collectives, each with
  ``local_devices`` virtual devices: the multi-host set-up on one machine.

The code runs as a script with a prelude that enables float64 and, for
processes, initializes ``jax.distributed``; it reports by printing, and a
non-zero exit (a failed ``assert``) fails the test with the child's output.

XLA's CPU runtime aborts a process whose collective waited too long for a
partner device's thread ("Termination timeout for ... rendezvous"). On a
2-core host that also runs another test worker this happens two ways, neither
a wrong result: a thread starved for more than the default 10 s, and a
deadlock of the runtime itself when an SPMD program with collectives is still
running while the next eager operation is dispatched (measured: 5 of 18 runs
of the explicit-axes transform check hung in an all-gather; 0 of 18 once it
blocked on each step's result). So child scripts block on a step's result
before dispatching more, the limit is 120 s where jaxlib has the flag
(``--xla_cpu_collective_call_terminate_timeout_seconds``; jaxlib 0.6.2 has
not, its limit is fixed): long enough for starvation, short enough that a
deadlock ends in the abort rather than the test's timeout; and a child that
died of exactly that abort is run again, up to twice. Any other failure fails
at once.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import functools
import textwrap

import jax
import pytest

_PRELUDE = """\
import os
import jax
jax.config.update("jax_enable_x64", True)
"""

_DISTRIBUTED = """\
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(
    "localhost:{port}", num_processes={n}, process_id=int(os.environ["GRADOPT_TEST_PROCESS"])
)
"""


#: jax has explicit mesh axes (``jax.set_mesh``, ``AxisType``): 0.7 and later
HAS_EXPLICIT = hasattr(jax, "set_mesh") and hasattr(jax.sharding, "AxisType")
needs_explicit = pytest.mark.skipif(
    not HAS_EXPLICIT, reason="explicit mesh axes need jax.set_mesh (jax >= 0.7)")

#: Helpers for the child scripts (prepend to their code): ``make_mesh(kind, axis)``, a
#: 1-D mesh of the 8 devices with auto or explicit axis types; ``put_as(a, mesh, spec)``,
#: a global array each process builds from its own part (one process or many);
#: ``same(tag, got, want, tol)``, a comparison that prints ``tag ok``; ``replicated``.
CHILD_HELPERS = """
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

def make_mesh(kind, axis="data"):
    T = jax.sharding.AxisType
    return jax.make_mesh((8,), (axis,), axis_types=(T.Explicit if kind == "explicit" else T.Auto,))

def put_as(a, mesh, spec):
    return jax.make_array_from_callback(a.shape, NamedSharding(mesh, spec), lambda i: a[i])

def same(tag, got, want, tol=1e-10):
    got, want = np.asarray(got), np.asarray(want)
    err = float(np.max(np.abs(got - want)))
    assert got.shape == want.shape and err <= tol, (tag, got.shape, want.shape, err)
    print(tag, "ok", err)

def replicated(tag, a):
    assert a.sharding.is_fully_replicated, (tag, a.sharding)
"""

_TIMEOUT_FLAG = "--xla_cpu_collective_call_terminate_timeout_seconds=120"
_STARVED = "Termination timeout for"
_ATTEMPTS = 3


@functools.cache
def _has_timeout_flag() -> bool:
    """Whether this jaxlib accepts the CPU collective timeout flag (unknown flags abort)."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=_TIMEOUT_FLAG)
    r = subprocess.run([sys.executable, "-c", "import jax; jax.devices()"], env=env,
                       capture_output=True, text=True, timeout=120)
    return r.returncode == 0


def _env(n_devices: int, **extra) -> dict:
    flags = os.environ.get("XLA_FLAGS", "")
    flags = " ".join(f for f in flags.split() if "host_platform_device_count" not in f)
    if _has_timeout_flag():
        flags = f"{flags} {_TIMEOUT_FLAG}"
    env = dict(os.environ, JAX_PLATFORMS="cpu", **extra)
    env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n_devices}".strip()
    return env


def run_devices(code: str, n: int = 8, timeout: float = 300) -> str:
    """Run ``code`` in a subprocess that sees ``n`` CPU devices; return its stdout."""
    script = _PRELUDE + textwrap.dedent(code)
    for _ in range(_ATTEMPTS):
        r = subprocess.run([sys.executable, "-c", script], env=_env(n), capture_output=True,
                           text=True, timeout=timeout)
        if r.returncode == 0 or _STARVED not in r.stderr:
            break
    assert r.returncode == 0, f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"
    return r.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def run_processes(code: str, n_processes: int = 2, local_devices: int = 4,
                  timeout: float = 300) -> list[str]:
    """Run ``code`` in ``n_processes`` processes under ``jax.distributed``; return their stdouts.

    Process ``i`` has ``jax.process_index() == i`` and ``local_devices``
    devices, so ``jax.devices()`` lists ``n_processes * local_devices``.
    """
    for _ in range(_ATTEMPTS):
        outs = _launch(code, n_processes, local_devices, timeout)
        if not any(rc != 0 and _STARVED in err for rc, _, err in outs):
            break
    for i, (rc, out, err) in enumerate(outs):
        assert rc == 0, f"process {i}: exit {rc}\n--- stdout\n{out}\n--- stderr\n{err}"
    return [out for _, out, _ in outs]


def _launch(code: str, n_processes: int, local_devices: int, timeout: float) -> list:
    script = _PRELUDE + _DISTRIBUTED.format(port=_free_port(), n=n_processes) + textwrap.dedent(code)
    procs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         env=_env(local_devices, GRADOPT_TEST_PROCESS=str(i)))
        for i in range(n_processes)
    ]
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            outs.append((p.returncode, out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return outs
