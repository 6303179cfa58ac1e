"""Energy per run (measure/energy.py): NVML's and RAPL's counters read through the worker's code path (NVML by a
stand-in module, as no GPU exists here; RAPL from a stand-in sysfs folder), "not measured" and never 0 without them,
and the columns through collate, the analysis, the plot, the deck's data and the recommender."""
import math, sys, time
from types import SimpleNamespace
import numpy as np
import pandas as pd
import pytest
from benchdata import made_up_results
from inferbench.measure import energy

class FakeNvml(SimpleNamespace):
  """pynvml's calls energy.Nvml makes: each GPU's counter in mJ climbs `mj` per read."""
  def __init__(self, n: int = 2, mj: int = 1000, supported: bool = True):
    reads = [0] * n
    def total(h):
      if not supported: raise RuntimeError("Not Supported")
      reads[h] += mj
      return 5_000_000 + reads[h]  # since the driver loaded: only differences mean anything
    super().__init__(nvmlInit=lambda: None, nvmlShutdown=lambda: None, nvmlDeviceGetCount=lambda: n,
                     nvmlDeviceGetHandleByIndex=lambda i: i, nvmlDeviceGetName=lambda h: "NVIDIA H200",
                     nvmlDeviceGetTotalEnergyConsumption=total)

def test_nvml_joules_per_run_and_decode(monkeypatch, tmp_path):
  monkeypatch.setitem(sys.modules, "pynvml", FakeNvml())
  monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
  m = energy.Meter("cuda", rapl_root=tmp_path)
  h = m.header()
  assert h["energy_gpu"] == "NVML nvmlDeviceGetTotalEnergyConsumption, 2 GPU(s): NVIDIA H200, NVIDIA H200"
  assert h["energy_cpu"].startswith("not measured: ") and "RAPL" in h["energy_cpu"]
  start, after_prefill, end = m.mark(), m.mark(), m.mark()  # each read: +1 J on each of the 2 GPUs
  t = m.totals(start, after_prefill, end)
  assert t["gpu_energy_j"] == 4.0 and t["gpu_decode_energy_j"] == 2.0 and "cpu_energy_j" not in t
  assert 0 <= t["decode_energy_s"] <= t["energy_s"]
  m.close()

def test_nvml_counts_only_the_visible_gpus(monkeypatch, tmp_path):
  monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(n=4))
  monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")
  m = energy.Meter("cuda", rapl_root=tmp_path)
  assert "1 GPU(s)" in m.header()["energy_gpu"]
  a, b = m.mark(), m.mark()
  assert m.totals(a, a, b)["gpu_energy_j"] == 1.0
  assert energy.visible("0,1", 4) == [0, 1] and energy.visible("GPU-abc", 4) == [0, 1, 2, 3] and energy.visible("7", 2) == []

def test_a_gpu_without_the_counter_is_not_measured(monkeypatch, tmp_path):
  monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(supported=False))
  m = energy.Meter("cuda", rapl_root=tmp_path)
  assert m.header()["energy_gpu"] == "not measured: RuntimeError: Not Supported"
  assert m.totals(m.mark(), m.mark(), m.mark()) == {}  # no value, never 0

def test_no_gpu_energy_on_a_cpu_run(monkeypatch, tmp_path):
  monkeypatch.setitem(sys.modules, "pynvml", FakeNvml())
  assert energy.Meter("cpu", rapl_root=tmp_path).header()["energy_gpu"] == "not measured: --device cpu"

def rapl(root, uj: int, span: int = 2**32):
  z = root / "intel-rapl:0"
  (z / "intel-rapl:0:0").mkdir(parents=True, exist_ok=True)  # a sub-zone (core): inside the package's count already
  (z / "name").write_text("package-0\n")
  (z / "max_energy_range_uj").write_text(f"{span}\n")
  (z / "energy_uj").write_text(f"{uj}\n")
  (z / "intel-rapl:0:0" / "energy_uj").write_text("999999999\n")

