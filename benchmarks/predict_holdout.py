"""The physical models' out-of-sample test on this machine: fit on the small sizes, predict the large ones, and only
then measure them.

Per backend (experiments/holdout/BACKEND.yaml: the synthetic 135M, 360M, 1B, 1.7B and 3B shapes at two
quantizations), into one folder:
  1. measure the fit sizes (the experiment resumes: what is done is not run again)
  2. fit on the fit sizes' runs and write predictions_BACKEND.csv for the held-out sizes (decode ms/token, time to
     first token, peak memory, each with its 95% interval) with the time it was written; an existing one is kept,
     never refitted
  3. measure the held-out sizes
Then compare each held-out configuration's median over runs with the prediction written before it ran, for every
backend with a predictions file in the folder.
Prints the table per backend (MAPE of each quantity, and how many measured medians fall inside their interval) and
writes holdout.csv beside the runs; fit_models.py --holdout then draws the same predictions against the measurements.
  .venv/bin/python benchmarks/predict_holdout.py [--backends llamacpp torch] [--fit-sizes 135M 360M 1B] [-o benchmark_output/holdout]
"""
from __future__ import annotations
import argparse, datetime, sys
from pathlib import Path
import pandas as pd
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from inferbench.analyse import analysis
from inferbench.core import cli, files, stats
from inferbench.core.names import name, pct
from inferbench.decide import predict
from inferbench.models import modelfile, prepare
from inferbench.run import experiment
from inferbench.store import collate
from inferbench.store.collate import write_csv

FIT = ["135M", "360M", "1B"]
MATCH = ["backend", "device", "knobs", "size", "quantize"]

def held_out_files(path: Path, holdout: list[str]) -> pd.DataFrame:
  """The held-out sizes' model files (of the experiment file at path), made (not measured) first: their bytes are an
  input of the prediction."""
  rows = []
  for q in experiment.load(path).quantize:
    for size in holdout:
      info = modelfile.describe(prepare.quantized(prepare.synthetic_path(size), q, log=lambda m: print(m, file=sys.stderr)))
      rows.append({"size": size, "quantize": q, "model_bytes": info.weight_bytes, "bits_per_weight": info.bits_per_weight})
  return pd.DataFrame(rows)

def collated(folder: Path):
  """The folder's raw logs collated and analysed (runs.csv, summary.csv)."""
  for backend in sorted({p.name.split("_")[0] for p in folder.glob("*_*.txt")}): collate.collate(backend, folder)
  analysis.analyse_folder(folder)

def frozen_predictions(folder: Path, backend: str, experiment_file: Path, holdout: list[str]) -> pd.DataFrame:
  """predictions_BACKEND.csv: the backend's models fitted on the fit sizes' runs, for the held-out sizes; written once."""
  path = folder / f"predictions_{backend}.csv"
  if not path.is_file():
    collated(folder)
    result, table = predict.run_fit(folder, holdout=holdout, files=held_out_files(experiment_file, holdout), cross_validated=False)
    p = table[table["split"].isin(["unmeasured", "holdout"]) & (table["source"] == "predicted") & (table["backend"] == backend)]
    p = p.assign(predicted_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                 fitted_on=", ".join(result["training"]["sizes"]))
    write_csv(path, list(p.columns), p)
  return pd.read_csv(path, keep_default_na=False, na_values=[""])

def compare(folder: Path, pred: pd.DataFrame) -> pd.DataFrame:
  """Each held-out configuration's measured median (over runs) beside the prediction written before it ran."""
  runs = predict.run_measure(predict.features(analysis.read_runs(folder / "runs.csv")))
  configs = predict.configurations(runs[runs["size"].isin(pred["size"].unique())])
  first_run = runs.groupby("config")["started_at"].min()
  rows = []
  for q in predict.QUANTITIES:
    p = pred[pred["quantity"] == q].astype({k: str for k in MATCH})
    m = configs.astype({k: str for k in MATCH}).merge(p[[*MATCH, "value", "ci95_low", "ci95_high", "note", "predicted_at"]], on=MATCH, how="inner")
    rows.append(pd.DataFrame({**{k: m[k] for k in MATCH}, "quantity": q, "measured": m[q], "n_runs": m["n_runs"], "predicted": m["value"],
                              "ci95_low": m["ci95_low"], "ci95_high": m["ci95_high"], "error_pct": 100 * (m["value"] / m[q] - 1),
                              "inside": (m["ci95_low"] <= m[q]) & (m[q] <= m["ci95_high"]), "note": m["note"],
                              "predicted_at": m["predicted_at"], "measured_from": m["config"].map(first_run)}))
  return pd.concat(rows, ignore_index=True)

def table(c: pd.DataFrame) -> str:
  rows = []
  for backend, d in c.groupby("backend", sort=True):
    row = {"backend": name(backend), "held out": ", ".join(sorted(d["size"].unique())), "configs": d[MATCH].drop_duplicates().shape[0]}
    for q, short in (("decode_ms", "decode"), ("ttft_ms", "TTFT"), ("peak_bytes", "memory")):
      e = d[(d["quantity"] == q) & d["predicted"].notna()]
      row[f"{short} MAPE"] = pct(e["error_pct"].abs().mean()) if len(e) else "declined"
      row[f"{short} in 95%"] = f"{int(e['inside'].sum())}/{len(e)}" if len(e) else "-"
    row["predicted before measured"] = "yes" if (d["predicted_at"] <= d["measured_from"]).all() else "NO"  # both to the second
    rows.append(row)
  return stats.format_table(rows, list(rows[0])) if rows else "no held-out configuration measured"

def main(argv: list[str] | None = None) -> int:
  p = cli.Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--backends", nargs="+", default=["llamacpp", "torch", "mlx", "tinygrad"], choices=["llamacpp", "torch", "mlx", "tinygrad"])
  p.add_argument("--experiments", type=Path, default=Path("experiments/holdout"), help="folder of BACKEND.yaml files (default: %(default)s)")
  p.add_argument("--fit-sizes", nargs="+", default=FIT, help="fitted on; the experiment file's other sizes are held out (default: %(default)s)")
  p.add_argument("-o", "--output-dir", type=Path, help="(default: the experiment files' output)")
  args = p.parse_args(argv)
  out = args.output_dir or Path(experiment.load(args.experiments / f"{args.backends[0]}.yaml").output)
  for b in args.backends:
    path = args.experiments / f"{b}.yaml"
    held = [s for s in experiment.load(path).sizes if s not in args.fit_sizes]
    experiment.run(path, update={"sizes": args.fit_sizes, "output": str(out)}, report=False)
    pred = frozen_predictions(out, b, path, held)
    if pred.empty:
      print(f"{b}: no prediction for {', '.join(held)} (no model of its fit sizes: see models.json), so they are not measured", file=sys.stderr)
      continue
    print(f"{b}: predictions for {', '.join(held)} written {pred['predicted_at'].iloc[0]}, now measuring them", file=sys.stderr, flush=True)
    experiment.run(path, update={"sizes": held, "output": str(out)}, report=False)
  collated(out)
  c = compare(out, pd.concat([pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in sorted(out.glob("predictions_*.csv"))], ignore_index=True))
  write_csv(out / "holdout.csv", list(c.columns), c)
  print(table(c))
  print(f"{out / 'holdout.csv'}; draw it: .venv/bin/python fit_models.py -d {out} --holdout {' '.join(sorted(set(c['size'])))}")
  files.atomic_write(out / "command.txt", " ".join(["benchmarks/predict_holdout.py", *(argv if argv is not None else sys.argv[1:])]) + "\n")
  return 0

if __name__ == "__main__": sys.exit(main())
