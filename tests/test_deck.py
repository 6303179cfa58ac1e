"""build_presentation.py: presentation.typ compiles offline into a 16:9 PDF that tells the story (one finding per slide,
its title a sentence with its number, one chart; only the slides whose data exists), then the appendix with the eight
plots and full tables; its sentences are computed from the CSVs, and its pages pass the checks a reader would make.
poppler (pdftotext, pdfimages) is part of the setup: without it these tests fail, they do not skip."""
import json, math, re, subprocess
from pathlib import Path
import pandas as pd
import pytest
from benchdata import only, real_csvs, script, server_csv
from inferbench.report import deck, plots
from inferbench.analyse.analysis import read_ratios
ROOT = Path(__file__).resolve().parent.parent

def pdf_pages(pdf) -> int: return int(re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", pdf], capture_output=True, text=True).stdout)[1])
def pdf_images(pdf) -> list[str]:
  out = subprocess.run(["pdfimages", "-list", pdf], capture_output=True, text=True).stdout.splitlines()[2:]
  return [l for l in out if l.split()[2] == "image"]  # not the PNGs' alpha masks
def pdf_text(pdf) -> str: return subprocess.run(["pdftotext", "-layout", pdf, "-"], capture_output=True, text=True).stdout

import shutil
@pytest.fixture(scope="module")
def real(tmp_path_factory, tiny_model): return real_csvs(tmp_path_factory.getbasetemp(), tiny_model)

def pipeline(data, tmp, *extra):
  """analysis, both plot scripts, then the deck, as the README runs them."""
  assert script("benchmark_analysis.py", "-d", str(data)).returncode == 0
  for s in ("generate_plots.py", "generate_additional_plots.py"): assert script(s, "-d", str(data), "-o", str(tmp / "plots")).returncode == 0
  r = script("build_presentation.py", "-d", str(data), "--plots", str(tmp / "plots"), "--docs", str(tmp / "docs"), "-o", str(tmp), *extra)
  assert r.returncode == 0, r.stderr
  return tmp / "presentation.pdf"

def flat(text: str) -> str: return " ".join(text.split())

def story_titles(docs: Path) -> list[str]: return [s["title"] for s in json.loads((docs / "deck_data.json").read_text())["story"]]

def test_deck_from_both_backends(real, tmp_path):
  data = only(real, tmp_path / "data", "llamacpp.csv", "tinygrad.csv")
  pdf = pipeline(data, tmp_path)
  images = sorted(p.name for p in (tmp_path / "docs/images").glob("*.png"))
  assert [i for i in images if not i.startswith("story_")] == sorted(f"{n}.png" for n in plots.FIGURES)
  assert {"story_answer.png", "story_backends.png", "story_roofline.png", "story_caveats.png"} <= set(images)
  text = flat(pdf_text(pdf))
  story, appendix = text.split(" Appendix ", 1)
  ratios = read_ratios(data / "ratios.csv")
  best = ratios[(ratios["kind"] == "backend") & (ratios["phase"] == "decode")].sort_values("ratio").iloc[-1]
  titles = story_titles(tmp_path / "docs")
  # the backends' slide: its title is the finding, with the ratio and its interval from ratios.csv
  assert any(t.startswith(f"llama.cpp decodes {best['ratio']:.2f}× faster than tinygrad on the same") for t in titles)  # 2 runs: no interval
  assert all(re.search(r"\d", t) for t in titles)  # every finding has its number
  assert "is the pick on" in titles[0] and f"{best['ratio']:.2f}×" in appendix  # the answer first; the findings again in full
  for title in ("What the story leaves out", "Serving under load: no server", "Provenance", "Speedups over tinygrad", "Setting effects",
                "Results: decode", "Results: prefill", "Throughput per backend"):
    assert title in appendix
  assert "0.3.36" in story and "0.13.0" in story  # backend versions on the title slide, from the CSVs
  assert "One commit" in story and "commit " not in text.split("Provenance")[0].replace("One commit", "")  # no footer of hashes
  assert "synthetic" in story and len(pdf_images(pdf)) >= 8 + len(titles)
  assert deck.layout_problems(pdf, json.loads((tmp_path / "docs/deck_data.json").read_text())) == []

def test_published_results_deck_reads_well(tmp_path):
  """docs/results (CPU and H100 sets): at most 12 story slides, each with its chart at full size, text at 14 pt or more
  inside the page, legends of at most 6 entries."""
  r = script("build_presentation.py", "-d", str(ROOT / "docs/results"), "--plots", str(ROOT / "docs/results/plots"), "--docs", str(tmp_path / "docs"),
             "-o", str(tmp_path))
  assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
  assert deck.layout_problems(tmp_path / "presentation.pdf", json.loads((tmp_path / "docs/deck_data.json").read_text())) == []
  text = flat(pdf_text(tmp_path / "presentation.pdf"))
  assert "of the measured memory bandwidth on" in text and "H200" in text and "J per decode token" in text
  assert "SmolLM2-135M-Instruct" in text and "Llama-3.2-1B-Instruct" in text and "Smollm2 135M" not in text  # registry names, not general.name
  commits = {c[:12] or "unknown" for cs in pd.read_csv(ROOT / "docs/results/summary.csv", keep_default_na=False)["git_commit"] for c in cs.split("; ")}
  assert f"Mixed code: {len(commits)} commits" in text.split(" Appendix ")[0] and "flash attention on" in text and "flash_attn=" not in text

def test_layout_check_fails_where_a_reader_would_trip(tmp_path):
  """The check itself can fail: story text under 14 pt, a story slide without a chart, a chart shown smaller than
  drawn, text off the page, and, from the charts as drawn, a legend of 7 entries and a 10 pt label."""
  from inferbench.report import story
  png = tmp_path / "chart.png"
  fig, ax = story.plt.subplots(figsize=(2, 1))
  fig.savefig(png, dpi=story.DPI)
  typ = tmp_path / "bad.typ"
  typ.write_text('#set page(paper: "presentation-16-9")\n#set text(font: "DejaVu Sans", size: 14pt)\nTitle slide\n#pagebreak()\n#text(size: 10pt)[tiny words]\n'
                 f'#image("chart.png", width: 1in)\n#pagebreak()\nno chart here\n#place(dx: 26cm)[Supercalifragilisticexpialidocious]\n'
                 '#pagebreak()\n#align(center + horizon)[Appendix]\n')
  import typst
  (tmp_path / "bad.pdf").write_bytes(typst.compile(str(typ), root=str(tmp_path)))
  with story.plt.rc_context(story.STYLE):
    fig, ax = story.plt.subplots()
    for i in range(7): ax.plot([0, 1], [i, i], label=f"line {i}")
    ax.legend()
    ax.annotate("small", (0, 0), fontsize=10)
  data = {"story": [{"image": "x.png", "problems": story.legibility(fig, story.FONT_PT)}]}
  problems = " ".join(deck.layout_problems(tmp_path / "bad.pdf", data))
  assert "'tiny' is set in 10.0 pt, under 14 pt" in problems and "page 3: a story slide without a chart" in problems
  assert "page 2: its chart is shown at 50% of its size" in problems and "page 3: 'Superca' runs outside the page" in problems
  assert "x.png: text 'small' at 10 pt (under 14 pt)" in problems and "a legend of 7 entries (at most 6)" in problems

def test_a_slide_without_data_is_left_out_and_said_once(real, tmp_path):
  """One backend, no sweep, no serving: the backends' slide and the others without data leave the story, and the
  appendix names each once, with why."""
  data = only(real, tmp_path / "data", "llamacpp.csv")
  pdf = pipeline(data, tmp_path)
  left = {l["topic"]: l["why"] for l in json.loads((tmp_path / "docs/deck_data.json").read_text())["left_out"]}
  assert left["Backends on matched files"] == "no model file was measured on two backends with every other setting equal"
  assert {"Serving under load", "Memory and the OOM boundary", "Scaling with length, context and batch"} <= set(left)
  story, appendix = flat(pdf_text(pdf)).split(" Appendix ", 1)
  assert "faster than" not in story and appendix.count("Backends on matched files:") == 1
  assert deck.layout_problems(pdf) == []

def test_deck_reads_what_the_analysis_wrote(real, tmp_path):
  """The deck computes nothing: a value changed in summary.csv is the value the slides show."""
  data = only(real, tmp_path / "data", "llamacpp.csv")
  pipeline(data, tmp_path)
  summary = pd.read_csv(data / "summary.csv", dtype=str, keep_default_na=False)
  summary.loc[0, "tok_s_median"] = "4242.0"
  summary.to_csv(data / "summary.csv", index=False)
  r = script("build_presentation.py", "-d", str(data), "--plots", str(tmp_path / "plots"), "--docs", str(tmp_path / "docs"), "-o", str(tmp_path))
  assert r.returncode == 0, r.stderr
  assert "4242" in pdf_text(tmp_path / "presentation.pdf")

def test_deck_builds_with_a_serving_csv(real, tmp_path):
  """A server's CSV has no model file (no bits per weight, no parameters): the deck still builds, with its rows."""
  data = only(real, tmp_path / "data", "llamacpp.csv")
  server_csv(data, n_params="", model_bytes="", model_sha256="", mode="endpoint", concurrency="4")
  pipeline(data, tmp_path)
  text = pdf_text(tmp_path / "presentation.pdf")
  assert "llamacpp_server" in text and "concurrency 4" in " ".join(text.split())

def test_deck_with_one_backend_and_a_sweep(real, tmp_path):
  data = only(real, tmp_path / "data", "llamacpp.csv")
  (data / "sweep_tiny.csv").write_text("quant,bits_per_weight,decode_tok_s,prefill_tok_s,perplexity,kl_mean,kl_p99,top1_agreement,"
                                       "task_accuracy,task_accuracy_ci95_low,task_accuracy_ci95_high,task_diff_vs_f16,task_diff_ci95_low,"
                                       "task_diff_ci95_high,task_verdict,status\nQ8_0,8.5,640.5,12000,12.25,0.01,0.05,0.98,0.5,0.42,0.58,-0.03,-0.07,0.01,"
                                       "no detectable drop,ok\nQ2_K,2.9,,,nan,,,,,,,,,,,failed: oom\n")
  pipeline(data, tmp_path)  # no pareto plot yet: a sweep slide with the table only
  pdf = tmp_path / "presentation.pdf"
  text = flat(pdf_text(pdf))
  pages = pdf_pages(pdf)
  assert "Quantization sweep (sweep_tiny.csv)" in text and "641" in text and "12.25" in text and "failed: oom" in text and "filter" not in text
  assert "50 [42–58] %" in text and "-3 [-7–1] pt" in text  # the accuracy's interval and the paired verdict
  assert "no data for tinygrad, MLX, PyTorch, MLC-LLM" in text and "no GPU runs: CPU only" in text
  shutil.copyfile(tmp_path / "plots" / "backend_comparison.png", tmp_path / "plots" / "quantization_pareto.png")
  pipeline(data, tmp_path)  # and with it, the appendix shows the sweep's plot
  assert "The quantization sweep: speed against quality" in flat(pdf_text(pdf)).split(" Appendix ", 1)[1] and pdf_pages(pdf) == pages + 1
  assert deck.layout_problems(pdf) == []

def test_missing_plots_or_summary_is_a_clear_error(real, tmp_path):
  data = only(real, tmp_path / "data", "llamacpp.csv")
  r = script("build_presentation.py", "-d", str(data), "--plots", str(tmp_path / "plots"), "--docs", str(tmp_path / "docs"), "-o", str(tmp_path))
  assert r.returncode == 2 and "run `python benchmark_analysis.py -d" in r.stderr
  assert script("benchmark_analysis.py", "-d", str(data)).returncode == 0
  r = script("build_presentation.py", "-d", str(data), "--plots", str(tmp_path / "plots"), "--docs", str(tmp_path / "docs"), "-o", str(tmp_path))
  assert r.returncode == 2 and "run generate_plots.py" in r.stderr and not (tmp_path / "presentation.pdf").exists()

def test_setup_keeps_two_machines_with_one_hostname_apart():
  """A lent GPU machine and this VM are both called "vm": the setup slide still shows one row per machine."""
  cpu = {"backend": "llamacpp", "phase": "decode", "size": "1B", "quantize": "default", "weights": "real", "device": "cpu",
         "bits_per_weight": "16.0", "model_type": "F16", "n_decode_steps": "128", "hostname": "vm", "platform": "Linux-a", "release": "6.1", "cpu_model": "Xeon A", "python": "3.11.7",
         "device_name": "Xeon A", "backend_version": "0.3.36", "versions": "{}", "model_name": "m", "n_params": "1", "model_bytes": "2",
         "n_runs": 3, "count": 30, "n_prompt_tokens": "37", "threads": "2", "git_commit": "abc", "first_started_at": "2026-11-22T18:00",
         "last_started_at": "2026-11-22T19:00"}
  gpu = {**cpu, "platform": "Linux-b", "cpu_model": "Xeon B", "python": "3.12.3", "device": "cuda", "device_name": "H100"}
  hosts = deck.setup(pd.DataFrame([cpu, gpu]))["hosts"]
  assert [(h["hostname"], h["cpu_model"], h["devices"], h["python"]) for h in hosts] == [
    ("vm", "Xeon A", "cpu: Xeon A", "3.11.7"), ("vm", "Xeon B", "cuda: H100", "3.12.3")]

def test_split_mode_rows_make_a_slide_of_decode_rate_by_gpus_per_mode(tmp_path):
  from benchdata import made_up_results
  from inferbench.analyse import analysis
  from inferbench.report import story
  gpu = {"device": "cuda", "device_name": "NVIDIA H200", "size": "8B", "model_sha256": "same", "quantize": "F16", "model_type": "F16"}
  ms = {("layer", 1): 20.0, ("layer", 2): 12.0, ("layer", 4): 8.0, ("row", 1): 20.0, ("row", 2): 14.0, ("row", 4): 11.0}
  folder = made_up_results(tmp_path / "splits", [{**gpu, "knobs": f"flash_attn=off split_mode={m} gpus={g}", "ms": v} for (m, g), v in ms.items()], n_runs=5)
  e = story.Evidence(analysis.read_summary(folder / "summary.csv"), pd.DataFrame(), folder)
  with story.plt.rc_context(story.STYLE): slide = story.splits(e, tmp_path / "deck")  # as tell() draws it
  assert isinstance(slide, story.Slide) and (tmp_path / "deck" / slide.image).is_file() and not slide.problems, slide
  assert slide.title.startswith("llama.cpp") and "split by layer over 4 GPUs: 12" in slide.title, slide.title
  plain = made_up_results(tmp_path / "plain", [{"ms": 10.0}])
  assert story.splits(story.Evidence(analysis.read_summary(plain / "summary.csv"), pd.DataFrame(), plain), tmp_path / "deck2").startswith("no configuration was split")

@pytest.mark.parametrize("low, high, alike", [(0.823, 1.26, True), (1.34, 2.27, False), (0.41, 0.88, False), (math.nan, math.nan, False)])
def test_a_ratio_whose_interval_holds_1_is_within_noise(low, high, alike):
  """A ratio whose 95% interval holds 1 is within noise, and its slide's title says so instead of "faster"; one without
  an interval (fewer than 3 runs) is not called within noise: its title gives the bare ratio."""
  from inferbench.report import story
  assert story.within_noise({"ratio": 1.12, "ratio_ci95_low": low, "ratio_ci95_high": high}) is alike
