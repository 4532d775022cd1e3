"""Time and peak memory of `automl bench import nb201` and of loading the stored table.

Import: a synthetic NATS-Bench ``-simple`` directory of ``--archs`` architectures is written
with the official ``nats_bench`` classes, with the real files' record lengths (12 and 200
epochs, 4 data sets x 2 seeds); each phase runs in a fresh interpreter whose peak RSS
(``VmHWM``) is reported, and the import time is extrapolated to all 15,625 cells
(the reader streams one architecture at a time, so time is linear and memory flat).
The same for a NAS-Bench-201 ``.pth`` in torch's legacy format (``--pth-archs``), against
``torch.load`` of that file. Load: a full 15,625-row table with the importer's columns is written to a store, then a
fresh interpreter times the first lookup of ``nb201-table`` (reads the Parquet file).

Usage: python benchmarks/bench_store.py [--archs 300] [--epochs-200 200]
No network; the machine may be shared, so the wall times are upper bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# peak RSS of this process: VmHWM (ru_maxrss would include the parent's peak, kept across fork + exec)
_HWM = """def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""
IMPORT = """
import json, sys, time
HWM
from pathlib import Path
from automl_nas.benchstore import TableStore
from automl_nas_eval_tabular.bench import Nb201Benchmark
t = time.perf_counter()
m = Nb201Benchmark().import_from(Path(sys.argv[1]), TableStore(sys.argv[2]))
print(json.dumps({"s": time.perf_counter() - t, "rss_mb": hwm(),
                  "rows": m.rows, "columns": len(m.columns)}))
"""
LOAD = """
import json, time
HWM
t = time.perf_counter()
from automl_nas.api import Genotype
from automl_nas_eval_tabular.config import TableConfig
from automl_nas_eval_tabular.table import Nb201Table
ev = Nb201Table(TableConfig())
out = ev.evaluate(Genotype("nb201", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"))
first = time.perf_counter() - t
t = time.perf_counter()
for _ in range(1000):
    ev.evaluate(Genotype("nb201", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"))
print(json.dumps({"s": first, "lookup_us": (time.perf_counter() - t) * 1000, "metrics": len(out),
                  "rss_mb": hwm()}))
"""
TORCH_LOAD = """
import json, sys, time
HWM
import torch
t = time.perf_counter()
data = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
print(json.dumps({"s": time.perf_counter() - t, "rss_mb": hwm()}))
"""
BASELINE = """
import json
HWM
import automl_nas, automl_nas.api
print(json.dumps({"rss_mb": hwm()}))
"""


REAL_KIB = 1_145_989_120 / 15625 / 1024  # NATS-tss-v1_0-3ffb9-simple.tar over its 15,625 files


def _python(code: str, *args: str, env: dict | None = None) -> dict:
    code = code.replace("HWM\n", _HWM)
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True,
                         env={**os.environ, **(env or {})})
    return json.loads(out.stdout.strip().splitlines()[-1])


def _full_table(home: Path) -> None:
    from automl_nas.benchstore import TableStore
    from automl_nas_eval_tabular.synthetic import archs, expected_row

    cells = archs(15625)
    rows = [expected_row(i % 997, {"12": 12, "200": 200}) for i in range(len(cells))]
    TableStore(home / "benchmarks").write("nb201", cells, {k: [r[k] for r in rows] for k in rows[0]},
                                          source="synthetic", source_kind="benchmark")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=300)
    parser.add_argument("--epochs-200", type=int, default=200, help="records of the long schedule (the real files: 200)")
    parser.add_argument("--pth-archs", type=int, default=200, help="architectures in the .pth measurement (0: skip)")
    args = parser.parse_args()
    from automl_nas_eval_tabular.synthetic import write_nats_simple

    work = Path(tempfile.mkdtemp(prefix="bench-store-"))
    t = time.perf_counter()
    source = write_nats_simple(work / "NATS-tss-synthetic-simple", args.archs, {"12": 12, "200": args.epochs_200})
    size = sum(p.stat().st_size for p in source.iterdir()) / args.archs / 1024
    print(f"wrote {args.archs} per-architecture files ({size:.0f} KiB each; the official archive averages "
          f"{REAL_KIB:.0f} KiB) in {time.perf_counter() - t:.1f} s")
    base = _python(BASELINE)["rss_mb"]
    imp = _python(IMPORT, str(source), str(work / "store"))
    per = imp["s"] / args.archs
    print(f"import  {args.archs} archs: {imp['s']:.2f} s ({per * 1000:.1f} ms/arch -> {per * 15625 / 60:.1f} min "
          f"for 15,625; x{REAL_KIB / size:.1f} by file size: {per * 15625 * REAL_KIB / size / 60:.1f} min), peak RSS {imp['rss_mb']:.0f} MB (interpreter + automl_nas: {base:.0f} MB), "
          f"{imp['columns']} columns")
    if args.pth_archs:
        from automl_nas_eval_tabular.synthetic import write_nb201_pth

        pth = write_nb201_pth(work / "NAS-Bench-201-synthetic.pth", args.pth_archs, legacy=True,
                              epochs={"12": 12, "200": args.epochs_200})
        mb = pth.stat().st_size / 2**20
        imp = _python(IMPORT, str(pth), str(work / "store-pth"))
        full = _python(TORCH_LOAD, str(pth))
        print(f"import  {args.pth_archs} archs from a {mb:.0f} MiB legacy .pth (streamed, 2 passes): {imp['s']:.1f} s "
              f"({mb / imp['s']:.1f} MiB/s -> {4.7 * 1024 / (mb / imp['s']) / 60:.0f} min for the 4.7 GB v1.1 file), "
              f"peak RSS {imp['rss_mb']:.0f} MB; torch.load of the same file: {full['s']:.1f} s, "
              f"peak RSS {full['rss_mb']:.0f} MB (grows with the file)")
    _full_table(work / "home")
    size = (work / "home" / "benchmarks" / "nb201" / "table.parquet").stat().st_size / 1024
    load = _python(LOAD, env={"AUTOML_NAS_HOME": str(work / "home")})
    print(f"load    15,625 rows x {load['metrics']} reported of 36 columns ({size:.0f} KiB Parquet): first lookup "
          f"{load['s']:.2f} s incl. imports, then {load['lookup_us']:.1f} us/lookup; peak RSS {load['rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
