"""Physical models fitted on a result folder's own runs (runs.csv), and how well they predict configurations they
never saw. The sample is the run; a configuration's measured value is the median over its runs.

  decode_ms   decode ms per token (per sequence): fixed + per-layer costs + bytes / (eta x bandwidth)
  ttft_ms     the prefill's time: fixed + per-layer costs + max(FLOPs / compute ceiling, weights / bandwidth) / eta
              (both in decide/latency_model.py: terms in their physical ranges, eta in (0, 1], or a note and no
              prediction where the data contradict the model)
  peak_bytes  peak memory (device memory on a GPU, RSS on a CPU): decide/memory_model.py
  interactive decode below --interactive-ms, read off the decode prediction; scored only where both classes occur

Validation is out of sample only. Leave one configuration out: each configuration is predicted by models fitted on
every other configuration's runs. --holdout SIZES leaves whole sizes out of all fitting: measured ones are predicted
and compared (the true hold-out), unmeasured ones only predicted. Writes models.json, model_fit.csv (every value
marked source = measured | predicted, split = cv | holdout | unmeasured) and plots/model_fit.png.
"""
from __future__ import annotations
import argparse, json, math, sys, warnings
from pathlib import Path
import numpy as np
import pandas as pd
from inferbench.core import names, cli, stats
from inferbench.core.names import color, name, pct
from inferbench.core.stats import mape_pct
from inferbench.analyse.analysis import AnalysisError, read_runs
from inferbench.decide import latency_model, memory_model
from inferbench.decide.work import ARCHS, GROUP, features
from inferbench.models import synthetic
from inferbench.store.collate import write_csv
from inferbench.core.files import atomic_write, save_figure

INTERACTIVE_MS = 200.0
QUANTITIES = {"decode_ms": "decode ms/token", "ttft_ms": "time to first token, ms", "peak_bytes": "peak memory, bytes"}
PHASE = {"decode_ms": "decode", "ttft_ms": "prefill"}  # the latency model's phase of each latency quantity
FIT_COLUMNS = ["config", "label", "split", "quantity", "source", "backend", "device", "knobs", "size", "weights", "quantize",
               "bits_per_weight", "n_params", "model_bytes", "n_layers", "batch", "context", "value", "ci95_low", "ci95_high",
               "error_pct", "interactive", "note", "n_runs"]

def run_measure(runs: pd.DataFrame) -> pd.DataFrame:
  """Each run's value of each quantity: what the models fit on."""
  peak = runs["peak_device_bytes"].where(runs["device"] == "cuda", runs["peak_rss_bytes"])
  return runs.assign(decode_ms=runs["ms"], ttft_ms=runs["ttft_ms"], peak_bytes=peak)

def configurations(runs: pd.DataFrame) -> pd.DataFrame:
  """One row per configuration: what describes it (the same on all its runs) and per quantity the median over its
  runs with their t-interval."""
  g = runs.groupby("config", sort=False)
  out = g.first().assign(n_runs=g.size())
  for q in QUANTITIES:
    out[q] = g[q].median()
    ci = g[q].apply(lambda x: stats.t_interval(x.to_numpy()))
    out[f"{q}_lo"], out[f"{q}_hi"] = ci.str[0], ci.str[1]
  out["ms"] = out["decode_ms"]  # what latency_model reads as the measured decode time
  return out.reset_index()

def fit_all(train: pd.DataFrame) -> dict:
  """Every quantity's model, fitted on these runs."""
  return {**{q: latency_model.fit(train, PHASE[q]) for q in PHASE}, "peak_bytes": memory_model.fit(train)}