def test_rapl_package_energy_wraps(tmp_path):
  rapl(tmp_path, 1000, span=10_000_000)
  m = energy.Meter("cpu", rapl_root=tmp_path)
  assert m.header()["energy_cpu"] == "RAPL energy_uj, 1 zone(s): package-0"
  start = m.mark()
  rapl(tmp_path, 2_001_000, span=10_000_000)
  mid = m.mark()
  rapl(tmp_path, 500_000, span=10_000_000)  # wrapped: 10 J - 2.001 J, the step from 10 J to 0, then 0.5 J
  t = m.totals(start, mid, m.mark())
  assert t["cpu_decode_energy_j"] == pytest.approx(8.499001) and t["cpu_energy_j"] == pytest.approx(10.499001)

def test_unreadable_rapl_is_not_measured(tmp_path, monkeypatch):
  rapl(tmp_path, 5)
  def refused(path): raise PermissionError(13, "Permission denied", str(path))  # root-only, as on most kernels since 2020 (this runs as root)
  monkeypatch.setattr(energy.Rapl, "_uj", staticmethod(refused))
  m = energy.Meter("cpu", rapl_root=tmp_path)
  assert m.header()["energy_cpu"].startswith("not measured: PermissionError") and m.totals(m.mark(), m.mark(), m.mark()) == {}

@pytest.fixture(scope="module")
def measured(tiny_model, tmp_path_factory):
  """The real worker on the tiny model, once with a RAPL stand-in whose counter climbs at 10 W of the mark's clock and once
  with none (this machine), then collate and the analysis."""
  from inferbench.core.config import RunConfig
  from inferbench.measure import worker
  from inferbench.store import collate
  from inferbench.store.rawlog import LogWriter
  from inferbench.analyse import analysis
  out, sysfs = tmp_path_factory.mktemp("energy"), tmp_path_factory.mktemp("sysfs")
  rapl(sysfs, 0)
  clock = [0.0]  # the counter reads the time its mark just read: a preemption between the two reads cannot skew the 10 W
  mp = pytest.MonkeyPatch()
  try:
    for i, counters in enumerate((True, False)):
      mp.setattr(energy, "RAPL", sysfs if counters else sysfs / "none")
      mp.setattr(energy, "time", SimpleNamespace(perf_counter=lambda: clock.__setitem__(0, time.perf_counter()) or clock[0]))
      mp.setattr(energy.Rapl, "_uj", staticmethod(lambda path: int(clock[0] * 1e7)))  # 1 uJ per 100 ns of the mark's own clock reading: 10 W
      cfg = RunConfig(backend="llamacpp", model=str(tiny_model), size="tiny", quantize="default", threads=1, n_tokens=8, runs=3, warmup=0, min_seconds=0,
                      ctx=128 + 64 * i, uuid=f"e{i}", prompt_ids=[1, 2, 3, 4])  # two contexts: two configurations
      log = LogWriter(out / f"llamacpp_e{i}.txt")
      worker.run(cfg, log)
      log.close("ok")
  finally: mp.undo()
  collate.collate("llamacpp", out)
  runs, summary, _ = analysis.analyse(analysis.load(out))
  return out, runs, summary

def test_worker_logs_energy_and_the_summary_pools_it(measured):
  out, runs, summary = measured
  from inferbench.store.rawlog import parse
  with_rapl, without = parse(out / "llamacpp_e0.txt"), parse(out / "llamacpp_e1.txt")
  assert with_rapl.header["energy_cpu"] == "RAPL energy_uj, 1 zone(s): package-0" and with_rapl.header["energy_gpu"] == "not measured: --device cpu"
  assert all(r["cpu_decode_energy_j"] == pytest.approx(10 * r["decode_energy_s"], rel=1e-3) for r in with_rapl.runs)
  assert without.header["energy_cpu"].startswith("not measured") and not any("cpu_energy_j" in r for r in without.runs)
  d = summary[summary["phase"] == "decode"].set_index("ctx").rename({"128": "0", "192": "1"})
  assert d.loc["0", "energy_measured"] == "cpu" and d.loc["0", "energy_runs"] == 3
  assert d.loc["0", "watts_mean"] == pytest.approx(10, rel=1e-3)
  r = runs[runs["ctx"] == "128"]
  assert d.loc["0", "j_per_token"] == pytest.approx(r["decode_energy_j"].sum() / (8 * 3))
  assert d.loc["0", "j_per_token_ci95_low"] <= d.loc["0", "j_per_token"] <= d.loc["0", "j_per_token_ci95_high"]
  assert d.loc["1", "energy_measured"] == "not measured" and math.isnan(d.loc["1", "j_per_token"])  # never 0
  assert runs[runs["ctx"] == "192"]["j_per_token"].isna().all()

