"""presentation.typ -> presentation.pdf: copy the plots to docs/images/, compute the deck's data, compile with Typst.

The deck tells one story: the question and the hardware, the setup, the answer (the recommender's pick), then the
evidence slide by slide (backends on matched configurations, quantization, scaling, serving, memory, the roofline,
predictions) and the caveats; an appendix keeps the methodology, every finding and the full tables and plots. A
slide whose data does not exist is left out.

Typst reads what this module derives from the analysis's files, nothing typed by hand: summary.csv (the appendix's
tables, through Typst's own csv()), docs/deck_data.json (sentences made here from summary.csv, ratios.csv and the
optional recommendation.csv, verification.csv, models.json, serving_sets.csv, sweep_*.csv: no statistic is computed here) and the PNGs.
"""
from __future__ import annotations
import csv, dataclasses, datetime, json, os, shutil, sys
from collections import defaultdict
from pathlib import Path
import pandas as pd
from inferbench.core import cli, registry, stats
from inferbench.core.names import NONE, ci, fmt, interval, knob_words, known, name, pct, with_ci
from inferbench.analyse.analysis import EXPECTED, MATCH, RATIO_COLUMNS, AnalysisError, read_ratios, read_summary
from inferbench.core.files import atomic_write, ROOT
from inferbench.report import story
from inferbench.report.plots import ADDITIONAL, MAIN, number

PLOTS = (*MAIN, *ADDITIONAL)
SWEEP_PLOT = "quantization_pareto"
# the scaling plots (scaling.py), each on a slide of its own where its data exists
SCALING = {"context_scaling": ("Scaling: decode speed against context depth", "The prompt fills d positions before decoding; median over runs."),
           "token_scaling": ("Scaling: latency against generated tokens", "TTFT + the steps at the median decode rate, per configuration."),
           "batch_scaling": ("Scaling: throughput against batch", "Aggregate (solid) and per-sequence (dashed) decode tok/s, median over runs."),
           "temperature_effect": ("The effect of temperature", "Median decode tok/s with its 95% CI over runs: overlapping intervals mean no measurable effect."),
           "memory_scaling": ("Peak memory against context × batch", "Measured peak RSS (and device memory) against the prediction (dashed)."),
           "concurrency_scaling": ("Serving: throughput and goodput against concurrency", "Aggregate tok/s and goodput per server setting; median and 95% CI over rounds."),
           "rate_scaling": ("Serving: latency against request rate", "Poisson arrivals; TTFT and inter-token gap p50 (solid) and p99 (dashed) over requests."),
           "timeout_scaling": ("Serving: the batch timeout", "Aggregate tok/s (95% CI over rounds) and TTFT p50 against the batching server's timeout.")}
# optional outputs of later stages, shown where they exist: recommend.py (--verify), fit_models.py
RECOMMENDATION, VERIFICATION, EXTRA_PLOTS = "recommendation.csv", "verification.csv", ("pareto_front", "model_fit", "energy_per_token")
DEFAULT_MAX_KL = 0.05

def setup(summary: pd.DataFrame) -> dict:
  hosts = defaultdict(lambda: defaultdict(set))
  backends, packages = defaultdict(set), defaultdict(set)
  for r in summary.to_dict("records"):
    h = hosts[(r["hostname"], r["platform"], r["cpu_model"])]  # two machines may share a hostname (a VM's "vm")
    for k in ("release", "python"): h[k].add(r[k])
    h["devices"].add(f"{r['device']}: {r['device_name']}")
    backends[name(r["backend"])].add(r["backend_version"])
    for versions in r["versions"].split("; "):
      for k, v in json.loads(versions or "{}").items(): packages[k].add(v)
  files = defaultdict(set)  # a model by its registry name (a local file: its own), with the GGUF files measured
  for r in summary.to_dict("records"):
    files[(model_name(r), r["size"], r["weights"], r["n_params"])].add((number(r["bits_per_weight"]), r["model_type"] or r["quantize"]))
  join = lambda s: ", ".join(sorted(str(x) for x in s if x))
  millions = lambda v: f"{number(v) / 1e6:,.1f}" if known(number(v)) else NONE  # a server does not say which file it serves
  return {"hosts": [{"hostname": n, "platform": p, "cpu_model": c, **{f: join(v) for f, v in h.items()}}
                    for (n, p, c), h in sorted(hosts.items())],
          "backends": [{"backend": b, "version": join(v)} for b, v in sorted(backends.items())],
          "packages": [{"package": p, "version": join(v)} for p, v in sorted(packages.items())],
          "models": [{"model": m, "size": s, "weights": w, "n_params": f"{millions(n)} M",
                      "files": ", ".join(t + ("" if b != b else f" ({b:.2f})") for b, t in sorted(f, key=lambda x: (-x[0] if x[0] == x[0] else 0, x[1])))}
                     for (m, s, w, n), f in sorted(files.items())],
          "runs": sorted({int(v) for v in summary["n_runs"]}),
          "decode_steps_per_run": join({str(v) for v in summary["n_decode_steps"]}),
          "prompt_tokens": join({str(v) for v in summary["n_prompt_tokens"]}), "threads": join({str(v) for v in summary["threads"]}),
          "measured": f"{min(summary['first_started_at'])[:16]} – {max(summary['last_started_at'])[:16]} UTC"}

