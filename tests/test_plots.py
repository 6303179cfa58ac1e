"""generate_plots.py and generate_additional_plots.py: eight PNGs from the analysis's files of real runs, byte-identical
when redrawn, and what a plot must say (decode and prefill apart, missing backends, synthetic weights, the roofline
when known)."""
import csv
import pytest
from matplotlib.text import Text
from benchdata import only, real_csvs, script, server_csv
from inferbench.report import plots
from inferbench.core.names import device_words

PNG = b"\x89PNG\r\n\x1a\n"

@pytest.fixture(scope="module")
def real(tmp_path_factory, tiny_model): return real_csvs(tmp_path_factory.getbasetemp(), tiny_model)

def analysed(folder):
  r = script("benchmark_analysis.py", "-d", str(folder))
  assert r.returncode == 0, r.stderr
  return plots.read(folder)

def draw_all(data, out):
  analysed(data)
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
  fig = plots.speedup_comparison(plots.read(tmp_path / "data"), baseline="tinygrad")
  assert "baseline tinygrad has no data" in texts(fig) and "No data: tinygrad, MLX, PyTorch, MLC-LLM" in texts(fig)
  r = script("generate_plots.py", "-d", str(tmp_path / "empty"), "-o", str(tmp_path / "x"))
  assert r.returncode == 2 and "run `python benchmark_analysis.py" in r.stderr

def test_every_figure_says_what_it_shows(real, tmp_path):
  res = analysed(only(real, tmp_path / "data", "llamacpp.csv", "tinygrad.csv"))
  r0 = res.summary.iloc[0]
  for name, figure in plots.FIGURES.items():
    t = texts(figure(res, baseline="tinygrad"))
    assert "decode" in t and "prefill" in t, name
    assert "tiny-llama (tiny, synthetic weights" in t, name  # model, size, weights
    assert f"on {r0['hostname']}: cpu = {device_words(r0['device_name'])}" in t, name
    assert "2–2 runs per configuration" in t and "No data: MLX, PyTorch, MLC-LLM" in t, name
    assert "median" in t or "p50" in t, name
  speed = texts(plots.speedup_comparison(res, baseline="tinygrad"))
  assert "llama.cpp flash attention off vs tinygrad untuned, JIT" in speed and "No tinygrad run matches: llama.cpp" in speed
  # bars are run medians from summary.csv, the dots each run from runs.csv
  fig = plots.backend_comparison(res)
  heights = sorted(round(p.get_height(), 6) for p in fig.axes[0].patches if p.get_height() > 0)
  assert heights == sorted(round(v, 6) for v in res.summary.query("phase == 'decode'")["tok_s_median"])

def test_roofline_drawn_only_when_measured(real, tmp_path):
  with open(real / "tinygrad.csv", newline="") as f: rows = list(csv.DictReader(f))
  def with_bandwidth(folder, gb_s: str):
    folder.mkdir()
    with open(folder / "tinygrad.csv", "w", newline="") as f:
      w = csv.DictWriter(f, fieldnames=list(dict.fromkeys([*rows[0], "roofline_gb_s"])))
      w.writeheader()
      w.writerows({**r, "roofline_gb_s": gb_s} for r in rows)
    return analysed(folder)
  res = with_bandwidth(tmp_path / "unmeasured", "")
  assert "no roofline drawn" in texts(plots.memory_throughput(res))
  res = with_bandwidth(tmp_path / "measured", "12.5")
  fig = plots.memory_throughput(res)
  assert f"measured bandwidth {res.summary.at[0, 'hostname']} cpu: 12.5 GB/s" in texts(fig)
  assert any(list(l.get_ydata()) == [12.5, 12.5] for ax in fig.axes for l in ax.get_lines())

def test_a_server_csv_without_model_file_is_plotted(real, tmp_path):
  """An OpenAI-compatible server does not say which GGUF it serves: no bits per weight, yet every plot draws."""
  data = only(real, tmp_path / "data", "llamacpp.csv")
  server_csv(data)
  assert len(draw_all(data, tmp_path / "out")) == 8
  fig = plots.quantization_impact(plots.read(data))
  assert "Not drawn (model file unknown, so no bits per weight): llamacpp_server" in texts(fig)

