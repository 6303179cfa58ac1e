"""presentation.typ -> presentation.pdf: copy the plots to docs/images/, compute the deck's data, compile with Typst.

Typst reads three things, all derived from the analysis's files, nothing typed by hand: benchmark_output/summary.csv
(its results tables, through Typst's own csv()), docs/deck_data.json (setup and findings, sentences made here from
summary.csv and ratios.csv: no statistic is computed here) and the PNGs. Any sweep_*.csv beside the summary adds a
sweep slide.
"""
from __future__ import annotations
import argparse, csv, datetime, json, math, os, shutil, sys
from collections import defaultdict
from pathlib import Path
import pandas as pd
from .analysis import DISPLAY, EXPECTED, RATIO_COLUMNS, AnalysisError, read_ratios, read_summary
from .models import atomic_write
from .plots import ADDITIONAL, MAIN

ROOT = Path(__file__).resolve().parent.parent
PLOTS = (*MAIN, *ADDITIONAL)
SWEEP_PLOT = "quantization_pareto"
# the scaling plots (scaling.py), each on a slide of its own where its data exists
SCALING = {"token_scaling": ("Latency against generated tokens", "TTFT + the steps at the median decode rate, per configuration."),
           "temperature_effect": ("The effect of temperature", "Median decode tok/s with its 95% CI over runs: overlapping intervals mean no measurable effect."),
           "context_scaling": ("Decode speed against context depth", "The prompt fills d positions before decoding; median over runs."),
           "batch_scaling": ("Throughput against batch", "Aggregate (solid) and per-sequence (dashed) decode tok/s, median over runs."),
           "memory_scaling": ("Peak memory against context × batch", "Measured peak RSS (and device memory) against the prediction (dashed).")}

def name(backend: str) -> str: return DISPLAY.get(backend, backend)
def fmt(v: float) -> str: return "–" if v != v else f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
def ci(lo: float, hi: float, unit: str = "") -> str: return "no CI (fewer than 3 runs)" if lo != lo else f"95% CI {fmt(lo)}–{fmt(hi)}{unit}"
def number(v: str) -> float:
  try: return float(str(v).split(";")[0])
  except ValueError: return math.nan

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
  models = {(r["model_name"], r["size"], r["model_type"], r["bits_per_weight"], r["n_params"], r["model_bytes"], r["weights"])
            for r in summary.to_dict("records")}
  join = lambda s: ", ".join(sorted(str(x) for x in s if x))
  millions = lambda v: "–" if number(v) != number(v) else f"{number(v) / 1e6:,.1f}"  # a server does not say which file it serves
  return {"hosts": [{"hostname": n, "platform": p, "cpu_model": c, **{f: join(v) for f, v in h.items()}}
                    for (n, p, c), h in sorted(hosts.items())],
          "backends": [{"backend": b, "version": join(v)} for b, v in sorted(backends.items())],
          "packages": [{"package": p, "version": join(v)} for p, v in sorted(packages.items())],
          "models": [{"model": m or "–", "size": s, "type": t or "–", "bits_per_weight": b or "–", "n_params": f"{millions(n)} M",
                      "file_mb": millions(mb), "weights": w} for m, s, t, b, n, mb, w in sorted(models)],
          "runs": sorted({int(v) for v in summary["n_runs"]}),
          "decode_steps_per_run": join({str(v) for v in summary["n_decode_steps"]}),
          "prompt_tokens": join({str(v) for v in summary["n_prompt_tokens"]}), "threads": join({str(v) for v in summary["threads"]}),
          "git_commits": join({c[:12] for cs in summary["git_commit"] for c in cs.split("; ")}),
          "measured": f"{min(summary['first_started_at'])[:16]} – {max(summary['last_started_at'])[:16]} UTC"}