def hardware(summary: pd.DataFrame) -> list[dict]:
  """The title slide's machines: each host's CPU and devices, with the ceilings measured on them."""
  rows = []
  for (host, cpu, dev, dev_name), g in summary.groupby(["hostname", "cpu_model", "device", "device_name"], sort=True):
    bw, flops = pd.to_numeric(g["roofline_gb_s"], errors="coerce").median(), pd.to_numeric(g.get("compute_gflop_s"), errors="coerce").median()
    rows.append({"host": host, "device": dev_name or dev, "cpu": cpu, "threads": ", ".join(sorted({str(t) for t in g["threads"]})),
                 "bandwidth": f"{fmt(bw)} GB/s" if known(bw) else NONE, "compute": f"{fmt(flops)} GFLOP/s" if known(flops) else NONE})
  return rows

def provenance(summary: pd.DataFrame) -> dict:
  """Which commit measured which rows, once: the title slide says whether commits are mixed, the appendix lists them."""
  per = defaultdict(set)
  for commits, label in zip(summary["git_commit"], summary["label"]):
    for c in commits.split("; "): per[c[:12] or "unknown"].add(label or "all")
  dates = {c: (summary.loc[summary["git_commit"].str.contains(c, regex=False), "first_started_at"].min()[:10],
               summary.loc[summary["git_commit"].str.contains(c, regex=False), "last_started_at"].max()[:10]) for c in per if c != "unknown"}
  return {"commits": [{"commit": c, "measured": " – ".join(dict.fromkeys(dates.get(c, ("", "")))), "n_rows": len(ls),
                       "rows": "; ".join(sorted(ls)[:6]) + (f"; … {len(ls) - 6} more" if len(ls) > 6 else "")}
                      for c, ls in sorted(per.items(), key=lambda kv: dates.get(kv[0], ("",))[0])],
          "mixed": len(per) > 1}

def model_name(r: dict) -> str:
  """The registry's name of a size (not the GGUF's general.name, "Smollm2 135M 8k Lc100K Mix1 Ep2"); a local file's own."""
  return registry.MODELS[r["size"]].name if r["size"] in registry.MODELS else (r.get("model_name") or r["size"])

