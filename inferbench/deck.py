"""presentation.typ -> presentation.pdf: copy the plots to docs/images/, compute the deck's data, compile with Typst.

Typst reads three things, all derived from the collated CSVs, nothing typed by hand: benchmark_output/summary.csv
(its results tables, through Typst's own csv()), docs/deck_data.json (setup and findings, computed here from that
summary) and the PNGs. Any sweep_*.csv beside the summary adds a sweep slide.
"""
from __future__ import annotations
import argparse, csv, datetime, json, math, os, shutil, sys
from collections import defaultdict
from pathlib import Path
from .analysis import DISPLAY, EXPECTED, AnalysisError, read_summary, speedups
from .models import atomic_write
from .plots import ADDITIONAL, MAIN

ROOT = Path(__file__).resolve().parent.parent
PLOTS = (*MAIN, *ADDITIONAL)
SWEEP_PLOT = "quantization_pareto"

def name(backend: str) -> str: return DISPLAY.get(backend, backend)
def fmt(v: float) -> str: return "–" if math.isnan(v) else f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
def config(r: dict) -> str: return " ".join(x for x in (r["size"], r["quantize"], r["variant"], "(synthetic)" if r["weights"] == "synthetic" else "") if x)
def where(r: dict) -> str: return f"{r['hostname']} {r['device']}"
def bpw(r: dict) -> float: return float(r["bits_per_weight"].split(";")[0])

def setup(summary: list[dict]) -> dict:
  hosts = defaultdict(lambda: defaultdict(set))
  backends, packages = defaultdict(set), defaultdict(set)
  for r in summary:
    h = hosts[(r["hostname"], r["platform"], r["cpu_model"])]  # two machines may share a hostname (a VM's "vm")
    for k in ("release", "python"): h[k].add(r[k])
    h["devices"].add(f"{r['device']}: {r['device_name']}")
    backends[name(r["backend"])].add(r["backend_version"])
    for k, v in json.loads(r["versions"] or "{}").items(): packages[k].add(v)
  models = {(r["model_name"], r["size"], r["model_type"], r["bits_per_weight"], r["n_params"], r["model_bytes"], r["weights"])
            for r in summary}
  join = lambda s: ", ".join(sorted(x for x in s if x))
  return {"hosts": [{"hostname": n, "platform": p, "cpu_model": c, **{f: join(v) for f, v in h.items()}}
                    for (n, p, c), h in sorted(hosts.items())],
          "backends": [{"backend": b, "version": join(v)} for b, v in sorted(backends.items())],
          "packages": [{"package": p, "version": join(v)} for p, v in sorted(packages.items())],
          "models": [{"model": m, "size": s, "type": t, "bits_per_weight": b, "n_params": f"{int(n.split(';')[0]) / 1e6:,.1f} M",
                      "file_mb": f"{int(mb.split(';')[0]) / 1e6:,.1f}", "weights": w} for m, s, t, b, n, mb, w in sorted(models)],
          "runs": sorted({int(r["n_runs"]) for r in summary}),
          "decode_steps_per_run": sorted({round(r["count"] / r["n_runs"]) for r in summary if r["phase"] == "decode"}),
          "prompt_tokens": join({r["n_prompt_tokens"] for r in summary}), "threads": join({r["threads"] for r in summary}),
          "git_commits": join({c[:12] for r in summary for c in r["git_commit"].split("; ")}),
          "measured": f"{min(r['first_started_at'] for r in summary)[:16]} – {max(r['last_started_at'] for r in summary)[:16]} UTC"}

