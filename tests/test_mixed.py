"""The README's own workflow in one folder (benchmark CSVs, a quantization sweep's sweep_135M.csv and an endpoint
benchmark's CSV): the analysis, the recommender and the deck all read it. A served model names no file, so its rows
have no model bytes: nothing may be predicted from them, and an internal error must not pass for bad input."""
import json, shutil, subprocess, sys
import pandas as pd
import pytest
from benchdata import ROOT, mixed_folder, script
from inferbench.analyse import analysis
from inferbench.decide import recommend
from inferbench.decide.recommend import Constraints
from inferbench.run import verify

@pytest.fixture(scope="module")
def mixed(tmp_path_factory, tiny_model): return mixed_folder(tmp_path_factory.getbasetemp(), tiny_model)

def test_analysis_reads_the_benchmarks_and_leaves_the_sweep(mixed):
  data = analysis.load(mixed)
  assert [f.name for f in data.files] == ["llamacpp.csv", "llamacpp_server.csv"]  # sweep_135M.csv is the sweep's own table
  s = analysis.read_summary(mixed / "summary.csv")
  assert {"llamacpp", "llamacpp_server"} <= set(s["backend"]) and s["tok_s_median"].gt(0).all()
  server = s[s["backend"] == "llamacpp_server"]
  assert (server["size"] == "135M").all() and (server["model_bytes"] == "").all()  # the case below: a 135M row without a file

def test_recommender_answers_on_the_mixed_folder(mixed, tmp_path):
  r = subprocess.run([sys.executable, "recommend.py", "-d", str(mixed), "--max-memory", "1GiB", "--device", "cpu", "-o", str(tmp_path),
                      "--plot", str(tmp_path / "p.png")], cwd=ROOT, capture_output=True, text=True)
  assert r.returncode == 0 and not r.stderr, r.stderr
  rec = pd.read_csv(tmp_path / "recommendation.csv")
  assert len(rec) and (rec["memory_bytes"] <= 2**30).all() and (rec["device"] == "cpu").all()
  c = recommend.answer(mixed).candidates
  assert "llamacpp_server" in set(c["backend"])  # measured, a candidate like any other
  assert c.loc[c["source"] == "predicted", "backend"].ne("llamacpp_server").all()  # but no file to predict others from

def test_an_internal_error_is_not_bad_input(mixed, tmp_path, monkeypatch):
  def bug(*a, **k): raise ValueError("could not convert string to float: ''")
  monkeypatch.setattr(recommend, "candidates", bug)
  with pytest.raises(ValueError, match="could not convert"):
    verify.main(["-d", str(mixed), "--max-memory", "1GiB", "-o", str(tmp_path), "--plot", str(tmp_path / "p.png")])

def test_a_quality_file_that_is_no_sweep_is_one_line(mixed, tmp_path):
  r = subprocess.run([sys.executable, "recommend.py", "-d", str(mixed), "--quality", str(mixed / "llamacpp_server.csv"), "-o", str(tmp_path),
                      "--plot", str(tmp_path / "p.png")], cwd=ROOT, capture_output=True, text=True)
  assert r.returncode == 2 and "not a sweep CSV (no column" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
  assert recommend.answer(mixed, Constraints(device="cpu")).table.size  # the folder's own sweep still reads

@pytest.mark.skipif(not shutil.which("pdftotext"), reason="needs poppler-utils")
def test_deck_builds_with_an_answer(mixed, tmp_path):
  data = tmp_path / "data"
  shutil.copytree(mixed, data)
  for s in ("generate_plots.py", "generate_additional_plots.py"): assert script(s, "-d", str(data), "-o", str(tmp_path / "plots")).returncode == 0
  r = script("build_presentation.py", "-d", str(data), "--plots", str(tmp_path / "plots"), "--docs", str(tmp_path / "docs"), "-o", str(tmp_path))
  assert r.returncode == 0, r.stderr
  answer = json.loads((tmp_path / "docs" / "deck_data.json").read_text())["answer"]
  assert answer["rows"] and not answer["by"].startswith("no answer"), answer  # the recommender's pick, not its error
  text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "presentation.pdf"), "-"], capture_output=True, text=True).stdout
  assert "llamacpp_server" in text and answer["rows"][0]["tok_s"] in text
