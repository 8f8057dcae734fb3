"""Run the notebooks for several seeds and print what every asserted claim measured.

    .venv/bin/python benchmarks/notebook_seeds.py                        # notebooks/[0-9]*.ipynb, seeds 0..4, fast
    .venv/bin/python benchmarks/notebook_seeds.py --seeds 0-9 --notebooks 03 04
    .venv/bin/python benchmarks/notebook_seeds.py --full --notebooks 04_attention --seeds 0,1,2

Each notebook reads ``MINIDL_SEED`` (the seed of everything random in it) and ``MINIDL_FAST`` next to each
other, and prints one line per claim it asserts, ``claim <name> = <value>  (...)``. This script runs every
notebook once per seed in a fresh kernel (nbclient; the kernel is this Python, ``sys.executable``), with
``MINIDL_FIGURES`` pointing to a temporary folder, so nothing in the repository is written. It prints one
row per run (pass/fail and the claimed values), then the smallest and largest value of every claim over the
seeds: the margin a claim has is the distance from those to its threshold.

The exit status is 1 when any run failed. Runs on a loaded machine take longer, not differently: nothing
here is timed except the wall time that is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CLAIM = re.compile(r"^claim (?P<name>[\w.\-/]+) = (?P<value>[-+\w.]+)", re.MULTILINE)


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` → 0..4, ``"0,3,7"`` → those, ``"2-3,9"`` → both forms mixed."""
    seeds = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise argparse.ArgumentTypeError(f"--seeds: {part!r} is not a seed or a range like 0-4")
        seeds.extend(range(int(lo), int(hi or lo) + 1))
    return seeds


def find_notebooks(names: list[str] | None) -> list[Path]:
    """The notebooks ``notebooks/[0-9]*.ipynb``, or those whose file name starts with one of ``names``."""
    found = sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    if not names:
        return found
    chosen = [p for p in found if any(p.name.startswith(n.removesuffix(".ipynb")) for n in names)]
    if not chosen:
        raise SystemExit(f"--notebooks {' '.join(names)}: none of {[p.name for p in found]} matches")
    return chosen


def kernel_manager(kernel_dir: Path):
    """A kernel manager whose only kernel is ``sys.executable -m ipykernel_launcher``."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec_dir = kernel_dir / "minidl-seeds"
    spec_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "minidl seeds", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    specs = KernelSpecManager(kernel_dirs=[str(kernel_dir)], ensure_native_kernel=False)
    return KernelManager(kernel_name="minidl-seeds", kernel_spec_manager=specs)


def stdout_of(nb) -> str:
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream" and out.get("name") == "stdout"
    )


def run_once(path: Path, seed: int, fast: bool, scratch: Path, timeout: int) -> dict:
    """Execute ``path`` with ``MINIDL_SEED=seed``; the claims it printed and whether it passed."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    os.environ.update(MINIDL_SEED=str(seed), MINIDL_FAST="1" if fast else "0", MINIDL_FIGURES=str(scratch / "figures"))
    os.environ.setdefault("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, km=kernel_manager(scratch / "kernels"), timeout=timeout, resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    start, error = time.perf_counter(), ""
    try:
        client.execute()
    except CellExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue}".strip()
    except CellTimeoutError:
        error = f"a cell ran past {timeout} s"
    claims = {m["name"]: m["value"] for m in CLAIM.finditer(stdout_of(nb))}
    seconds = time.perf_counter() - start
    return {"notebook": path.stem, "seed": seed, "error": error, "seconds": seconds, "claims": claims}


def as_number(text: str):
    try:
        return float(text)
    except ValueError:
        return None


def print_row(row: dict) -> None:
    status = "pass" if not row["error"] else "FAIL " + row["error"].splitlines()[0][:100]
    claims = "  ".join(f"{k}={v}" for k, v in row["claims"].items())
    print(f"{row['notebook']:20s} {row['seed']:4d}  {row['seconds']:6.1f} s  {status:6s}  {claims}", flush=True)


def print_summary(rows: list[dict]) -> None:
    print("\nclaim, over the seeds run: min  max  (runs)")
    for notebook in dict.fromkeys(r["notebook"] for r in rows):
        values: dict[str, list] = {}
        for r in rows:
            if r["notebook"] == notebook:
                for name, text in r["claims"].items():
                    values.setdefault(name, []).append(text)
        for name, texts in values.items():
            nums = [as_number(t) for t in texts]
            if all(n is not None for n in nums):
                span = f"{min(nums):.4g}  {max(nums):.4g}"
            else:
                span = ", ".join(sorted(set(texts)))
            print(f"{notebook:20s} {name:32s} {span}  ({len(texts)})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=parse_seeds, default=list(range(5)), help="e.g. 0-4 (default) or 0,3,7")
    setting = parser.add_mutually_exclusive_group()
    setting.add_argument("--fast", dest="fast", action="store_true", default=True, help="MINIDL_FAST=1 (default)")
    setting.add_argument("--full", dest="fast", action="store_false", help="MINIDL_FAST=0: the full setting")
    parser.add_argument("--notebooks", nargs="+", metavar="NAME", help="file-name prefixes, e.g. 03 04_attention")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell (default 1800)")
    args = parser.parse_args(argv)

    rows = []
    print(f"{'notebook':20s} {'seed':>4s}  {'time':>8s}  status  claims ({'fast' if args.fast else 'full'} setting)")
    with tempfile.TemporaryDirectory(prefix="minidl-seeds-") as tmp:
        for path in find_notebooks(args.notebooks):
            for seed in args.seeds:
                rows.append(run_once(path, seed, args.fast, Path(tmp), args.timeout))
                print_row(rows[-1])
    print_summary(rows)
    failed = [f"{r['notebook']} seed {r['seed']}" for r in rows if r["error"]]
    tail = f"; failed: {', '.join(failed)}" if failed else ""
    print(f"\n{len(rows) - len(failed)} of {len(rows)} runs passed{tail}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