def findings(summary: pd.DataFrame, ratios: pd.DataFrame, baseline: str) -> dict[str, list[str]]:
  """Sentences computed from summary.csv and ratios.csv: backends compared on matched configurations, setting
  effects within a backend (a server's batching among them), the quantization effect, and what to distrust. An
  empty list: nothing of that kind was measured (the deck then leaves its slide out)."""
  out: dict[str, list[str]] = {}
  r = ratios if len(ratios.columns) else pd.DataFrame(columns=RATIO_COLUMNS)  # no ratios.csv: an older analysis
  busy = summary.groupby("config")["other_cpu_share_mean"].max() if "other_cpu_share_mean" in summary else pd.Series(dtype=float)
  contended = {c for c, share in busy.items() if stats.contended(share)}
  def sentence(q) -> str:  # what the two share, then what tells them apart
    mine, theirs = q["label"].split(", "), q["baseline_label"].split(", ")
    common = ", ".join(w for w in mine if w in theirs)
    apart = lambda a, b: ", ".join(w for w in a if w not in b) or "–"
    return (f"{common} ({q['phase']}): {apart(mine, theirs)} vs {apart(theirs, mine)}: {q['ratio']:.2f}× "
            f"({ci(q['ratio_ci95_low'], q['ratio_ci95_high'], '×')}; {q['n_runs']:.0f} vs {q['baseline_n_runs']:.0f} {samples(q)})"
            + ("; measured beside other work: not comparable" if {q["config"], q["baseline_config"]} & contended else ""))
  serving = set(summary.loc[summary["mode"].isin(("endpoint", "in-process")), "config"])
  samples = lambda q: "rounds" if q["config"] in serving else "runs"
  backend = r[(r["kind"] == "backend") & (r["phase"] == "decode")]
  out["fastest"] = []
  for _, same in backend.groupby(MATCH, sort=True):  # one matched configuration: its fastest backend, against the next
    top = same.groupby("backend")["tok_s_median"].max().sort_values()
    if len(top) < 2: continue
    q = same[(same["backend"] == top.index[-1]) & (same["baseline_backend"] == top.index[-2])].sort_values("ratio").iloc[-1]
    out["fastest"].append(f"{name(q['backend'])} fastest, {fmt(q['tok_s_median'])} tok/s: {q['ratio']:.2f}× {name(q['baseline_backend'])} "
                          f"({ci(q['ratio_ci95_low'], q['ratio_ci95_high'], '×')}) on {q['label'].removeprefix(name(q['backend'])).strip() or 'the same configuration'}")
  out["speedups"] = [sentence(q) for q in r[(r["kind"] == "backend") & (r["baseline_backend"] == baseline)].to_dict("records")]
  setting = r[r["kind"] == "setting"]
  is_serving = setting["config"].isin(serving)
  out["settings"] = [sentence(q) for q in setting[~is_serving].to_dict("records")]
  served = setting[is_serving & (setting["phase"] == "decode")]
  out["serving"] = [sentence(q) for q in served.to_dict("records")]
  # the story's: at each load level, the best batching server against max batch 1, by load
  load = ["size", "quantize", "concurrency", "request_rate"]
  best = served.sort_values("ratio").groupby(load, sort=False).tail(1)
  best = best.assign(_c=pd.to_numeric(best["concurrency"], errors="coerce"), _r=pd.to_numeric(best["request_rate"], errors="coerce"))
  out["serving_best"] = [sentence(q) for q in best.sort_values(["size", "quantize", "_c", "_r"]).to_dict("records")]
  out["quantization"] = [sentence(q) for q in r[r["kind"] == "quantization"].to_dict("records")]
  out["caveats_all"] = [f"{l} ({p}): {f}" for l, p, f in zip(summary["label"], summary["phase"], summary["flags"]) if f]
  n = len(summary)
  counts = {"noisy (runs' cv ≥ 10%)": summary["noisy"].sum(), "with drift between the first and second half of their runs": summary["drift"].sum(),
            "with outlier runs (flagged, kept)": (pd.to_numeric(summary["outliers"], errors="coerce") > 0).sum(),
            "with a slow first run": summary["first_run_slow"].sum(), "without a CI (fewer than 3 runs)": summary["tok_s_ci95_low"].isna().sum(),
            "mixing commits or package versions": (summary["mixed"] != "").sum(),
            "imprecise (their interval over runs wider than the --target-ci asked)": summary.get("imprecise", pd.Series(dtype=bool)).sum(),
            "measured beside other work (other processes kept 10% or more of their CPUs busy; their ratios are not comparable)":
              summary["config"].isin(contended).sum()}
  out["caveats"] = [f"{c} of {n} configuration-phases {what}" for what, c in counts.items() if c]
  if missing := [name(b) for b in EXPECTED if b not in set(summary["backend"])]: out["caveats"].append(f"no data for {', '.join(missing)}")
  if not summary["device"].eq("cuda").any(): out["caveats"].append("no GPU runs: CPU only")
  if summary["weights"].eq("synthetic").any():
    out["caveats"].append("synthetic weights (random values, real shapes): their speed is meaningful, their text is not")
  return out

