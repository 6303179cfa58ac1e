"""Latency models fitted on a result folder's own runs (runs.csv, summary.csv), and how well they predict
configurations they never saw. The sample is the run; a configuration's measured value is the analysis's median.

  roofline    per backend x device x settings: ms/token = a + bytes per token / (eta x bandwidth), statsmodels OLS
              over runs. bytes per token = the weights a decode step streams + the KV cache it reads (batch x the
              positions decoded on x per-position bytes of the registry architecture), bandwidth = the host's measured
              roofline (roofline_gb_s in every log). eta is the achieved fraction of the roofline on the bytes that
              grow, a >= 0 the fixed cost of a step (fitted through the origin where a free fit makes it negative).
  design      per backend x device x settings: log ms/token on log parameters, log bits per weight, log context depth
              and log batch (statsmodels OLS); a feature constant in the training runs is left out (and listed).
  classifier  interactive = ms/token below --interactive-ms, scikit-learn logistic regression over every group, with
              backend and device one-hot.

ms/token is per sequence: a decode step gives each sequence of the batch one token. Validation is leave-one-
configuration-out (scikit-learn LeaveOneGroupOut, groups = the configuration id): each configuration is predicted by
models fitted on every other configuration's runs, never its own. --holdout SIZES leaves whole sizes out of all
fitting: measured ones are predicted and compared (the out-of-sample test), unmeasured ones only predicted.
Writes models.json, model_fit.csv (every value marked source = measured | predicted) and plots/model_fit.png.
"""
from __future__ import annotations
import argparse, json, math, sys, warnings
from pathlib import Path
import numpy as np
import pandas as pd
from inferbench.core import names, cli, registry
from inferbench.models import synthetic
from inferbench.core.names import color, interval, known, name, pct
from inferbench.analyse.analysis import AnalysisError, read_runs, read_summary
from inferbench.store.collate import write_csv
from inferbench.core.files import atomic_write, save_figure
from inferbench.core.roofline import kv_cache_bytes

GROUP = ["backend", "device", "knobs"]   # one roofline and one design regression each
DESIGN = ["log_params", "log_bits", "log_context", "log_batch"]
NUMERIC = ["log_roofline_ms", *DESIGN]  # the classifier's, with CATEGORIES one-hot
CATEGORIES = ["backend", "device"]
INTERACTIVE_MS = 200.0
ALPHA = 0.05                             # 95% intervals
ARCHS = {**{s: m.arch for s, m in registry.MODELS.items()}, "tiny": synthetic.TINY}
FIT_COLUMNS = ["config", "label", "split", "model", "source", "backend", "device", "knobs", "size", "weights", "quantize",
               "bits_per_weight", "n_params", "model_bytes", "batch", "context", "bytes_per_token", "bandwidth_gb_s", "ms_per_token",
               "ms_per_token_ci95_low", "ms_per_token_ci95_high", "interactive", "p_interactive", "error_pct", "n_runs"]

def number(s: pd.Series) -> pd.Series:
  """A summary column's number (the first of "a; b" where runs differ); blank or absent -> NaN (a server's rows)."""
  return pd.to_numeric(s.map(lambda v: str(v).split(";")[0] if pd.notna(v) else None), errors="coerce")

