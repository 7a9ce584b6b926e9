"""Run test code on many devices, away from the suite's own single-device process.

* :func:`run_devices`: one subprocess with ``n`` virtual CPU devices
  (``--xla_force_host_platform_device_count``).
* :func:`run_processes`: ``n_processes`` subprocesses joined by
  ``jax.distributed`` on localhost, gloo CPU collectives, each with
  ``local_devices`` virtual devices: the multi-host set-up on one machine.

The code runs as a script with a prelude that enables float64 and, for
processes, initializes ``jax.distributed``; it reports by printing, and a
non-zero exit (a failed ``assert``) fails the test with the child's output.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

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


def _env(n_devices: int, **extra) -> dict:
    flags = os.environ.get("XLA_FLAGS", "")
    flags = " ".join(f for f in flags.split() if "host_platform_device_count" not in f)
    env = dict(os.environ, JAX_PLATFORMS="cpu", **extra)
    env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n_devices}".strip()
    return env


def run_devices(code: str, n: int = 8, timeout: float = 300) -> str:
    """Run ``code`` in a subprocess that sees ``n`` CPU devices; return its stdout."""
    script = _PRELUDE + textwrap.dedent(code)
    r = subprocess.run([sys.executable, "-c", script], env=_env(n), capture_output=True,
                       text=True, timeout=timeout)
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
    for i, (rc, out, err) in enumerate(outs):
        assert rc == 0, f"process {i}: exit {rc}\n--- stdout\n{out}\n--- stderr\n{err}"
    return [out for _, out, _ in outs]