def recommendation(folder: Path) -> tuple:
  """The recommender's answer under the limits the user gave it (recommendation.csv records them), else under a
  limit any deployment would set where quality was measured (KL to F16 <= DEFAULT_MAX_KL): (recommend.Answer, its
  recommend.Constraints, how it was asked)."""
  from inferbench.decide import recommend
  saved = folder / RECOMMENDATION
  given = pd.read_csv(saved, keep_default_na=False)["constraints"] if saved.is_file() else pd.Series(dtype=str)
  if len(given):
    c = recommend.Constraints.parse(given.iloc[0])
    by = f"recommend.py under {given.iloc[0]}"
  else:
    c = recommend.Constraints(max_kl=DEFAULT_MAX_KL if any(folder.glob("sweep_*.csv")) else None)
    by = ("the recommender's fastest per device" + (f" with KL to F16 ≤ {c.max_kl:g}" if c.max_kl else ", no limits given") +
          " (recommend.py --max-memory --max-kl ... gives yours)")
  return recommend.answer(folder, c), c, by

def answer(a, by: str, folder: Path) -> dict:
  """The appendix's answer table: the recommender's first rows."""
  table = a.table
  rows = [{"device": r["device_name"] if isinstance(r["device_name"], str) and r["device_name"] else r["device"],
           "pick": f"{name(r['backend'])} · {model_name(r.fillna('').to_dict())} {r['quantize']}" + (f" · {knob_words(r['knobs'])}" if isinstance(r["knobs"], str) and r["knobs"] else ""),
           "tok_s": with_ci(r["tok_s"], r["tok_s_ci95_low"], r["tok_s_ci95_high"]),
           "memory": NONE if pd.isna(r["memory_bytes"]) else f"{r['memory_bytes'] / 2**20:,.0f} MiB ({str(r['memory_source']).split(' (')[0]})",
           "quality": NONE if pd.isna(r["kl_mean"]) else f"KL {fmt(r['kl_mean'])}", "source": r["source"]}
          for _, r in table.head(8).iterrows()]
  return {"by": by if len(table) else f"no answer: {a.why}", "rows": rows, "verified": verified(folder, table["config"].iloc[0]) if len(table) else ""}

def verified(folder: Path, pick: str) -> str:
  """The answer's verdict line: recommend.py --verify's (verification.csv) where it measured this very pick."""
  path = folder / VERIFICATION
  v = pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.is_file() else pd.DataFrame()
  if v.empty or v["pick_config"].iloc[0] != pick: return "Not verified (recommend.py --verify measures the pick again against the alternatives)."
  ratios = "; ".join(f"{a}: {with_ci(x, lo, hi)}" for a, x, lo, hi in zip(v["alt_label"], v["ratio"], v["ratio_ci95_low"], v["ratio_ci95_high"]) if pd.notna(a))
  pick = f"the pick ({v['pick_source'].iloc[0]}) at {fmt(v['pick_tok_s_median'].iloc[0])} decode tok/s"
  return (f"Verified by measuring again, {v['rounds'].iloc[0]} interleaved rounds, {pick}: {v['overall'].iloc[0]}"
          + (f" (pick ÷ alternative decode tok/s, paired 95% CI: {ratios})." if ratios else "."))

# a model's note (models.json has it whole) in a table cell's few words
SHORT_NOTES = (("not bound by it", "slower growth than the work: not bound by the ceiling"), ("not its ceiling", "faster than the ceiling allows"),
               ("does not fit", "the model does not fit"), ("nothing left to check", "too few configurations"))
def short_note(note: str) -> str: return next((short for key, short in SHORT_NOTES if key in note), note)

def predictions(folder: Path) -> dict:
  """fit_models.py's out-of-sample scores (models.json) and eta per backend, device, settings and phase, where it ran."""
  from inferbench.decide import predict
  result = predict.load(folder)
  if not result: return {}
  split = "holdout" if result["holdout"].get("n_configs") else "cv"
  s = result[split]
  live = s.get("interactive") or {}
  return {"split": "held-out sizes " + ", ".join(result["holdout_sizes"]) + ", never in a fit" if split == "holdout" else
                   "each configuration predicted by a fit without it",
          "mape": {q: pct(s.get(f"{q}_mape_pct")) for q in predict.QUANTITIES},
          "predicted": {q: f"{s.get(f'{q}_predicted', 0)} of {s.get('n_configs', 0)}" for q in predict.QUANTITIES},
          "interactive": f"{live['accuracy']:.0%} right" if live.get("accuracy") is not None else live.get("why", NONE),
          "interactive_ms": result.get("interactive_ms"),
          "eta": [{"backend": name(r["backend"]), "device": r["device"], "knobs": knob_words(r["knobs"] or "") or "–", "phase": r["phase"], "quantize": r["quantize"],
                   "eta": fmt(r["eta"]), "eta_ci95": interval(*r["eta_ci95"] or (None, None)) or NONE, "note": short_note(r["note"] or "")}
                  for r in predict.eta_table(result).to_dict("records")]}

