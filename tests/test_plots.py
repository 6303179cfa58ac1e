"""generate_plots.py and generate_additional_plots.py: eight PNGs from real CSVs, byte-identical when redrawn, and
what a plot must say (decode and prefill apart, missing backends, synthetic weights, the roofline when known)."""
import csv
import pytest
from matplotlib.text import Text
from benchdata import only, real_csvs, script
from inferbench import plots
from inferbench.analysis import load, summarize

PNG = b"\x89PNG\r\n\x1a\n"

@pytest.fixture(scope="module")
def real(tmp_path_factory, tiny_model): return real_csvs(tmp_path_factory.getbasetemp(), tiny_model)

def draw_all(data, out):
  for s in ("generate_plots.py", "generate_additional_plots.py"):
    r = script(s, "-d", str(data), "-o", str(out))
    assert r.returncode == 0, r.stderr
  return {p.name: p.read_bytes() for p in sorted(out.glob("*.png"))}

def texts(fig) -> str: return " ".join(" ".join(t.get_text() for t in fig.findobj(Text)).split())  # caption lines wrap

def test_scripts_write_eight_pngs_deterministically(real, tmp_path):
  first = draw_all(real, tmp_path / "a")
  assert sorted(first) == sorted(f"{n}.png" for n in plots.FIGURES)
  for name, png in first.items(): assert png.startswith(PNG) and len(png) > 20_000, name
  assert draw_all(real, tmp_path / "b") == first  # same CSVs, same bytes

def test_scripts_with_a_backend_missing(real, tmp_path):
  pngs = draw_all(only(real, tmp_path / "data", "llamacpp.csv"), tmp_path / "out")
  assert len(pngs) == 8
  data = load(tmp_path / "data")
  fig = plots.speedup_comparison(data, summarize(data), baseline="tinygrad")
  assert "baseline tinygrad has no data" in texts(fig) and "No data: tinygrad (no rows in tinygrad.csv), MLC-LLM" in texts(fig)
  r = script("generate_plots.py", "-d", str(tmp_path / "empty"), "-o", str(tmp_path / "x"))
  assert r.returncode == 2 and "run a benchmark" in r.stderr

def test_every_figure_says_what_it_shows(real):
  data = load(real)
  summary = summarize(data)
  for name, figure in plots.FIGURES.items():
    t = texts(figure(data, summary, baseline="tinygrad"))
    assert "decode" in t and "prefill" in t, name
    assert "tiny-llama (size tiny, synthetic weights" in t, name  # model, size, weights
    assert f"Hosts and devices: {summary[0]['hostname']}: cpu = {summary[0]['device_name']}" in t, name
    assert "Runs per configuration: 2–2" in t and "No data: MLC-LLM" in t, name
    assert any(w in t for w in ("mean", "median")), name
  assert "(synthetic)" in texts(plots.backend_comparison(data, summary))
  speed = texts(plots.speedup_comparison(data, summary, baseline="tinygrad"))
  assert "llama.cpp vs tinygrad" in speed and "No tinygrad baseline for: tiny int8" in speed

def test_roofline_drawn_only_when_measured(real, tmp_path):
  with open(real / "tinygrad.csv", newline="") as f: rows = list(csv.DictReader(f))
  def with_bandwidth(folder, gb_s: str):
    folder.mkdir()
    with open(folder / "tinygrad.csv", "w", newline="") as f:
      w = csv.DictWriter(f, fieldnames=list(dict.fromkeys([*rows[0], "roofline_gb_s"])))
      w.writeheader()
      w.writerows({**r, "roofline_gb_s": gb_s} for r in rows)
    return load(folder)
  data = with_bandwidth(tmp_path / "unmeasured", "")
  assert "no roofline drawn" in texts(plots.memory_throughput(data, summarize(data)))
  data = with_bandwidth(tmp_path / "measured", "12.5")
  fig = plots.memory_throughput(data, summarize(data))
  assert f"measured bandwidth {data.rows[0]['hostname']} cpu: 12.5 GB/s" in texts(fig)
  assert any(list(l.get_ydata()) == [12.5, 12.5] for ax in fig.axes for l in ax.get_lines())

def test_a_server_csv_without_model_file_is_plotted(real, tmp_path):
  """An OpenAI-compatible server does not say which GGUF it serves: no bits per weight, yet every plot draws."""
  data = only(real, tmp_path / "data", "llamacpp.csv")
  rows = list(csv.DictReader(open(data / "llamacpp.csv", newline="")))
  with open(data / "llamacpp_server.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows({**r, "backend": "llamacpp_server", "bits_per_weight": "", "model_type": ""} for r in rows)
  assert len(draw_all(data, tmp_path / "out")) == 8
  loaded = load(data)
  fig = plots.quantization_impact(loaded, summarize(loaded))
  assert "Not drawn (model file unknown, so no bits per weight): llamacpp_server" in texts(fig)

def test_device_comparison_groups_each_configuration_across_devices(real, tmp_path):
  """A configuration run on the CPU and on a GPU is one group of bars, the threads (which follow the host) go to the
  caption, and no legend covers a bar."""
  data = only(real, tmp_path / "data", "llamacpp.csv", "tinygrad.csv")
  for name in ("llamacpp.csv", "tinygrad.csv"):
    rows = list(csv.DictReader(open(data / name, newline="")))
    gpu = [{**r, "device": "cuda", "device_name": "Test GPU", "threads": "16",
            "tokens_per_sec": str(10 * float(r["tokens_per_sec"])),
            "total_latency_ms": str(float(r["total_latency_ms"]) / 10)} for r in rows]
    with open(data / name, "w", newline="") as f:
      w = csv.DictWriter(f, fieldnames=list(rows[0]))
      w.writeheader()
      w.writerows(rows + gpu)
  loaded = load(data)
  summary = summarize(loaded)
  fig = plots.device_comparison(loaded, summary)
  decode = fig.axes[0]
  configs = {(r["backend"], r["size"], r["quantize"]) for r in summary if r["phase"] == "decode"}
  assert len(decode.get_xticks()) == len(configs)  # one group per configuration, not per device
  assert all("threads" not in t.get_text() for t in decode.get_xticklabels())
  assert "Threads: " in texts(fig) and "threads=16" in texts(fig)
  fig.canvas.draw()
  for ax in fig.axes[:2]:
    legend = ax.get_legend().get_window_extent()
    assert not any(legend.overlaps(bar.get_window_extent()) for bar in ax.patches if bar.get_height() > 0)
    ticks = [t.get_window_extent() for t in ax.get_xticklabels()]
    assert not any(a.overlaps(b) for a, b in zip(ticks, ticks[1:]))