def features(df: pd.DataFrame) -> pd.DataFrame:
  """What the models see, for runs.csv or summary.csv rows (or rows made up for unmeasured sizes)."""
  out = df.copy()
  for c in ("n_params", "bits_per_weight", "model_bytes", "n_prompt_tokens", "n_decode_steps", "batch", "roofline_gb_s"): out[c] = number(df[c])
  arch = df["size"].map(ARCHS.get)
  get = lambda f: arch.map(lambda a: math.nan if a is None else f(a)).astype(float)
  out["kv_bytes_per_position"] = per_position = kv_cache_bytes(get(lambda a: a.n_layers), get(lambda a: a.n_kv_heads), get(lambda a: a.dim // a.n_heads), 1)
  # an untied embedding table is looked up, not streamed: its share of the file is not read by a step
  untied = get(lambda a: 0.0 if a.tied_embeddings else a.vocab_size * a.dim * (1 - 1 / a.vocab_size)) / out["n_params"]
  out["context"] = out["n_prompt_tokens"] + (out["n_decode_steps"] + 1) / 2  # mean KV positions a decode step reads
  out["bytes_per_token"] = out["model_bytes"] * (1 - untied) + out["batch"] * per_position * out["context"]
  out["bandwidth_gb_s"] = out["roofline_gb_s"]
  out["roofline_ms"] = out["bytes_per_token"] / out["bandwidth_gb_s"] / 1e6
  for c, src in zip(NUMERIC, ("roofline_ms", "n_params", "bits_per_weight", "context", "batch")): out[c] = np.log(out[src])
  if "decode_tok_s_per_seq" in df: out["ms"] = 1e3 / df["decode_tok_s_per_seq"]
  return out

def measured(summary: pd.DataFrame) -> pd.DataFrame:
  """One row per configuration: its features, its median ms/token and the t-interval of its runs (summary.csv's)."""
  s = features(summary[summary["phase"] == "decode"].reset_index(drop=True))
  s["ms_per_token"] = 1e3 / s["tok_s_per_seq_median"]
  per_seq = lambda c: s[c] / s["batch"]
  s["ms_per_token_ci95_low"], s["ms_per_token_ci95_high"] = 1e3 / per_seq("tok_s_ci95_high"), 1e3 / per_seq("tok_s_ci95_low")
  return s

# ---------------------------------------------------------------- fits

def fit_roofline(d: pd.DataFrame):
  """statsmodels OLS of ms/token on roofline ms, or None where the runs hold fewer than two byte counts."""
  import statsmodels.api as sm
  d = d.dropna(subset=["roofline_ms", "ms"])
  if d["roofline_ms"].nunique() < 2: return None
  res = sm.OLS(d["ms"], sm.add_constant(d[["roofline_ms"]], has_constant="add")).fit()
  # a >= 0 and 1/eta >= 0: on the boundary where the free fit leaves them (a step costs no less than nothing, and no less for more bytes)
  if res.params["roofline_ms"] < 0: return sm.OLS(d["ms"], pd.DataFrame({"const": 1.0}, index=d.index)).fit()
  return sm.OLS(d["ms"], d[["roofline_ms"]]).fit() if res.params["const"] < 0 else res

def fit_design(d: pd.DataFrame):
  import statsmodels.api as sm
  d = d.dropna(subset=[*DESIGN, "ms"])
  if d.empty: return None
  keep = []
  for c in DESIGN:  # in order, each feature that the ones before do not already determine (with few sizes, context can follow size)
    X = d[keep + [c]].drop_duplicates().assign(const=1.0)
    if np.linalg.matrix_rank(X.to_numpy()) == len(keep) + 2: keep.append(c)
  return sm.OLS(np.log(d["ms"]), sm.add_constant(d[keep], has_constant="add")).fit()

def fit_classifier(d: pd.DataFrame, threshold_ms: float):
  from sklearn.compose import ColumnTransformer
  from sklearn.dummy import DummyClassifier
  from sklearn.linear_model import LogisticRegression
  from sklearn.pipeline import make_pipeline
  from sklearn.preprocessing import OneHotEncoder, StandardScaler
  d = d.dropna(subset=[*NUMERIC, "ms"])
  if d.empty: return None
  y = d["ms"] < threshold_ms
  if y.nunique() < 2: return DummyClassifier(strategy="constant", constant=bool(y.iloc[0])).fit(d[NUMERIC + CATEGORIES], y)
  columns = ColumnTransformer([("numbers", StandardScaler(), NUMERIC), ("categories", OneHotEncoder(handle_unknown="ignore"), CATEGORIES)])
  return make_pipeline(columns, LogisticRegression(max_iter=1000)).fit(d[NUMERIC + CATEGORIES], y)

def fit(runs: pd.DataFrame, threshold_ms: float) -> dict:
  """Every model, fitted on these runs: {"roofline": {group: fit}, "design": {group: fit}, "classifier": fit}."""
  groups = dict(list(runs.groupby(GROUP, sort=True)))
  return {"roofline": {g: fit_roofline(d) for g, d in groups.items()}, "design": {g: fit_design(d) for g, d in groups.items()},
          "classifier": fit_classifier(runs, threshold_ms)}

def _interval(res, X: pd.DataFrame) -> pd.DataFrame:
  """Mean and 95% prediction interval (of one more run) for rows X, columns as the fit's."""
  X = X.assign(const=1.0)[list(res.params.index)]
  return res.get_prediction(X).summary_frame(alpha=ALPHA)[["mean", "obs_ci_lower", "obs_ci_upper"]].set_axis(["ms", "lo", "hi"], axis=1)

def predict(models: dict, rows: pd.DataFrame) -> pd.DataFrame:
  """Each model's prediction for feature rows: {model}_ms, _lo, _hi (95% prediction interval), p_interactive."""
  out = pd.DataFrame(index=rows.index, columns=["roofline_ms", "roofline_lo", "roofline_hi", "design_ms", "design_lo", "design_hi",
                                                "p_interactive"], dtype=float)
  for g, r in rows.groupby(GROUP, sort=False):
    if (res := models["roofline"].get(g)) is not None and r["roofline_ms"].notna().all():
      out.loc[r.index, ["roofline_ms", "roofline_lo", "roofline_hi"]] = _interval(res, r[["roofline_ms"]]).clip(lower=0).to_numpy()  # a time is never negative
    if (res := models["design"].get(g)) is not None and r[DESIGN].notna().all().all():
      out.loc[r.index, ["design_ms", "design_lo", "design_hi"]] = np.exp(_interval(res, r[DESIGN]).to_numpy())
  if (clf := models["classifier"]) is not None and len(ok := rows.dropna(subset=NUMERIC)):
    p = clf.predict_proba(ok[NUMERIC + CATEGORIES])
    out.loc[ok.index, "p_interactive"] = p[:, list(clf.classes_).index(True)] if True in clf.classes_ else 0.0
  return out

def splits(runs: pd.DataFrame):
  """Leave one configuration out: (training runs' positions, the left-out configuration's positions)."""
  from sklearn.model_selection import LeaveOneGroupOut
  yield from LeaveOneGroupOut().split(runs, groups=runs["config"])

def cross_validate(runs: pd.DataFrame, configs: pd.DataFrame, threshold_ms: float) -> pd.DataFrame:
  """predict() of each configuration in `configs` by the models fitted on every other configuration's runs."""
  rows = configs.set_index("config", drop=False)
  out = []
  for train, test in splits(runs):
    config = runs["config"].iloc[test[0]]
    if config in rows.index: out.append(predict(fit(runs.iloc[train], threshold_ms), rows.loc[[config]]))
  return pd.concat(out) if out else pd.DataFrame()

# ---------------------------------------------------------------- unmeasured sizes

def made_up(train: pd.DataFrame, sizes: list[str]) -> pd.DataFrame:
  """Feature rows for sizes never measured: each group and quantization of the training set at that size's shape,
  its bits per weight those of the largest trained size of the same quantization, the rest as the group ran."""
  rows = []
  for key, d in train.groupby([*GROUP, "quantize"], sort=True):
    ref = d.sort_values("n_params").iloc[-1].drop([c for c in d.columns if c.startswith(("ms", "tok_s", "latency_"))])
    for size in sizes:
      n = synthetic.n_params(ARCHS[size])
      rows.append({**ref.to_dict(), "size": size, "config": " ".join(["unmeasured", size, *map(str, key)]), "label": "",
                   "n_params": n, "model_bytes": n * float(ref["bits_per_weight"]) / 8, "n_runs": 0})
  return features(pd.DataFrame(rows)) if rows else pd.DataFrame()

# ---------------------------------------------------------------- the folder's fit

def mape_pct(measured_ms: pd.Series, predicted_ms: pd.Series) -> float:
  from sklearn.metrics import mean_absolute_percentage_error
  ok = measured_ms.notna() & predicted_ms.notna()
  return float(100 * mean_absolute_percentage_error(measured_ms[ok], predicted_ms[ok])) if ok.any() else math.nan

def classifier_scores(truth: pd.Series, p: pd.Series) -> dict:
  from sklearn.metrics import accuracy_score, confusion_matrix
  ok = truth.notna() & p.notna()
  if not ok.any(): return {"n_configs": 0}
  t, guess = truth[ok].astype(bool), p[ok] >= 0.5
  return {"n_configs": int(ok.sum()), "accuracy": float(accuracy_score(t, guess)),
          "confusion": {"rows": "measured", "columns": "predicted", "labels": ["interactive", "not interactive"],
                        "matrix": confusion_matrix(t, guess, labels=[True, False]).tolist()}}

def long_table(configs: pd.DataFrame, pred: pd.DataFrame, split: str, threshold_ms: float) -> pd.DataFrame:
  """model_fit.csv rows: a measured row per measured configuration, a predicted row per model."""
  base = configs[[c for c in FIT_COLUMNS if c in configs.columns and c not in ("ms_per_token", "ms_per_token_ci95_low", "ms_per_token_ci95_high")]]
  base = base.assign(split=split)
  out = []
  if "ms_per_token" in configs:
    m = configs["ms_per_token"]
    out.append(base.assign(model="", source="measured", ms_per_token=m, ms_per_token_ci95_low=configs["ms_per_token_ci95_low"],
                           ms_per_token_ci95_high=configs["ms_per_token_ci95_high"], interactive=m < threshold_ms))
  else: m = pd.Series(math.nan, index=configs.index)
  for model in ("roofline", "design"):
    p = pred[f"{model}_ms"]
    out.append(base.assign(model=model, source="predicted", ms_per_token=p, ms_per_token_ci95_low=pred[f"{model}_lo"],
                           ms_per_token_ci95_high=pred[f"{model}_hi"], interactive=(p < threshold_ms).where(p.notna()),
                           error_pct=100 * (p / m - 1)))
  out.append(base.assign(model="classifier", source="predicted", p_interactive=pred["p_interactive"],
                         interactive=(pred["p_interactive"] >= 0.5).where(pred["p_interactive"].notna())))
  return pd.concat(out, ignore_index=True).reindex(columns=FIT_COLUMNS)

def run_fit(folder: Path, threshold_ms: float = INTERACTIVE_MS, holdout: list[str] = ()) -> tuple[dict, pd.DataFrame]:
  """Fits, cross-validates and tests a folder's runs. Returns (models.json's content, model_fit.csv's rows)."""
  if bad := [s for s in holdout if s not in ARCHS]: raise AnalysisError(f"--holdout {bad[0]}: not a registry size ({', '.join(ARCHS)})")
  runs = features(read_runs(folder / "runs.csv"))
  configs = measured(read_summary(folder / "summary.csv"))
  runs = runs[runs["decode_tok_s_per_seq"].notna() & (runs["mode"].isin(["", "step"]) if "mode" in runs else True)]
  out = runs["size"].isin(holdout)
  train, test = runs[~out], runs[out]
  if train.empty: raise AnalysisError(f"{folder}/runs.csv: no decode runs to fit on" + (f" outside --holdout {' '.join(holdout)}" if holdout else ""))
  trained = configs[configs["config"].isin(train["config"])].reset_index(drop=True)
  tested = configs[configs["config"].isin(test["config"])].reset_index(drop=True)
  import statsmodels.api  # noqa: F401  imported before the filter: its import sets its own warning filters
  with warnings.catch_warnings():  # statsmodels' small-sample notes (kurtosis test below 8 runs...); the scores say how good the fits are
    warnings.simplefilter("ignore")
    cv = cross_validate(train, trained, threshold_ms).reindex(trained["config"]).set_axis(trained.index)
    final = fit(train, threshold_ms)
    unseen = made_up(trained, [s for s in holdout if s not in set(test["size"])])
    held = predict(final, tested)
    guessed = predict(final, unseen) if len(unseen) else pd.DataFrame()
  table = pd.concat([long_table(trained, cv, "cv", threshold_ms), long_table(tested, held, "holdout", threshold_ms),
                     *([long_table(unseen.drop(columns=["ms"], errors="ignore"), guessed, "unmeasured", threshold_ms)] if len(unseen) else [])],
                    ignore_index=True)
  truth = lambda c: c["ms_per_token"] < threshold_ms
  scores = lambda c, p: {**{f"{m}_mape_pct": mape_pct(c["ms_per_token"], p[f"{m}_ms"]) for m in ("roofline", "design")},
                         "classifier": classifier_scores(truth(c), p["p_interactive"]) if len(c) else {"n_configs": 0},
                         "n_configs": len(c)}
  groups = []
  for g, d in train.groupby(GROUP, sort=True):
    key = dict(zip(GROUP, g))
    sel = lambda c: (c[GROUP] == pd.Series(key)).all(axis=1)
    rf, ds = final["roofline"][g], final["design"][g]
    row = {**key, "n_runs": len(d), "n_configs": int(d["config"].nunique()), "sizes": sorted(d["size"].unique()),
           "quantize": sorted(d["quantize"].unique()), "bandwidth_gb_s": float(d["bandwidth_gb_s"].median()),
           "cv_roofline_mape_pct": mape_pct(trained.loc[sel(trained), "ms_per_token"], cv.loc[sel(trained), "roofline_ms"]),
           "cv_design_mape_pct": mape_pct(trained.loc[sel(trained), "ms_per_token"], cv.loc[sel(trained), "design_ms"]),
           "holdout_roofline_mape_pct": mape_pct(tested.loc[sel(tested), "ms_per_token"], held.loc[sel(tested), "roofline_ms"]) if len(tested) else math.nan,
           "holdout_design_mape_pct": mape_pct(tested.loc[sel(tested), "ms_per_token"], held.loc[sel(tested), "design_ms"]) if len(tested) else math.nan}
    if rf is not None and "roofline_ms" in rf.params:
      slope, (lo, hi) = rf.params["roofline_ms"], rf.conf_int(ALPHA).loc["roofline_ms"]
      row |= {"a_ms": float(rf.params.get("const", 0.0)), "through_origin": "const" not in rf.params, "r2": float(rf.rsquared),
              "eta": 1 / slope, "eta_ci95": [1 / hi if hi > 0 else math.nan, 1 / lo if lo > 0 else math.inf],
              "note": "eta > 1: time grows more slowly than the bytes, the step is not bandwidth-bound" if slope < 1 else ""}
    else: row |= {"eta": math.nan, "a_ms": float(rf.params["const"]) if rf is not None else math.nan,
                  "note": "fewer than two byte counts among its configurations" if rf is None else "ms/token does not grow with bytes: not bandwidth-bound"}
    if ds is not None: row["design"] = {"coef": {k: float(v) for k, v in ds.params.items()}, "left_out": [c for c in DESIGN if c not in ds.params],
                                        "r2": float(ds.rsquared)}
    groups.append(row)
  clf = final["classifier"]
  result = {"schema": 1, "interactive_ms": threshold_ms, "holdout_sizes": list(holdout),  # no path: the same runs give the same file
            "training": {"runs": len(train), "configurations": int(train["config"].nunique()), "sizes": sorted(train["size"].unique()),
                         "backends": sorted(train["backend"].unique()), "devices": sorted(train["device"].unique()),
                         "runs_without_roofline_features": int(train["roofline_ms"].isna().sum()),
                         "interactive_runs": int((train["ms"] < threshold_ms).sum())},
            "groups": groups,
            "classifier": {"kind": type(clf[-1] if hasattr(clf, "steps") else clf).__name__ if clf is not None else None,
                           "features": NUMERIC + CATEGORIES},
            "cv": scores(trained, cv), "holdout": scores(tested, held) if len(tested) else {"n_configs": 0},
            "unmeasured": sorted(unseen["size"].unique()) if len(unseen) else []}
  return result, table

def _json(o):
  if isinstance(o, float) and not math.isfinite(o): return None
  if isinstance(o, dict): return {k: _json(v) for k, v in o.items()}
  if isinstance(o, (list, tuple)): return [_json(v) for v in o]
  if isinstance(o, (np.integer, np.floating, np.bool_)): return _json(o.item())
  return o

def write(folder: Path, result: dict, table: pd.DataFrame, plot: Path | None) -> list[Path]:
  atomic_write(folder / "models.json", json.dumps(_json(result), indent=1) + "\n")
  write_csv(folder / "model_fit.csv", FIT_COLUMNS, table)
  return [folder / "models.json", folder / "model_fit.csv", *([draw(table, result, plot)] if plot else [])]

def load(folder: Path) -> dict:
  """models.json of a folder (fit_models.py's), or {} where it has none: for the deck."""
  path = Path(folder) / "models.json"
  return json.loads(path.read_text()) if path.is_file() else {}

def eta_table(result: dict) -> pd.DataFrame:
  """η per backend x device x settings, with its interval and the scores: the deck's roofline slide."""
  cols = ["backend", "device", "knobs", "eta", "eta_ci95", "a_ms", "bandwidth_gb_s", "n_configs", "n_runs", "cv_roofline_mape_pct",
          "holdout_roofline_mape_pct", "note"]
  return pd.DataFrame([{c: g.get(c) for c in cols} for g in result.get("groups", [])], columns=cols)

# ---------------------------------------------------------------- the figure

def draw(table: pd.DataFrame, result: dict, out: Path) -> Path:
  plt = names.pyplot()
  fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
  meas = table[table["source"] == "measured"].set_index(["config", "split"])["ms_per_token"]
  for ax, model in zip(axes, ("roofline", "design")):
    p = table[(table["model"] == model) & table["split"].isin(["cv", "holdout"])].copy()
    p["measured"] = [meas.get((c, s), math.nan) for c, s in zip(p["config"], p["split"])]
    p = p.dropna(subset=["measured", "ms_per_token"])
    for (backend, split), d in p.groupby(["backend", "split"], sort=True):
      err = np.vstack([d["ms_per_token"] - d["ms_per_token_ci95_low"], d["ms_per_token_ci95_high"] - d["ms_per_token"]]).clip(0)
      ax.errorbar(d["measured"], d["ms_per_token"], yerr=np.nan_to_num(err), fmt="*" if split == "holdout" else "o", ms=11 if split == "holdout" else 6,
                  color=color(backend), ecolor=color(backend), elinewidth=0.6, alpha=0.9, capsize=2,
                  label=f"{name(backend)}, " + ("held-out size" if split == "holdout" else "left-out configuration"))
      for _, r in d[d["split"] == "holdout"].iterrows():
        ax.annotate(f"{r['size']} {r['quantize']}", (r["measured"], r["ms_per_token"]), textcoords="offset points", xytext=(6, -10), fontsize=8)
    if len(p):
      lo, hi = min(p["measured"].min(), p["ms_per_token"].min()) / 1.5, max(p["measured"].max(), p["ms_per_token"].max()) * 1.5
      ax.plot([lo, hi], [lo, hi], color="gray", lw=1, ls="--", label="predicted = measured")
      ax.fill_between([lo, hi], [lo * 0.8, hi * 0.8], [lo * 1.25, hi * 1.25], color="gray", alpha=0.1, label="within -20%..+25%")
      ax.set_xscale("log"); ax.set_yscale("log"); ax.set_xlim(lo, hi); ax.set_ylim(lo, hi)
    cv, ho = result["cv"].get(f"{model}_mape_pct"), result["holdout"].get(f"{model}_mape_pct")
    title = {"roofline": "roofline: a + bytes/token / (η·bandwidth)", "design": "design: log-linear in params, bits, context, batch"}[model]
    ax.set_title(f"{title}\nMAPE: left-out configurations {pct(cv)}" + (f", held-out sizes {pct(ho)}" if result["holdout"].get("n_configs") else ""), fontsize=9)
    ax.set_xlabel("measured ms/token (median over runs)")
    ax.set_ylabel("predicted ms/token (whiskers: 95% prediction interval)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper left")
  tr = result["training"]
  fig.suptitle(f"Decode latency per token, predicted vs measured: fitted on {tr['runs']} runs of {tr['configurations']} configurations "
               f"({', '.join(tr['sizes'])}; {', '.join(map(name, tr['backends']))}; {', '.join(tr['devices'])})"
               + (f", held out: {', '.join(result['holdout_sizes'])}" if result["holdout_sizes"] else ""), fontsize=9)
  return save_figure(fig, out, 110)

MAPE_COLUMNS = {"CV MAPE roofline": "cv_roofline_mape_pct", "CV MAPE design": "cv_design_mape_pct",
                "holdout roofline": "holdout_roofline_mape_pct", "holdout design": "holdout_design_mape_pct"}

def report(result: dict) -> str:
  """The terminal view: η per group and the scores."""
  from inferbench.core.stats import format_table
  rows = [{"backend": name(g["backend"]), "device": g["device"], "settings": g["knobs"], "configs": g["n_configs"],
           "runs": g["n_runs"], "eta": g.get("eta"), "eta 95% CI": interval(*g.get("eta_ci95", (None, None))) or None, "a ms": g.get("a_ms"),
           **{h: pct(g[k]) if known(g[k]) else None for h, k in MAPE_COLUMNS.items()}}  # None: the table's own mark for a missing value
          for g in result["groups"]]
  lines = [format_table(rows, list(rows[0]))]
  for split in ("cv", "holdout"):
    s = result[split]
    if not s.get("n_configs"): continue
    c = s["classifier"]
    conf = f", confusion [[int->int, int->not], [not->int, not->not]] = {c['confusion']['matrix']}" if "confusion" in c else ""
    lines.append(f"{'leave-one-configuration-out' if split == 'cv' else 'held-out sizes ' + ' '.join(result['holdout_sizes'])}: {s['n_configs']} configurations, "
                 f"MAPE roofline {pct(s['roofline_mape_pct'])}, design {pct(s['design_mape_pct'])}; "
                 f"interactive (< {result['interactive_ms']:g} ms/token) accuracy {c.get('accuracy', math.nan):.0%}{conf}")
  return "\n".join(lines)

def main(argv: list[str] | None = None, doc: str | None = None) -> int:
  p = cli.Parser(description=doc or __doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("-d", "--dir", type=Path, default=Path("benchmark_output"), help="folder holding runs.csv and summary.csv (default: %(default)s)")
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