def energy(summary: pd.DataFrame) -> dict:
  """Decode J/token and mean watts per configuration that read an energy counter (measure/energy.py), lowest first,
  and the configurations without: the energy slide's rows and its note."""
  d = summary[summary["phase"] == "decode"]
  has = d[d["j_per_token"].notna()].sort_values("j_per_token") if "j_per_token" in d else d.iloc[:0]
  rows = [{"backend": name(r["backend"]), "device": r["device_name"] or r["device"], "label": r["label"], "counters": r["energy_measured"],
           "j_per_token": fmt(r["j_per_token"]), "j_per_token_ci95": interval(r["j_per_token_ci95_low"], r["j_per_token_ci95_high"]) or NONE,
           "watts": fmt(r["watts_mean"]), "tok_s": fmt(r["tok_s_median"])} for r in has.to_dict("records")]
  note = (f"Decode joules per token, pooled over runs, by {', '.join(sorted({r['counters'] for r in rows}))} counters "
          f"(gpu: NVML total energy; cpu: RAPL package); {len(d) - len(has)} configuration(s) not measured." if rows else "Energy not measured.")
  return {"rows": rows, "note": note, "not_measured": len(d) - len(has)}

def sweeps(folder: Path) -> list[dict]:
  out = []
  for path in sorted(Path(folder).glob("sweep_*.csv")):
    with open(path, newline="", encoding="utf-8") as f: rows = list(csv.DictReader(f))
    # every row gets the cells (the slide's columns are the first row's keys), and only a sweep with the intervals has them
    if rows and "task_accuracy_ci95_low" in rows[0]: rows = [{**r, "accuracy_95": "", "vs_F16_95": "", **accuracy_cells(r)} for r in rows]
    out.append({"file": path.name, "rows": rows})
  return out

def accuracy_cells(r: dict) -> dict:
  """The sweep's task accuracy with its Wilson 95% and the paired difference from F16 with its 95% and verdict, as text."""
  hundred = lambda k: 100 * float(r[k])
  if not r.get("task_accuracy_ci95_low"): return {}
  out = {"accuracy_95": with_ci(hundred("task_accuracy"), hundred("task_accuracy_ci95_low"), hundred("task_accuracy_ci95_high")) + " %"}
  if r.get("task_diff_ci95_low"):
    out["vs_F16_95"] = f"{with_ci(hundred('task_diff_vs_f16'), hundred('task_diff_ci95_low'), hundred('task_diff_ci95_high'))} pt, {r['task_verdict']}" + \
                      (f" (Holm-adjusted p {float(r['task_diff_p_mcnemar_holm']):.3g})" if r.get("task_diff_p_mcnemar_holm") else "")
  return out

def serving_sets(folder: Path) -> list[dict]:
  path = folder / "serving_sets.csv"
  if not path.is_file(): return []
  with open(path, newline="", encoding="utf-8") as f: return list(csv.DictReader(f))

def deck_data(summary: pd.DataFrame, ratios: pd.DataFrame, folder: Path, baseline: str, images: Path) -> dict:
  """Everything the deck shows: the story's slides (their charts drawn into images/), what they leave out and why,
  and the appendix's tables."""
  from inferbench.decide import predict
  try: a, constraints, by = recommendation(folder)
  except (AnalysisError, OSError, ValueError, KeyError) as e: a, constraints, by = None, None, f"no answer: {e}"
  path = folder / VERIFICATION
  check = pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.is_file() else pd.DataFrame()
  e = story.Evidence(summary, ratios, folder, *((a.candidates, a.front, constraints.lines) if a else ()), verification=check)
  slides, left_out = story.tell(e, images, predict.load(folder))
  return {"setup": setup(summary), "hardware": hardware(summary), "provenance": provenance(summary), "findings": findings(summary, ratios, baseline),
          "baseline": name(baseline), "sweeps": sweeps(folder), "backends": sorted({name(b) for b in summary["backend"]}),
          "summary_rows": len(summary), "answer": answer(a, by, folder) if a else {"by": by, "rows": [], "verified": ""},
          "serving_sets": serving_sets(folder), "predict": predictions(folder),
          "story": [dataclasses.asdict(s) for s in slides], "left_out": left_out,
          "energy": energy(summary),
          "devices": sorted({f"{d}" for d in summary["device_name"] if d}) or sorted(set(summary["device"]))}

