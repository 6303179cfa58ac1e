"""The quantization sweep's Pareto plot, from benchmark_output/sweep_{size}.csv only: decode speed against perplexity,
one marker per backend, the Pareto front (no other point both faster and lower in perplexity) joined by a line."""
from __future__ import annotations
import csv
from pathlib import Path
from inferbench.core import names, cli
from inferbench.core.files import save_figure
from inferbench.core.names import color, name
from inferbench.core.stats import NOISY_CV

def pareto(points: list[tuple[float, float]]) -> list[int]:
  """Indices of the points that no other point beats on both (higher speed, lower perplexity), fastest first."""
  return sorted((i for i, (s, p) in enumerate(points)
                 if not any(s2 >= s and p2 <= p and (s2, p2) != (s, p) for s2, p2 in points)), key=lambda i: -points[i][0])

def plot(csv_path: Path, out: Path) -> Path:
  plt = names.pyplot()
  with open(csv_path, newline="", encoding="utf-8") as f: rows = [r for r in csv.DictReader(f) if r["decode_tok_s"] and r["perplexity"]]
  if not rows: raise ValueError(f"{csv_path} has no row with both a decode speed and a perplexity")
  pts = [(float(r["decode_tok_s"]), float(r["perplexity"])) for r in rows]
  fig, ax = plt.subplots(figsize=(9, 6))
  noisy = [bool(r["decode_cv"]) and float(r["decode_cv"]) >= NOISY_CV for r in rows]
  for backend, marker in zip(dict.fromkeys(r["backend"] for r in rows), "osD^v"):
    for hollow in (False, True):  # a noisy speed is drawn hollow, never dropped
      idx = [i for i, r in enumerate(rows) if r["backend"] == backend and noisy[i] == hollow]
      if idx: ax.scatter([pts[i][0] for i in idx], [pts[i][1] for i in idx], marker=marker, s=50, zorder=3, edgecolors=color(backend),
                         facecolors="none" if hollow else color(backend), label=name(backend) + (f" (hollow: decode cv >= {NOISY_CV:.0%}, noisy)" if hollow else ""))
  front = pareto(pts)
  ax.plot([pts[i][0] for i in front], [pts[i][1] for i in front], "-", color="tab:red", lw=1.5, zorder=2, label="Pareto front")
  for i, r in enumerate(rows):
    ax.annotate(f"{r['quant']} ({float(r['bits_per_weight']):.2f} b/w)", pts[i], textcoords="offset points", xytext=(6, 4), fontsize=8,
                fontweight="bold" if i in front else "normal")
  if ref := [float(r["perplexity"]) for r in rows if r["quant"] == "F16"]:
    ax.axhline(ref[0], color="gray", ls=":", lw=1, label="F16 perplexity")
  r0 = rows[0]
  ax.set_xlabel(f"decode speed, tok/s (median step of >= {r0['speed_runs']} runs x {r0['speed_decode_tokens']} steps)")
  ax.set_ylabel(f"perplexity (lower is better), {r0['quality_scored']} predictions, ctx {r0['quality_ctx']}")
  ax.set_title(f"{r0['model_name']} ({r0['size']}, F16 made from {r0['source_type']}): speed vs quality per quantization\n"
               f"{r0['hostname']}, {r0['device_name']}, {r0['threads']} threads; text {Path(r0['quality_text']).name} "
               f"sha256 {r0['quality_text_sha256'][:12]}; llama-cpp-python {r0['llama_cpp_python']}", fontsize=9)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  return save_figure(fig, out, 120)

def main(argv: list[str] | None = None) -> int:
  p = cli.Parser(description=__doc__)
  p.add_argument("csv", type=Path, nargs="?", default=Path("benchmark_output/sweep_135M.csv"))
  p.add_argument("-o", "--output-dir", type=Path, default=Path("plots"), help="where quantization_pareto.png goes (default: %(default)s)")
  args = p.parse_args(argv)
  print(plot(args.csv, args.output_dir / "quantization_pareto.png"))
  return 0
