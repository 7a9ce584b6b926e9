"""Every ```python block in docs/*.md runs as written.

Each block runs on its own, in a fresh namespace (so it must carry its own
imports and data), with JAX's defaults (float32, as a reader who copies it
gets) and a time limit. A block that cannot run (it needs a dataset, a GPU,
or an API that another change adds) is preceded by a comment on the line
just above its fence::

    <!-- no-run: the reason -->

The reason is required; use the marker sparingly.
"""

import pathlib
import re
import signal
import textwrap
import warnings

import jax
import pytest

from _compat import enable_x64

# The slow tier (`make test-slow`, run by CI): these runs compile every documented
# example again, in float32, and are a check of the docs more than of the code.
pytestmark = pytest.mark.slow

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
FENCE = re.compile(r"^( *)```python[^\n]*\n(.*?)^\1```", re.S | re.M)  # also indented (in lists)
NO_RUN = re.compile(r"<!--\s*no-run:\s*(.*?)\s*-->\s*$")
# ``<!-- devices: 8 -->`` before a block: it runs in a subprocess with 8 virtual CPU devices
# (tests/_spmd.py), as the multi-device pages need jax to start with them
DEVICES = re.compile(r"<!--\s*devices:\s*(\d+)\s*-->\s*$")
TIME_LIMIT_S = 120  # per block; the blocks are small examples, this only catches hangs


def _parse(text, name):
    """``[(line, code, no-run reason or None)]`` for the python blocks of one page."""
    out = []
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = NO_RUN.search(before)
        out.append((line, textwrap.dedent(m.group(2)), skip.group(1) if skip else None))
    return out


def _blocks():
    out = []
    for path in sorted(DOCS.glob("*.md")):
        for line, code, skip in _parse(path.read_text(), path.name):
            out.append(pytest.param(path.name, line, code, skip, id=f"{path.stem}:{line}"))
    return out


BLOCKS = _blocks()


def test_docs_have_blocks():
    assert len(BLOCKS) >= 15


def test_parser_finds_indented_blocks_and_no_run_markers():
    text = (
        "intro\n```python\nx = 1\n```\n"
        "- item\n  ```python\n  y = 2\n  ```\n"
        "<!-- no-run: needs a GPU -->\n```python\nz = 3\n```\n"
        "```text\nnot python\n```\n"
    )
    got = _parse(text, "t.md")
    assert [(code, skip) for _, code, skip in got] == [
        ("x = 1\n", None), ("y = 2\n", None), ("z = 3\n", "needs a GPU"),
    ]
    assert [line for line, _, _ in got] == [2, 6, 10]


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout(f"doc block ran longer than {TIME_LIMIT_S} s")


@pytest.mark.parametrize("name,line,code,skip_reason", BLOCKS)
def test_doc_block_runs(name, line, code, skip_reason):
    if skip_reason is not None:
        assert skip_reason, f"{name}:{line}: a no-run marker needs a reason"
        pytest.skip(f"{name}:{line} marked no-run: {skip_reason}")
    before = (DOCS / name).read_text().split("\n")[line - 2]
    devices = DEVICES.search(before)
    if devices:
        from _spmd import run_devices  # noqa: PLC0415

        if "jax.set_mesh" in code and not hasattr(jax, "set_mesh"):
            # explicit mesh axes came with jax 0.7; the dependency floor (make test-min) lacks them
            pytest.skip(f"{name}:{line} uses jax.set_mesh, which jax {jax.__version__} lacks")

        run_devices(code, n=int(devices.group(1)), timeout=TIME_LIMIT_S * 2)
        return
    namespace = {"__name__": f"docs_{pathlib.Path(name).stem}_{line}"}
    compiled = compile(code, f"{name}:{line}", "exec")
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIME_LIMIT_S)
    try:
        with enable_x64(False), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compiled, namespace)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
