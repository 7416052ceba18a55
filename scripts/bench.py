"""Benchmark: `coalition-report build` vs hand-running papermill + nbconvert on the same notebook.

Prints wall time and peak memory (max RSS of child processes) for each, best of N runs.
The goal (DESIGN.md) is well under half the hand-run time for the HTML; the hand-run baseline
makes no PDF at all (nbconvert's PDF needs LaTeX or a downloaded browser), so the PDF build is
reported separately.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall time and peak resident memory of the whole process tree (kernel included)."""
    import psutil  # installed with ipykernel

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return time.perf_counter() - t0, peak / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bench-"))
    cases = {
        "hand: papermill + nbconvert --to html --no-input": [
            ["sh", "-c", f"{BIN}/papermill coalition_brief.ipynb {out}/hand.ipynb -k coalition-report -p currency EUR"
                         f" && {BIN}/jupyter nbconvert --to html --no-input {out}/hand.ipynb --output-dir {out}"]],
        "coalition-report build --format html": [[f"{BIN}/coalition-report", "build", "--format", "html", "--out", str(out / "a")]],
        "coalition-report build --format html,pdf": [[f"{BIN}/coalition-report", "build", "--out", str(out / "b")]],
        "coalition-report validate": [[f"{BIN}/coalition-report", "validate"]],
    }
    print(f"{'case':<52}{'best wall s':>12}{'peak MiB':>10}")
    for name, cmds in cases.items():
        best, peak = float("inf"), 0.0
        for _ in range(args.runs):
            for cmd in cmds:
                w, p = run(cmd, ROOT / "notebooks")
                best, peak = min(best, w), max(peak, p)
        print(f"{name:<52}{best:>12.1f}{peak:>10.0f}")


if __name__ == "__main__":
    main()
