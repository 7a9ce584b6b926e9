"""Summarize a benchopt ``benchmark_lasso`` run: time to a duality gap <= 1e-6 * P(0) per solver.

Usage: ``python summarize.py <benchmark_lasso>/outputs/<run>.parquet [--write]``.

benchopt records, for each solver, runs of growing effort (iterations or
tolerance), each with its wall time and the objective's duality gap (computed
by benchmark_lasso's ``objective.py``, the same formula for every solver). The
table gives the first run whose gap is at most ``1e-6 * P(0)`` (``P(0) =
||y||^2 / 2``, the objective at ``beta = 0``, recomputed from the dataset) and
its time, the ratio to skglm, and the smallest gap each solver reached. With
``--write`` it replaces the ``benchopt`` section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _report import fmt_time, write_section  # noqa: E402

REL_GAP = 1e-6


def null_objective(row) -> float:
    """``P(0) = ||y||^2 / 2`` of benchmark_lasso's simulated dataset for this row."""
    from benchopt.datasets.simulated import make_correlated_data  # noqa: PLC0415

    rng = np.random.RandomState(27)  # datasets/simulated.py's default random_state
    _, y, _ = make_correlated_data(int(row.p_dataset_n_samples), int(row.p_dataset_n_features),
                                   rho=float(row.p_dataset_rho), random_state=rng)
    return 0.5 * float(y @ y)


def _short(row) -> tuple[str, str]:
    """``("500×600 ρ=0.6", "reg=0.1")``: the dataset and objective of a row, named as in our tables."""
    data = (f"{int(row.p_dataset_n_samples)}×{int(row.p_dataset_n_features)} "
            f"ρ={row.p_dataset_rho:g}")
    return data, f"reg={row.p_obj_reg:g}"


def table(df: pd.DataFrame) -> list[str]:
    keys = ["dataset_name", "objective_name"]
    lines = ["| data | λ / λmax | solver | time to gap <= 1e-6 P(0) | ÷ skglm | smallest gap / P(0) |",
             "|---|---|---|---|---|---|"]
    for _, group in df.groupby(keys, sort=False):
        data, obj = _short(group.iloc[0])
        p0 = null_objective(group.iloc[0])
        reached = {}
        for solver, runs in group.groupby("solver_name", sort=False):
            ok = runs[runs.objective_duality_gap <= REL_GAP * p0]
            reached[solver] = (ok.time.min() if len(ok) else np.inf,
                               runs.objective_duality_gap.min() / p0)
        ref = reached.get("skglm", (np.nan,))[0]
        for solver, (t, gap) in reached.items():
            shown = fmt_time(t) if np.isfinite(t) else "not reached"
            ratio = f"{t / ref:.2f}x" if np.isfinite(t) and np.isfinite(ref) else "—"
            lines.append(f"| {data} | {obj} | {solver} | {shown} | {ratio} | {gap:.1e} |")
    return lines


OBSERVATIONS = (
    "Read beside our own table (section `lasso`; run of 2026-12-05, gradopt.lasso a preset of "
    "the GLM engine): on 100×10000 gradopt is 0.68–0.76× skglm at ρ = 0 and 1.04–1.26× at "
    "ρ = 0.6; on 500×600 1.08–1.88×, where scikit-learn's plain cyclic descent is fastest "
    "(0.53–0.58× skglm) and a coordinate update in an XLA `while_loop` costs more than a "
    "Numba/Cython one (docs/lasso.md). benchopt samples gradopt by working-set iterations "
    "(`max_outer = n_iter`, `tol = 1e-14`), so a run's last outer iteration solves its inner "
    "problem further than `benchmarks/lasso.py`'s tolerance ladder would; the times here are "
    "1.3–2.1× those of the `lasso` section on its four reg = 0.1 points of the same shapes "
    "(the same generator, other seeds: benchopt's 27, ours 0). The former host-driven "
    "solver, measured by the same harness on 2026-12-03 (Intel Xeon host), was 0.38–2.03× "
    "skglm."
)


def _git_head() -> str:
    """The short commit of the gradopt checkout this script belongs to."""
    out = subprocess.run(["git", "-C", str(Path(__file__).resolve().parent), "rev-parse",
                          "--short", "HEAD"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def main(path: str, write: bool) -> None:
    df = pd.read_parquet(path)
    lines = table(df)
    print("\n".join(lines))
    if write:
        meta = df.iloc[0]
        body = [
            "## benchopt's benchmark_lasso, with gradopt as one of its solvers",
            "",
            f"Machine: {meta['system-processor'] or meta['platform']}, {meta['system-cpus']} CPUs; "
            f"run {str(meta['run_date'])[:10]}; gradopt git {_git_head()}; benchopt's own runner and objective "
            "(`benchopt run . --config gradopt_config.yml`, see benchmarks/benchopt/README.md).",
            "",
            "Each solver is timed by benchopt over runs of growing effort, from scratch each time; "
            "the time is the first run whose duality gap (benchmark_lasso's formula, the same "
            f"for every solver) is <= {REL_GAP:g} P(0). All four are sampled by iterations "
            "(gradopt: working-set iterations); gradopt's compilation happens in `set_objective` "
            "and is not timed, as skglm's Numba compilation is not.",
            "",
            *lines,
            "",
            OBSERVATIONS,
        ]
        write_section("benchopt", "\n".join(body))
        print("wrote the benchopt section of benchmarks/RESULTS.md")


if __name__ == "__main__":
    main(sys.argv[1], "--write" in sys.argv[2:])
