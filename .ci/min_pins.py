"""Print the run-time dependency floors of pyproject.toml as exact pins.

``make test-min`` installs gradopt with these pins (``jax>=0.6.2`` becomes
``jax==0.6.2``) so that the floors pyproject.toml declares are the versions
the suite actually runs against. Extra pins that the floors need to work
together are listed in ``COMPANIONS`` with their reason.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

#: Packages not declared by gradopt whose newest release no longer works
#: with the floors; pinned to a release contemporary with them.
COMPANIONS: dict[str, str] = {}


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    pins = []
    for req in project["dependencies"]:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][A-Za-z0-9_.]*)\s*", req)
        if m is None:
            print(f"min_pins: cannot read a floor from {req!r} (want 'name>=version')", file=sys.stderr)
            return 1
        pins.append(f"{m.group(1)}=={m.group(2)}")
    pins += [f"{name}{spec}" for name, spec in COMPANIONS.items()]
    print("\n".join(pins))
    return 0


if __name__ == "__main__":
    sys.exit(main())