def test_the_table_plot_and_deck_show_it(measured, tmp_path):
  out, runs, summary = measured
  from inferbench.analyse import analysis
  from inferbench.report import deck, plots
  text = analysis.table(summary)
  assert "J/token" in text and "(cpu)" in text and "not measured" in text
  assert "J/token" not in analysis.table(summary[summary["ctx"] == "192"])  # a machine without counters: the table it had
  analysis.write(tmp_path, runs, summary, pd.DataFrame(columns=analysis.RATIO_COLUMNS))
  res = plots.read(tmp_path)
  assert [p.name for p in plots.draw_energy(res, tmp_path)] == ["energy_per_token.png"]
  assert plots.draw_energy(plots.Results(summary[summary["ctx"] == "192"], runs, res.ratios, tmp_path), tmp_path / "none") == []
  e = deck.energy(res.summary)
  assert len(e["rows"]) == 1 and e["rows"][0]["counters"] == "cpu" and e["not_measured"] == 1 and "cpu counters" in e["note"]

def test_recommender_energy_objective_and_max_watts(tmp_path):
  from inferbench.decide import recommend
  from inferbench.decide.recommend import Constraints
  # a fast hungry GPU, a slow frugal one, and a CPU without counters
  configs = [dict(device="cuda", device_name="g", model_sha256="a", ms=2.0, watts=400.0), dict(device="cuda", device_name="g", model_sha256="b", ms=8.0, watts=60.0,
              quantize="Q4_K_M", model_type="Q4_K_M"), dict(ms=20.0, quantize="F16", model_type="F16", model_sha256="c")]
  folder = made_up_results(tmp_path / "r", configs)
  t = recommend.answer(folder, Constraints(objective="energy")).table
  assert list(t["quantize"]) == ["Q4_K_M", "Q8_0", "F16"]  # 0.48 J/token, 0.8 J/token, not measured last
  assert t["j_per_token"].iloc[:2].tolist() == pytest.approx([0.48, 0.8], rel=0.05) and math.isnan(t["j_per_token"].iloc[2])
  a = recommend.answer(folder, Constraints(max_watts=100))
  assert list(a.table["quantize"]) == ["Q4_K_M"]  # unknown power is not within a limit
  assert set(a.candidates.loc[a.candidates["excluded_by"] != "", "quantize"]) == {"Q8_0", "F16"}
  assert np.isfinite(a.table["watts_mean"]).all() and a.table["watts_mean"].iloc[0] == pytest.approx(60, rel=0.05)

def test_recommend_flags(tmp_path, capsys):
  from inferbench.decide import recommend
  folder = made_up_results(tmp_path / "r", [dict(ms=20.0)])
  args = recommend.parser().parse_args(["-d", str(folder), "--objective", "energy", "--plot", str(tmp_path / "p.png")])
  code, a, given = recommend.respond(args)
  assert code == 0 and "objective=energy" in given and "no candidate has its energy measured" in capsys.readouterr().err
  with pytest.raises(SystemExit): recommend.parser().parse_args(["--max-watts", "0"])

def test_log_header_names_the_code(measured, tmp_path):
  """tree_sha256: the code's files by a fixed rule, so a copied tree without git (a GPU machine's) names its code."""
  from inferbench.core import metadata
  from inferbench.store.rawlog import parse
  out, runs, _ = measured
  assert parse(out / "llamacpp_e0.txt").header["tree_sha256"] == metadata.tree_hash()[0] and set(runs["tree_sha256"]) == {metadata.tree_hash()[0]}
  for rel in ("inferbench/core/x.py", "docs/notes.md", "deps/setup.sh"): (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
  (tmp_path / "inferbench/core/x.py").write_text("a = 1\n")
  (tmp_path / "deps/setup.sh").write_text("echo\n")
  first = metadata.tree_hash.__wrapped__(tmp_path)
  (tmp_path / "docs/notes.md").write_text("results and docs make no number\n")
  assert metadata.tree_hash.__wrapped__(tmp_path) == first and first[1] == 2
  (tmp_path / "inferbench/core/x.py").write_text("a = 2\n")
  assert metadata.tree_hash.__wrapped__(tmp_path)[0] != first[0]