def typst_path(path: Path, root: Path) -> str: return "/" + Path(os.path.relpath(path.resolve(), root)).as_posix()

def build(folder: Path, plots: Path, docs: Path, out: Path, baseline: str = "tinygrad", typ: Path = ROOT / "presentation.typ") -> Path:
  summary_csv = folder / "summary.csv"
  summary = read_summary(summary_csv)
  if summary.empty: raise AnalysisError(f"{summary_csv} has no rows: run a benchmark, its collate script and benchmark_analysis.py")
  if missing := [f"{n}.png" for n in PLOTS if not (plots / f"{n}.png").is_file()]:
    raise AnalysisError(f"{plots}/ lacks {', '.join(missing)}: run generate_plots.py and generate_additional_plots.py first")
  images = docs / "images"
  images.mkdir(parents=True, exist_ok=True)
  for n in (*PLOTS, SWEEP_PLOT, *SCALING, *EXTRA_PLOTS):
    if (plots / f"{n}.png").is_file(): shutil.copyfile(plots / f"{n}.png", images / f"{n}.png")
    else: (images / f"{n}.png").unlink(missing_ok=True)  # a stale sweep plot must not appear without its sweep
  data = deck_data(summary, read_ratios(folder / "ratios.csv"), folder, baseline, images)
  for slide in data["story"]:
    for problem in slide["problems"]: print(f"warning: {slide['image']}: {problem}", file=sys.stderr)
  data["has_sweep_plot"] = (images / f"{SWEEP_PLOT}.png").is_file()
  data["scaling"] = [{"file": n, "title": t, "note": note} for n, (t, note) in SCALING.items() if (images / f"{n}.png").is_file()]
  data["chart_width_pt"] = story.CHART_IN[0] * 72
  data["images"] = sorted(p.stem for p in images.glob("*.png"))
  atomic_write(docs / "deck_data.json", json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False))
  import typst
  root = Path(os.path.commonpath([p.resolve() for p in (typ.parent, folder, docs)]))
  # the PDF's date is the last measurement's, so the same data compiles to the same file
  stamp = datetime.datetime.fromisoformat(max(summary["last_started_at"])).timestamp()
  pdf = typst.compile(str(typ), root=str(root), timestamp=int(stamp),
                      sys_inputs={"summary": typst_path(summary_csv, root), "data": typst_path(docs / "deck_data.json", root),
                                  "images": typst_path(images, root)})
  atomic_write(out, pdf)
  return out

# What a reader at the back of the room needs: story text (the title slide and every slide before the appendix) at
# least STORY_PT, the small print at the foot of a slide (the bottom SMALL_PRINT_BAND) and the appendix at least
# MIN_FONT_PT; at most MAX_STORY slides before the appendix, each after the title with a chart shown at least 1:1.
STORY_PT, MIN_FONT_PT, SMALL_PRINT_BAND, MAX_STORY = 14.0, 8.0, 62.0, 12