def findings(summary: list[dict], baseline: str) -> dict[str, list[str]]:
  """Sentences computed from the summary: the fastest backend per configuration, speedups, the quantization effect,
  and what the reader should distrust."""
  out: dict[str, list[str]] = {"fastest": [], "speedups": [], "quantization": [], "caveats": []}
  same = defaultdict(list)
  for r in summary: same[(r["phase"], r["size"], r["quantize"], r["weights"], r["hostname"], r["device"])].append(r)
  for (phase, *_), rs in sorted(same.items(), key=lambda kv: (kv[0][0] != "decode", kv[0][1:])):
    rs = sorted(rs, key=lambda r: -r["tok_s_median"])
    best, rest = rs[0], rs[1:]
    vs = f", {best['tok_s_median'] / rest[0]['tok_s_median']:.2f}× {name(rest[0]['backend'])} ({fmt(rest[0]['tok_s_median'])})" if rest else ""
    lead = f"{name(best['backend'])} fastest" if rest else f"only {name(best['backend'])} measured"
    out["fastest"].append(f"{phase}, {config(best)} on {where(best)}: {lead}, {fmt(best['tok_s_median'])} tok/s median{vs}")
  for r in speedups(summary, baseline):
    out["speedups"].append(f"{name(r['backend'])} over {name(baseline)}, {r['phase']}, {config(r)} on {where(r)}: "
                           f"{r['speedup_median']:.2f}× (median), {r['speedup_mean']:.2f}× (mean, 95% CI {r['speedup_ci95_low']:.2f}–"
                           f"{r['speedup_ci95_high']:.2f}×)")
  if not out["speedups"]: out["speedups"].append(f"no configuration was measured on both {name(baseline)} and another backend")
  lines = defaultdict(list)
  for r in summary: lines[(r["backend"], r["size"], r["variant"], r["weights"], r["hostname"], r["device"], r["phase"])].append(r)
  for (backend, *_, phase), rs in sorted(lines.items()):
    if len(rs) < 2: continue
    rs = sorted(rs, key=bpw, reverse=True)  # the most precise first: the reference
    ref = rs[0]
    steps = "; ".join(f"{r['model_type']} ({bpw(r):.2f} b/w) {r['tok_s_median'] / ref['tok_s_median']:.2f}×" for r in rs[1:])
    out["quantization"].append(f"{name(backend)} {phase}, {ref['size']} on {where(ref)}: against {ref['model_type']} ({bpw(ref):.2f} b/w, "
                               f"{fmt(ref['tok_s_median'])} tok/s): {steps}")
  if not out["quantization"]: out["quantization"].append("no backend was measured at two quantizations of one model")
  noisy = [r for r in summary if r["flags"]]
  out["caveats"] += [f"{name(r['backend'])} {r['phase']} {config(r)} on {where(r)}: {r['flags']}" for r in noisy]
  if missing := [name(b) for b in EXPECTED if b not in {r["backend"] for r in summary}]:
    out["caveats"].append(f"no data for {', '.join(missing)}")
  if not any(r["device"] == "cuda" for r in summary): out["caveats"].append("no GPU runs: CPU only")
  if any(r["weights"] == "synthetic" for r in summary):
    out["caveats"].append("synthetic weights (random values, real shapes): their speed is meaningful, their text is not")
  return out

def sweeps(folder: Path) -> list[dict]:
  out = []
  for path in sorted(Path(folder).glob("sweep_*.csv")):
    with open(path, newline="", encoding="utf-8") as f: out.append({"file": path.name, "rows": list(csv.DictReader(f))})
  return out

def deck_data(summary: list[dict], folder: Path, baseline: str) -> dict:
  return {"setup": setup(summary), "findings": findings(summary, baseline), "baseline": name(baseline), "sweeps": sweeps(folder),
          "backends": sorted({name(r["backend"]) for r in summary}), "summary_rows": len(summary)}

def typst_path(path: Path, root: Path) -> str: return "/" + Path(os.path.relpath(path.resolve(), root)).as_posix()

def build(folder: Path, plots: Path, docs: Path, out: Path, baseline: str = "tinygrad", typ: Path = ROOT / "presentation.typ") -> Path:
  summary_csv = folder / "summary.csv"
  summary = read_summary(summary_csv)
  if not summary: raise AnalysisError(f"{summary_csv} has no rows: run a benchmark, its collate script and benchmark_analysis.py")
  if missing := [f"{n}.png" for n in PLOTS if not (plots / f"{n}.png").is_file()]:
    raise AnalysisError(f"{plots}/ lacks {', '.join(missing)}: run generate_plots.py and generate_additional_plots.py first")
  images = docs / "images"
  images.mkdir(parents=True, exist_ok=True)
  for n in (*PLOTS, SWEEP_PLOT):
    if (plots / f"{n}.png").is_file(): shutil.copyfile(plots / f"{n}.png", images / f"{n}.png")
    else: (images / f"{n}.png").unlink(missing_ok=True)  # a stale sweep plot must not appear without its sweep
  data = deck_data(summary, folder, baseline)
  data["has_sweep_plot"] = (images / f"{SWEEP_PLOT}.png").is_file()
  atomic_write(docs / "deck_data.json", json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False))
  import typst
  root = Path(os.path.commonpath([p.resolve() for p in (typ.parent, folder, docs)]))
  # the PDF's date is the last measurement's, so the same data compiles to the same file
  stamp = datetime.datetime.fromisoformat(max(r["last_started_at"] for r in summary)).timestamp()
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