def predict_all(models: dict, rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
  """Per quantity: value, lo, hi (95%) and note for each row."""
  out = {q: latency_model.predict(models[q], rows, PHASE[q]).rename(columns={"ms": "value"}) for q in PHASE}
  mem = memory_model.predict(models["peak_bytes"], rows)
  out["peak_bytes"] = pd.DataFrame({"value": mem["memory_bytes"], "lo": mem["memory_lo"], "hi": mem["memory_hi"],
                                    "note": mem["memory_bytes"].isna().map({True: "no memory model for this row (models.json's memory note)", False: ""})},
                                   index=rows.index)
  return out

def cross_validate(runs: pd.DataFrame, configs: pd.DataFrame) -> dict[str, pd.DataFrame]:
  """Each configuration predicted by the models fitted on every other configuration's runs, never its own."""
  parts = [predict_all(fit_all(runs[runs["config"] != c]), configs[configs["config"] == c]) for c in configs["config"]]
  return {q: pd.concat([p[q] for p in parts]).reindex(configs.index) for q in QUANTITIES} if parts else {}

def made_up(train: pd.DataFrame, sizes: list[str], files: pd.DataFrame | None = None, measured: pd.DataFrame | None = None) -> pd.DataFrame:
  """Rows for sizes a group never measured (`measured`: the held-out configurations it did): each group and
  quantization of the training set at that size's shape, the rest as the group ran. Its bytes are the file's where `files` (size, quantize, model_bytes, bits_per_weight) has it: a
  file is made before it is measured; else the bits per weight of the largest trained size of that quantization."""
  known = files.set_index(["size", "quantize"]) if files is not None and len(files) else pd.DataFrame()
  keys = [*GROUP, "quantize", "size"]
  done = set(map(tuple, measured[keys].astype(str).to_numpy())) if measured is not None and len(measured) else set()
  rows = []
  for key, d in train.groupby([*GROUP, "quantize"], sort=True):
    ref = d.sort_values("n_params").iloc[-1]
    for size in sizes:
      if (*map(str, key), size) in done: continue
      n = synthetic.n_params(ARCHS[size])
      f = known.loc[(size, key[-1])] if (size, key[-1]) in known.index else {"model_bytes": n * float(ref["bits_per_weight"]) / 8,
                                                                             "bits_per_weight": ref["bits_per_weight"]}
      rows.append({**ref[[c for c in d.columns if c not in QUANTITIES]].to_dict(), "size": size, "label": "", "n_runs": 0,
                   "config": " ".join(["unmeasured", size, *map(str, key)]), "n_params": n, "model_bytes": f["model_bytes"],
                   "bits_per_weight": f["bits_per_weight"]})
  return features(pd.DataFrame(rows)) if rows else pd.DataFrame()

# ---------------------------------------------------------------- scores

def within_pct(configs: pd.DataFrame, pred: pd.DataFrame, q: str) -> float:
  """The share of predictions whose 95% interval holds the measured median."""
  ok = configs[q].notna() & pred["value"].notna()
  return float(100 * ((pred["lo"] <= configs[q]) & (configs[q] <= pred["hi"]))[ok].mean()) if ok.any() else math.nan

def interactive_scores(configs: pd.DataFrame, decode: pd.DataFrame, threshold_ms: float) -> dict:
  """Interactive or not, read off the decode prediction; an accuracy only where both classes were measured."""
  from sklearn.metrics import accuracy_score, confusion_matrix
  ok = configs["decode_ms"].notna() & decode["value"].notna()
  truth, guess = configs.loc[ok, "decode_ms"] < threshold_ms, decode.loc[ok, "value"] < threshold_ms
  if truth.nunique() < 2:
    kind = "interactive" if len(truth) and truth.iloc[0] else "not interactive"
    return {"n_configs": int(ok.sum()), "accuracy": None,
            "why": f"cannot be assessed: all {int(ok.sum())} predicted configurations measured {kind}" if ok.any() else "no predictions"}
  return {"n_configs": int(ok.sum()), "accuracy": float(accuracy_score(truth, guess)),
          "confusion": {"rows": "measured", "columns": "predicted", "labels": ["interactive", "not interactive"],
                        "matrix": confusion_matrix(truth, guess, labels=[True, False]).tolist()}}

def scores(configs: pd.DataFrame, pred: dict[str, pd.DataFrame], threshold_ms: float) -> dict:
  if configs.empty or not pred: return {"n_configs": 0}
  return {"n_configs": len(configs), "interactive": interactive_scores(configs, pred["decode_ms"], threshold_ms),
          **{f"{q}_mape_pct": mape_pct(configs[q], pred[q]["value"]) for q in QUANTITIES},
          **{f"{q}_within_ci_pct": within_pct(configs, pred[q], q) for q in QUANTITIES},
          **{f"{q}_predicted": int(pred[q]["value"].notna().sum()) for q in QUANTITIES}}

# ---------------------------------------------------------------- the folder's fit

def long_table(configs: pd.DataFrame, pred: dict[str, pd.DataFrame], split: str, threshold_ms: float) -> pd.DataFrame:
  """model_fit.csv rows: per quantity a measured row per measured configuration and a predicted row."""
  base = configs[[c for c in FIT_COLUMNS if c in configs.columns and c not in ("value", "note")]].assign(split=split)
  out = []
  for q in QUANTITIES:
    m = configs[q] if q in configs else pd.Series(math.nan, index=configs.index)
    live = lambda v: (v < threshold_ms).where(v.notna()) if q == "decode_ms" else None
    if m.notna().any():
      out.append(base.assign(quantity=q, source="measured", value=m, ci95_low=configs[f"{q}_lo"], ci95_high=configs[f"{q}_hi"], interactive=live(m)))
    p = pred[q]
    out.append(base.assign(quantity=q, source="predicted", value=p["value"], ci95_low=p["lo"], ci95_high=p["hi"], note=p["note"],
                           error_pct=100 * (p["value"] / m - 1), interactive=live(p["value"])))
  return pd.concat(out, ignore_index=True).reindex(columns=FIT_COLUMNS)

def run_fit(folder: Path, threshold_ms: float = INTERACTIVE_MS, holdout: list[str] = (), files: pd.DataFrame | None = None,
            cross_validated: bool = True) -> tuple[dict, pd.DataFrame]:
  """Fits, cross-validates (unless told not to: it refits once per configuration) and tests a folder's runs
  (unmeasured sizes' bytes from `files`, see made_up). Returns (models.json's content, model_fit.csv's rows)."""
  if bad := [s for s in holdout if s not in ARCHS]: raise AnalysisError(f"--holdout {bad[0]}: not a registry size ({', '.join(ARCHS)})")
  runs = features(read_runs(folder / "runs.csv"))
  runs = run_measure(runs[runs["decode_tok_s_per_seq"].notna() & (runs["mode"].isin(["", "step"]) if "mode" in runs else True)])
  out = runs["size"].isin(holdout)
  train, test = runs[~out], runs[out]
  if train.empty: raise AnalysisError(f"{folder}/runs.csv: no decode runs to fit on" + (f" outside --holdout {' '.join(holdout)}" if holdout else ""))
  trained, tested = configurations(train), configurations(test) if len(test) else pd.DataFrame()
  import statsmodels.api  # noqa: F401  imported before the filter: its import sets its own warning filters
  with warnings.catch_warnings():  # statsmodels' small-sample notes; the scores say how good the fits are
    warnings.simplefilter("ignore")
    cv = cross_validate(train, trained) if cross_validated else {}
    final = fit_all(train)
    held = predict_all(final, tested) if len(tested) else {}
    unseen = made_up(trained, list(holdout), files, tested)
    guessed = predict_all(final, unseen) if len(unseen) else {}
  table = pd.concat([*([long_table(trained, cv, "cv", threshold_ms)] if cv else []), *([long_table(tested, held, "holdout", threshold_ms)] if held else []),
                     *([long_table(unseen, guessed, "unmeasured", threshold_ms)] if guessed else [])], ignore_index=True)
  groups = []
  for g, d in train.groupby(GROUP, sort=True):
    key = dict(zip(GROUP, g))
    sel = lambda c: (c[GROUP].astype(str) == pd.Series({k: str(v) for k, v in key.items()})).all(axis=1) if len(c) else pd.Series(dtype=bool)
    row = {**key, "n_runs": len(d), "n_configs": int(d["config"].nunique()), "sizes": sorted(d["size"].unique()),
           "quantize": sorted(d["quantize"].unique()), "bandwidth_gb_s": float(d["bandwidth_gb_s"].median()),
           "compute_gflop_s": float(d["compute_gflop_s"].median()) if d["compute_gflop_s"].notna().any() else None,
           **{PHASE[q]: latency_model.describe(f) if (f := final[q].get(g)) is not None else None for q in PHASE},
           "memory": next(iter(memory_model.describe({g: final["peak_bytes"].get(g)})), None)}
    for split, configs, pred in (("cv", trained, cv), ("holdout", tested, held)):
      if pred and (s := sel(configs)).any():
        row[f"{split}_mape_pct"] = {q: mape_pct(configs.loc[s, q], pred[q].loc[s[s].index, "value"]) for q in QUANTITIES}
    groups.append(row)
  result = {"schema": 2, "interactive_ms": threshold_ms, "holdout_sizes": list(holdout),  # no path: the same runs give the same file
            "training": {"runs": len(train), "configurations": int(train["config"].nunique()), "sizes": sorted(train["size"].unique()),
                         "backends": sorted(train["backend"].unique()), "devices": sorted(train["device"].unique())},
            "groups": groups, "cv": scores(trained, cv, threshold_ms), "holdout": scores(tested, held, threshold_ms) if held else {"n_configs": 0},
            "unmeasured": sorted(unseen["size"].unique()) if len(unseen) else []}
  return result, table

def _json(o):
  if isinstance(o, float) and not math.isfinite(o): return None
  if isinstance(o, dict): return {str(k): _json(v) for k, v in o.items()}
  if isinstance(o, (list, tuple)): return [_json(v) for v in o]
  if isinstance(o, (np.integer, np.floating, np.bool_)): return _json(o.item())
  return o

def write(folder: Path, result: dict, table: pd.DataFrame, plot: Path | None) -> list[Path]:
  atomic_write(folder / "models.json", json.dumps(_json(result), indent=1) + "\n")
  write_csv(folder / "model_fit.csv", FIT_COLUMNS, table)
  return [folder / "models.json", folder / "model_fit.csv", *([draw(table, result, plot)] if plot else [])]

def load(folder: Path) -> dict:
  """models.json of a folder (fit_models.py's), or {} where it has none or an older schema: for the deck."""
  path = Path(folder) / "models.json"
  result = json.loads(path.read_text()) if path.is_file() else {}
  return result if result.get("schema") == 2 else {}

def eta_table(result: dict) -> pd.DataFrame:
  """eta per backend x device x settings x phase x quantization class, with its interval, or the note saying why
  there is none: the deck's roofline slide."""
  cols = ["backend", "device", "knobs", "phase", "quantize", "eta", "eta_ci95", "fixed_ms", "per_layer_ms", "n_configs", "note"]
  rows = []
  for g in result.get("groups", []):
    for phase in ("decode", "prefill"):
      if not (f := g.get(phase)): continue
      base = {"backend": g["backend"], "device": g["device"], "knobs": g["knobs"], "phase": phase, "fixed_ms": f["fixed_ms"],
              "per_layer_ms": f["per_layer_ms"], "n_configs": f["n_configs"], "note": f["note"]}
      quants = lambda c: ", ".join(q for q, k in f["classes"].items() if k == c)
      rows += [{**base, "quantize": quants(c), "eta": e["value"], "eta_ci95": e["ci95"]} for c, e in f["eta"].items()] or \
              [{**base, "quantize": ", ".join(f["classes"]), "eta": None, "eta_ci95": None}]
  return pd.DataFrame(rows, columns=cols)

# ---------------------------------------------------------------- the figure

PANEL_UNITS = {"decode_ms": 1.0, "ttft_ms": 1.0, "peak_bytes": 2**20}
PANEL_AXES = {"decode_ms": "decode ms/token", "ttft_ms": "time to first token, ms", "peak_bytes": "peak memory, MiB"}

def draw(table: pd.DataFrame, result: dict, out: Path) -> Path:
  """Predicted against measured, out of sample only: held-out sizes where there are any, else left-out configurations."""
  plt = names.pyplot()
  fig, axes = plt.subplots(1, 3, figsize=(14, 5.0))
  split = "holdout" if result["holdout"].get("n_configs") else "cv"
  t = table[table["split"] == split]
  for ax, q in zip(axes, QUANTITIES):
    meas = t[(t["quantity"] == q) & (t["source"] == "measured")].set_index("config")["value"]
    p = t[(t["quantity"] == q) & (t["source"] == "predicted")].assign(measured=lambda d: d["config"].map(meas)).dropna(subset=["measured", "value"])
    unit = PANEL_UNITS[q]
    for backend, d in p.groupby("backend", sort=True):
      err = np.vstack([d["value"] - d["ci95_low"], d["ci95_high"] - d["value"]]).clip(0) / unit
      ax.errorbar(d["measured"] / unit, d["value"] / unit, yerr=np.nan_to_num(err), fmt="*" if split == "holdout" else "o",
                  ms=10 if split == "holdout" else 6, color=color(backend), elinewidth=0.7, capsize=2, label=name(backend))
      for _, r in d.iterrows():
        ax.annotate(f"{r['size']} {r['quantize']}", (r["measured"] / unit, r["value"] / unit), textcoords="offset points", xytext=(5, -9), fontsize=7)
    if len(p):
      v = np.concatenate([p["measured"], p["value"]]) / unit
      lo, hi = v.min() / 1.4, v.max() * 1.4
      ax.plot([lo, hi], [lo, hi], color="gray", lw=1, ls="--", label="predicted = measured")
      ax.fill_between([lo, hi], [lo / 1.1, hi / 1.1], [lo * 1.1, hi * 1.1], color="gray", alpha=0.12, label="within ±10%")
      ax.set_xscale("log"); ax.set_yscale("log"); ax.set_xlim(lo, hi); ax.set_ylim(lo, hi)
    else: ax.text(0.5, 0.5, "no prediction (see models.json's notes)", ha="center", transform=ax.transAxes, fontsize=9)
    s = result[split]
    ax.set_title(f"{PANEL_AXES[q]}: MAPE {pct(s.get(f'{q}_mape_pct'))}, {s.get(f'{q}_predicted', 0)} of {s.get('n_configs', 0)} predicted",
                 fontsize=9)
    ax.set_xlabel(f"measured {PANEL_AXES[q]} (median over runs)")
    ax.set_ylabel("predicted (whiskers: 95% prediction interval)")
    ax.grid(alpha=0.3, which="both")
    if len(p): ax.legend(fontsize=7, loc="upper left")
  tr = result["training"]
  what = f"held-out sizes {', '.join(result['holdout_sizes'])}, never in a fit" if split == "holdout" else "each configuration left out of its own fit"
  fig.suptitle(f"Physical models, out of sample ({what}): fitted on {tr['runs']} runs of {tr['configurations']} configurations "
               f"({', '.join(tr['sizes'])}; {', '.join(map(name, tr['backends']))}; {', '.join(tr['devices'])})", fontsize=9)
  return save_figure(fig, out, 110)

def report(result: dict) -> str:
  """The terminal view: eta per group and phase, and the out-of-sample scores."""
  from inferbench.core.stats import format_table
  eta = eta_table(result)
  rows = [{"backend": name(r["backend"]), "device": r["device"], "settings": r["knobs"], "phase": r["phase"], "quant": r["quantize"],
           "eta": r["eta"], "eta 95%": names.interval(*r["eta_ci95"]) if r["eta_ci95"] else None, "fixed ms": r["fixed_ms"],
           "per layer ms": r["per_layer_ms"], "note": r["note"] or None} for r in eta.to_dict("records")]
  lines = [format_table(rows, list(rows[0]))] if rows else []
  for split in ("cv", "holdout"):
    s = result[split]
    if not s.get("n_configs"): continue
    i = s["interactive"]
    live = f"accuracy {i['accuracy']:.0%}, confusion {i['confusion']['matrix']}" if i.get("accuracy") is not None else i["why"]
    lines.append(f"{'leave-one-configuration-out' if split == 'cv' else 'held-out sizes ' + ' '.join(result['holdout_sizes'])}: "
                 f"{s['n_configs']} configurations; MAPE " + ", ".join(f"{q} {pct(s[f'{q}_mape_pct'])} ({s[f'{q}_predicted']} predicted, "
                                                                       f"{pct(s[f'{q}_within_ci_pct'])} within their 95% interval)" for q in QUANTITIES)
                 + f"; interactive (< {result['interactive_ms']:g} ms/token): {live}")
  return "\n".join(lines)

def main(argv: list[str] | None = None, doc: str | None = None) -> int:
  p = cli.Parser(description=doc or __doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("-d", "--dir", type=Path, default=Path("benchmark_output"), help="folder holding runs.csv (default: %(default)s)")
  p.add_argument("--interactive-ms", type=cli.number(0, inclusive=False), default=INTERACTIVE_MS, help="interactive below this many ms/token (default: %(default)s)")
  p.add_argument("--holdout", nargs="+", default=[], metavar="SIZE", help="sizes left out of all fitting, predicted (and compared where measured)")
  p.add_argument("--plot", type=Path, default=Path("plots/model_fit.png"), help="predicted against measured (default: %(default)s)")
  args = p.parse_args(argv)
  try:
    cli.output_dir(args.plot.parent, "--plot's folder")
    result, table = run_fit(args.dir, args.interactive_ms, args.holdout)
  except (AnalysisError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(report(result))
  print(", ".join(map(str, write(args.dir, result, table, args.plot))))
  return 0