def layout_problems(pdf: Path, data: dict | None = None) -> list[str]:
  """What a reader would trip on, from the PDF's text boxes (poppler's pdftotext -bbox-layout: a word's box height is
  its font size in DejaVu Sans, the deck's font) and its images (pdfimages -list: a chart drawn at story.DPI shows 1:1 at that many pixels per inch),
  and from the story's charts as drawn (deck_data.json: a legend too long, a chart text too small)."""
  import subprocess, xml.etree.ElementTree as ET
  xhtml = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
  listing = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout.splitlines()[2:]
  ppi = defaultdict(list)  # page -> its images' x-ppi
  for line in listing:
    cols = line.split()
    if cols[2] == "image": ppi[int(cols[0])].append(float(cols[12]))
  ns = {"x": "http://www.w3.org/1999/xhtml"}
  problems, in_story = [], True
  pages = list(ET.fromstring(xhtml).iterfind(".//x:page", ns))
  for i, page in enumerate(pages, 1):
    w, h = float(page.get("width")), float(page.get("height"))
    words = [(float(e.get("xMin")), float(e.get("yMin")), float(e.get("xMax")), float(e.get("yMax")), e.text or "") for e in page.iterfind(".//x:word", ns)]
    if [t for _, y0, _, _, t in words if t and y0 < h - SMALL_PRINT_BAND] == ["Appendix"]:
      in_story = False
      if i - 1 > MAX_STORY: problems.append(f"{i - 1} slides before the appendix (at most {MAX_STORY})")
    for x0, y0, x1, y1, t in words:
      if x0 < 0 or y0 < 0 or x1 > w + 0.5 or y1 > h + 0.5: problems.append(f"page {i}: {t!r} runs outside the page")
      least = STORY_PT if in_story and y0 < h - SMALL_PRINT_BAND else MIN_FONT_PT
      if (pt := y1 - y0) < least - 0.05: problems.append(f"page {i}: {t!r} is set in {pt:.1f} pt, under {least:g} pt")
    if in_story and i > 1:
      if not ppi[i]: problems.append(f"page {i}: a story slide without a chart")
      elif min(ppi[i]) > story.DPI * 1.02: problems.append(f"page {i}: its chart is shown at {story.DPI / min(ppi[i]):.0%} of its size: its text under {STORY_PT:g} pt")
  if in_story: problems.append("no appendix: every page is read as a story slide")
  for slide in (data or {}).get("story", []): problems += [f"{slide['image']}: {p}" for p in slide["problems"]]
  return problems

def contact_sheet(pdf: Path, pages: int, out: Path, columns: int = 3, dpi: int = 50) -> Path:
  """The first `pages` pages (the title and the story) side by side in one PNG: the deck at a glance."""
  import io, subprocess, tempfile
  from PIL import Image
  with tempfile.TemporaryDirectory() as tmp:
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", "-f", "1", "-l", str(pages), str(pdf), f"{tmp}/page"], check=True)
    shots = [Image.open(p).convert("RGB") for p in sorted(Path(tmp).glob("page-*.png"))]
  w, h = shots[0].size
  sheet = Image.new("RGB", (columns * w + (columns + 1) * 8, -(-len(shots) // columns) * (h + 8) + 8), "#888")
  for i, shot in enumerate(shots): sheet.paste(shot, (8 + (i % columns) * (w + 8), 8 + (i // columns) * (h + 8)))
  buf = io.BytesIO()
  sheet.save(buf, format="PNG", optimize=True)
  out.parent.mkdir(parents=True, exist_ok=True)
  atomic_write(out, buf.getvalue())
  return out

def main(argv: list[str] | None = None, doc: str | None = None) -> int:
  p = cli.Parser(description=doc or __doc__)
  p.add_argument("-d", "--dir", type=Path, default=Path("benchmark_output"), help="folder of summary.csv and sweep_*.csv (default: %(default)s)")
  p.add_argument("--plots", type=Path, default=Path("plots"), help="folder of the eight PNGs (default: %(default)s)")
  p.add_argument("--docs", type=Path, default=Path("docs"), help="where images/ and deck_data.json go (default: %(default)s)")
  p.add_argument("--baseline", default="tinygrad", help="backend the findings' speedups are relative to (default: %(default)s)")
  p.add_argument("-o", "--output-dir", type=Path, default=Path("."), help="where presentation.pdf goes (default: here)")
  p.add_argument("--contact-sheet", type=Path, metavar="PNG", help="also the title and story slides side by side in one PNG")
  args = p.parse_args(argv)
  try: out = build(args.dir, args.plots, args.docs, cli.output_dir(args.output_dir) / "presentation.pdf", args.baseline)
  except AnalysisError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  if shutil.which("pdftotext"):
    for problem in layout_problems(out): print(f"warning: {out}: {problem}", file=sys.stderr)
  if args.contact_sheet:
    story_pages = 1 + len(json.loads((args.docs / "deck_data.json").read_text())["story"])
    print(contact_sheet(out, story_pages, args.contact_sheet), file=sys.stderr)
  print(out)
  return 0
