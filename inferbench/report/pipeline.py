"""What the pipeline makes of a folder of raw logs, as the README's commands make it: each backend's CSV, the
analysis (with the scaling tables), the plots in folder/plots and the deck folder/presentation.pdf (the experiments
end with it)."""
from __future__ import annotations
import sys
from pathlib import Path
from inferbench import backends
from inferbench.analyse import analysis
from inferbench.report import deck, plots
from inferbench.store import collate

def report(folder: Path):
  for backend in sorted({p.name.split("_")[0] for p in folder.glob("*_*.txt")} & set(backends.BACKENDS) | set(collate.serving_backends(folder))):
    target, n, problems = collate.collate(backend, folder)
    print(f"{target}: {n} rows" + "".join(f"\nskipped {e}" for e in problems), file=sys.stderr)
  try:
    print(analysis.table(analysis.analyse_folder(folder)[2]))
    for path in plots.draw(plots.MAIN + plots.ADDITIONAL, folder, folder / "plots", "tinygrad"): print(path, file=sys.stderr)
    print(deck.build(folder, folder / "plots", folder / "docs", folder / "presentation.pdf"), file=sys.stderr)
  except analysis.AnalysisError as e: print(f"no analysis, plots or deck: {e}", file=sys.stderr)