def findings(summary: pd.DataFrame, ratios: pd.DataFrame, baseline: str) -> dict[str, list[str]]:
  """Sentences computed from summary.csv and ratios.csv: backends compared on matched configurations, setting
  effects within a backend, the quantization effect, and what the reader should distrust."""
  out: dict[str, list[str]] = {"fastest": [], "speedups": [], "settings": [], "quantization": [], "caveats": []}
  r = ratios if len(ratios.columns) else pd.DataFrame(columns=RATIO_COLUMNS)  # no ratios.csv: an older analysis
  def sentence(q) -> str:  # what the two share, then what tells them apart
    mine, theirs = q["label"].split(), q["baseline_label"].split()
    common = " ".join(w for w in mine if w in theirs)
    apart = lambda a, b: " ".join(w for w in a if w not in b) or "–"
    return (f"{common} ({q['phase']}): {apart(mine, theirs)} vs {apart(theirs, mine)}: {q['ratio']:.2f}× "
            f"({ci(q['ratio_ci95_low'], q['ratio_ci95_high'], '×')}; {q['n_runs']:.0f} vs {q['baseline_n_runs']:.0f} runs)")
  backend = r[r["kind"] == "backend"]
  for _, same in backend[backend["phase"] == "decode"].groupby("baseline_config", sort=True):
    best = same.sort_values("ratio").iloc[-1]
    if best["ratio"] > 1:
      out["fastest"].append(f"{name(best['backend'])} fastest: {sentence(best)}, {fmt(best['tok_s_median'])} tok/s median")
  if not out["fastest"]: out["fastest"].append("no configuration was measured on two backends with every other setting equal")
  out["speedups"] = [sentence(q) for q in backend[backend["baseline_backend"] == baseline].to_dict("records")] or \
                    [f"no configuration was measured on both {name(baseline)} and another backend with every other setting equal"]
  out["settings"] = [sentence(q) for q in r[r["kind"] == "setting"].to_dict("records")] or ["no backend setting was varied"]
  out["quantization"] = [sentence(q) for q in r[r["kind"] == "quantization"].to_dict("records")] or \
                        ["no backend was measured at two quantizations of one model"]
  out["caveats"] = [f"{l} ({p}): {f}" for l, p, f in zip(summary["label"], summary["phase"], summary["flags"]) if f]
  if missing := [name(b) for b in EXPECTED if b not in set(summary["backend"])]: out["caveats"].append(f"no data for {', '.join(missing)}")
  if not summary["device"].eq("cuda").any(): out["caveats"].append("no GPU runs: CPU only")
  if summary["weights"].eq("synthetic").any():
    out["caveats"].append("synthetic weights (random values, real shapes): their speed is meaningful, their text is not")
  return out

def sweeps(folder: Path) -> list[dict]:
  out = []
  for path in sorted(Path(folder).glob("sweep_*.csv")):
    with open(path, newline="", encoding="utf-8") as f: out.append({"file": path.name, "rows": list(csv.DictReader(f))})
  return out

def deck_data(summary: pd.DataFrame, ratios: pd.DataFrame, folder: Path, baseline: str) -> dict:
  return {"setup": setup(summary), "findings": findings(summary, ratios, baseline), "baseline": name(baseline), "sweeps": sweeps(folder),
          "backends": sorted({name(b) for b in summary["backend"]}), "summary_rows": len(summary)}

def typst_path(path: Path, root: Path) -> str: return "/" + Path(os.path.relpath(path.resolve(), root)).as_posix()

def build(folder: Path, plots: Path, docs: Path, out: Path, baseline: str = "tinygrad", typ: Path = ROOT / "presentation.typ") -> Path:
  summary_csv = folder / "summary.csv"
  summary = read_summary(summary_csv)
  if summary.empty: raise AnalysisError(f"{summary_csv} has no rows: run a benchmark, its collate script and benchmark_analysis.py")
  if missing := [f"{n}.png" for n in PLOTS if not (plots / f"{n}.png").is_file()]:
    raise AnalysisError(f"{plots}/ lacks {', '.join(missing)}: run generate_plots.py and generate_additional_plots.py first")
  images = docs / "images"
  images.mkdir(parents=True, exist_ok=True)
  for n in (*PLOTS, SWEEP_PLOT, *SCALING):
    if (plots / f"{n}.png").is_file(): shutil.copyfile(plots / f"{n}.png", images / f"{n}.png")
    else: (images / f"{n}.png").unlink(missing_ok=True)  # a stale sweep plot must not appear without its sweep
  data = deck_data(summary, read_ratios(folder / "ratios.csv"), folder, baseline)
  data["has_sweep_plot"] = (images / f"{SWEEP_PLOT}.png").is_file()
  data["scaling"] = [{"file": n, "title": t, "note": note} for n, (t, note) in SCALING.items() if (images / f"{n}.png").is_file()]
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

def main(argv: list[str] | None = None, doc: str | None = None) -> int:
  p = argparse.ArgumentParser(description=doc or __doc__)
  p.add_argument("-d", "--dir", type=Path, default=Path("benchmark_output"), help="folder of summary.csv and sweep_*.csv (default: %(default)s)")
  p.add_argument("--plots", type=Path, default=Path("plots"), help="folder of the eight PNGs (default: %(default)s)")
  p.add_argument("--docs", type=Path, default=Path("docs"), help="where images/ and deck_data.json go (default: %(default)s)")
  p.add_argument("--baseline", default="tinygrad", help="backend the findings' speedups are relative to (default: %(default)s)")
  p.add_argument("-o", "--output", type=Path, default=Path("presentation.pdf"))
  args = p.parse_args(argv)
  try: out = build(args.dir, args.plots, args.docs, args.output, args.baseline)
  except AnalysisError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(out)
  return 0