def test_device_comparison_groups_each_configuration_across_devices(real, tmp_path):
  """A configuration run on the CPU and on a GPU is one group of bars, the threads (which follow the host) go with the
  device in the legend, and no legend covers a bar."""
  data = only(real, tmp_path / "data", "llamacpp.csv", "tinygrad.csv")
  for name in ("llamacpp.csv", "tinygrad.csv"):
    rows = list(csv.DictReader(open(data / name, newline="")))
    gpu = [{**r, "device": "cuda", "device_name": "Test GPU", "threads": "16", "uuid": r["uuid"] + "g", "log_file": "gpu_" + r["log_file"],
            "tokens_per_sec": str(10 * float(r["tokens_per_sec"])),
            "total_latency_ms": str(float(r["total_latency_ms"]) / 10)} for r in rows]
    with open(data / name, "w", newline="") as f:
      w = csv.DictWriter(f, fieldnames=list(rows[0]))
      w.writeheader()
      w.writerows(rows + gpu)
  res = analysed(data)
  fig = plots.device_comparison(res)
  decode = fig.axes[0]
  s = res.summary[res.summary["phase"] == "decode"]
  assert len(decode.get_xticks()) == len(s[["backend", "quantize"]].drop_duplicates())  # one group per configuration, not per device
  assert all("threads" not in t.get_text() for t in decode.get_xticklabels())
  assert "cuda, 16 threads" in texts(fig) and "cpu, 1 thread" in texts(fig)
  fig.canvas.draw()
  for ax in fig.axes[:2]:
    legend = ax.get_legend().get_window_extent()
    assert not any(legend.overlaps(bar.get_window_extent()) for bar in ax.patches if bar.get_height() > 0)
    ticks = [t.get_window_extent() for t in ax.get_xticklabels()]
    assert not any(a.overlaps(b) for a, b in zip(ticks, ticks[1:]))

def test_settings_are_spelled_in_words():
  """One naming function: a log's knobs line becomes the words every table, plot and slide shows."""
  from inferbench.core.names import knob_words
  from inferbench.analyse.analysis import label
  import pandas as pd
  assert knob_words("beam=0 jit=1") == "untuned, JIT" and knob_words("dtype=float32 pipeline=on") == "float32, pipelined"
  assert knob_words("flash_attn=on") == "flash attention on" and knob_words("flash_attn=0") == "flash attention off"
  assert knob_words("attn=sdpa dtype=float32 torch_mode=compile") == "SDPA attention, float32, compiled" and knob_words("new_knob=3") == "new knob 3"
  rows = pd.DataFrame({"backend": ["mlx", "tinygrad"], "knobs": ["dtype=float32 pipeline=on", "beam=0 jit=1"], "threads": ["2", "2"]})
  assert label(rows).tolist() == ["MLX, float32, pipelined", "tinygrad, untuned, JIT"]

def test_crowded_bars_label_themselves_and_keep_the_legend_short():
  fig, ax = plots.plt.subplots()
  plots.bars(ax, [plots.Bar("x", f"setting {i}", "llamacpp" if i < 4 else "tinygrad", 10.0 + i) for i in range(8)], "tok/s")
  assert [t.get_text() for t in ax.get_legend().get_texts()] == ["llama.cpp", "tinygrad"]
  assert {f"setting {i}" for i in range(8)} <= {t.get_text() for t in ax.texts}
  fig, ax = plots.plt.subplots()
  plots.bars(ax, [plots.Bar("x", f"setting {i}", "llamacpp", 10.0 + i) for i in range(3)], "tok/s")
  assert [t.get_text() for t in ax.get_legend().get_texts()] == ["setting 0", "setting 1", "setting 2"]  # few: the legend says which

def test_every_figure_is_legible_on_its_own(real, tmp_path):
  """At 100% on a laptop screen: no text under 8 pt, no legend over 6 entries."""
  from inferbench.report import story
  res = analysed(only(real, tmp_path / "data", "llamacpp.csv", "tinygrad.csv"))
  for name, figure in plots.FIGURES.items(): assert story.legibility(figure(res, baseline="tinygrad"), 8, plots.LEGEND_MAX) == [], name
