"""Experiment files: validation, grid expansion, resume, the smoke experiment end to end; every axis on the command
line (prompt tokens, batch); the scaling tables on a hand-made summary."""
import json
from pathlib import Path
import pandas as pd
import pytest
import yaml
from inferbench.run import experiment, bench
from inferbench.store import rawlog
from inferbench.analyse import scaling

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--runs", "1", "--warmup", "0", "--min-seconds", "0", "--threads", "1"]

def write(path: Path, **keys) -> Path:
  path.write_text(yaml.safe_dump(keys))
  return path

def test_validation_errors_name_each_key_and_nothing_runs(tmp_path, capsys):
  bad = write(tmp_path / "bad.yaml", backends=["llamacpp", "vllm"], n_token=[4], n_tokens="many", quantize=["Q9_X"], ctx=[0, 64],
              output=str(tmp_path / "out"))
  with pytest.raises(experiment.ExperimentError) as e: experiment.load(bad)
  msg = str(e.value)
  assert "5 error(s)" in msg
  assert "backends.1: Input should be 'llamacpp', 'tinygrad', 'mlx' or 'torch' (got 'vllm')" in msg
  assert "n_token: unknown key (known: name, backends," in msg
  assert "n_tokens.0: Input should be a valid integer (got 'many')" in msg
  assert "quantize: unknown quantization 'Q9_X'" in msg
  assert "ctx: 0 is not >= 1" in msg
  assert experiment.main([str(bad)]) == 2
  assert "bad.yaml: 5 error(s)" in capsys.readouterr().err and not (tmp_path / "out").exists()

def test_a_file_that_is_not_a_mapping_or_not_yaml(tmp_path):
  (tmp_path / "list.yaml").write_text("- llamacpp\n")
  (tmp_path / "broken.yaml").write_text("backends: [llamacpp\n")
  with pytest.raises(experiment.ExperimentError, match="must be a mapping"): experiment.load(tmp_path / "list.yaml")
  with pytest.raises(experiment.ExperimentError, match="not valid YAML"): experiment.load(tmp_path / "broken.yaml")

def test_seed_grid_expands_to_its_18_configurations():
  configs = experiment.plan(experiment.load(ROOT / "experiments/seed_grid.yaml"))
  assert len(configs) == 3 * 3 * 2 == 18
  assert len({json.dumps(c.settings(), sort_keys=True) for c in configs}) == 18
  assert {c.n_tokens for c in configs} == {50, 100, 200} and {c.temperature for c in configs} == {0.3, 0.7}
  assert len({tuple(c.prompt_ids) for c in configs}) == 3 and {(c.runs, c.warmup) for c in configs} == {(3, 1)}

def test_a_plain_value_is_a_one_value_axis_and_combinations_multiply(tiny_model, tmp_path):
  exp = experiment.load(write(tmp_path / "e.yaml", backends="llamacpp", models=str(tiny_model), prompt_tokens=[8, 16, 24],
                              n_tokens=[2, 3], batch=[1, 2], temperature=0.5, output=str(tmp_path)))
  assert len(experiment.plan(exp)) == 3 * 2 * 2

def test_each_backends_own_settings_are_keys(tiny_model, tmp_path):
  exp = experiment.load(write(tmp_path / "e.yaml", backends=["torch", "llamacpp"], models=[str(tiny_model)], torch_mode=["eager", "compile"],
                              flash_attn="on", output=str(tmp_path)))
  knobs = sorted(json.dumps(c.knobs, sort_keys=True) for c in experiment.plan(exp))
  assert knobs == ['{"attn": "sdpa", "dtype": "", "torch_mode": "compile"}', '{"attn": "sdpa", "dtype": "", "torch_mode": "eager"}', '{"flash_attn": true}']
  with pytest.raises(experiment.ExperimentError, match=r"torch_mode.0: Input should be 'eager' or 'compile' \(got 'jit'\)"):
    experiment.load(write(tmp_path / "bad.yaml", backends="torch", torch_mode="jit"))

def tiny_experiment(tmp_path: Path, tiny_model: Path, **keys) -> Path:
  return write(tmp_path / "tiny.yaml", name="tiny", backends=["llamacpp"], models=[str(tiny_model)], prompt_tokens=[8], n_tokens=[3],
               ctx=[32], threads=[1], runs=1, warmup=0, min_seconds=0, output=str(tmp_path / "out"), **keys)

def sessions(out: Path) -> list[dict]:
  return [json.loads(p.read_text()) for p in sorted(out.glob("session_*.json"), key=lambda p: p.stat().st_mtime)]

def test_resume_skips_exactly_the_configurations_with_ok_logs(tiny_model, tmp_path):
  assert experiment.main([str(tiny_experiment(tmp_path, tiny_model, batch=[1, 2]))]) == 0
  out = tmp_path / "out"
  first = sorted(out.glob("*.txt"))
  assert len(first) == 2
  # one log of the two now says it failed: its configuration must run again, the other must not
  failed = next(p for p in first if rawlog.parse(p).header["batch"] == "2")
  failed.write_text(failed.read_text().replace("status: ok", "status: failed: made up by the test"))
  # and a third configuration joins the file
  assert experiment.main([str(tiny_experiment(tmp_path, tiny_model, batch=[1, 2, 3]))]) == 0
  rec = sessions(out)[-1]
  assert (rec["planned"], rec["skipped"], rec["ok"], rec["failed"]) == (3, 1, 2, 0)
  assert [c["batch"] for c in rec["configurations"] if c["status"].startswith("skipped")] == [1]
  logs = [rawlog.parse(p) for p in out.glob("*.txt")]
  assert sorted(l.header["batch"] for l in logs if l.ok) == ["1", "2", "3"]  # batch 1 was not run twice

def test_dry_run_prints_plan_and_estimate_and_runs_nothing(tiny_model, tmp_path, capsys):
  assert experiment.main([str(tiny_experiment(tmp_path, tiny_model, batch=[1, 2])), "--dry-run"]) == 0
  out = capsys.readouterr().out
  assert "2 configuration(s): 2 to run, 0 done already; estimated" in out and "min" in out
  assert not (tmp_path / "out").exists()

def test_smoke_experiment_end_to_end(tmp_path):
  smoke = yaml.safe_load((ROOT / "experiments/smoke.yaml").read_text())
  path = write(tmp_path / "smoke.yaml", **{**smoke, "output": str(tmp_path / "smoke")})
  assert experiment.main([str(path)]) == 0
  (rec,) = sessions(tmp_path / "smoke")
  assert (rec["planned"], rec["ok"], rec["failed"], rec["skipped"]) == (4, 4, 0, 0)
  assert rec["file"] == path.read_text() and rec["git_commit"] and rec["ended_at"] and rec["duration_s"] > 0
  logs = [rawlog.parse(p) for p in (tmp_path / "smoke").glob("*.txt")]
  assert all(l.ok for l in logs) and {(l.header["n_prompt_tokens"], l.header["batch"]) for l in logs} == {
    ("16", "1"), ("16", "2"), ("48", "1"), ("48", "2")}

def test_prompt_tokens_change_the_logged_positions(tiny_model, tmp_path):
  assert bench.main("llamacpp", ["--model", str(tiny_model), "--size", "tiny", "-o", str(tmp_path), *FAST, "--ctx", "64",
                                  "--n-tokens", "3", "--prompt-tokens", "5", "23"]) == 0
  for log in map(rawlog.parse, tmp_path.glob("*.txt")):
    d = int(log.header["n_prompt_tokens"])
    assert [(s["position"], s["n_tokens"]) for s in log.steps] == [(0, d), (d, 1), (d + 1, 1), (d + 2, 1)]
  assert sorted(int(rawlog.parse(p).header["n_prompt_tokens"]) for p in tmp_path.glob("*.txt")) == [5, 23]

@pytest.mark.parametrize("backend", ["llamacpp", "tinygrad"])
def test_batch_logs_b_sequences_per_step(tiny_model, tmp_path, backend):
  B = 3
  assert bench.main(backend, ["--model", str(tiny_model), "--size", "tiny", "-o", str(tmp_path), *FAST, "--ctx", "64",
                               "--n-tokens", "4", "--prompt-tokens", "10", "--batch", str(B)]) == 0
  (log,) = map(rawlog.parse, tmp_path.glob("*.txt"))
  assert log.header["batch"] == str(B)
  assert [s["n_tokens"] for s in log.steps] == [B * 10] + [B] * 4
  assert all(len(s["token_ids"]) == B and s["token_id"] == s["token_ids"][0] for s in log.steps)
  assert all(len(set(s["token_ids"])) == 1 for s in log.steps)  # greedy, the same prompt: the sequences agree
  dec = [s for s in log.steps if s["phase"] == "decode"]
  seconds = sum(s["total_latency_ms"] for s in dec) / 1e3
  aggregate, per_sequence = sum(s["n_tokens"] for s in dec) / seconds, len(dec) / seconds
  assert aggregate == pytest.approx(B * per_sequence) and aggregate > per_sequence
  h = log.header  # the KV cache of B sequences of ctx positions each (llama.cpp rounds them up to 256), 16-bit K and V
  cells = int(h["kv_positions_per_sequence"])
  assert cells == (256 if backend == "llamacpp" else 64)
  assert int(h["predicted_kv_bytes"]) == B * cells * 2 * int(h["n_layers"]) * int(h["n_kv_heads"]) * int(h["head_dim"]) * 2
  if backend == "llamacpp":  # what llama.cpp logged it allocated, in MiB with 2 decimals
    assert int(h["kv_buffer_bytes"]) == pytest.approx(int(h["predicted_kv_bytes"]), abs=0.006 * 2**20)

# --- scaling tables, on a hand-made summary ---

def summary_rows() -> pd.DataFrame:
  base = dict(backend="llamacpp", backend_version="0.3.36", device="cpu", device_name="CPU X", hostname="h", size="135M",
              weights="real", model_sha256="abc", quantize="Q8_0", model_type="Q8_0", bits_per_weight=8.5, threads=2, ctx=4096,
              n_prompt_tokens=32, n_decode_steps=64, temperature=0.0, concurrency=None, batch=1, knobs="flash_attn=off", mode="",
              n_runs=3, latency_ms_p50=20.0, latency_ms_p99=30.0, ttft_ms_median=None, tok_s_per_seq_median=None,
              peak_rss_bytes=300 * 2**20, peak_device_bytes=None, predicted_bytes=250 * 2**20, model_name="SmolLM2-135M")
  rows = []
  def add(rate, ci, **kw):
    row = {**base, **kw, "phase": "decode", "tok_s_median": rate, "tok_s_ci95_low": rate - ci, "tok_s_ci95_high": rate + ci}
    row["tok_s_per_seq_median"] = rate / row["batch"]
    rows.append(row)
    rows.append({**row, "phase": "prefill", "tok_s_median": 300.0, "ttft_ms_median": 100.0 + row["n_prompt_tokens"]})
  for n, rate in ((50, 50.0), (100, 48.0), (200, 45.0)): add(rate, 1.0, n_decode_steps=n, temperature=0.7)
  for t, rate in ((0.3, 50.0), (0.7, 49.5), (1.0, 40.0)): add(rate, 1.0, temperature=t, n_decode_steps=128, n_prompt_tokens=64)
  for d, rate in ((32, 50.0), (2048, 30.0)): add(rate, 1.0, n_prompt_tokens=d)
  for b, rate in ((2, 90.0), (8, 200.0)): add(rate, 2.0, batch=b, peak_rss_bytes=(300 + 10 * b) * 2**20)
  return pd.DataFrame(rows)

def test_scaling_tables_from_a_summary(tmp_path):
  df = summary_rows()
  tok = scaling.token_scaling(df)
  assert list(tok["n_decode_steps"]) == [50, 100, 200]
  assert tok["request_latency_ms"].tolist() == pytest.approx([132 + 50e3 / 50, 132 + 100e3 / 48, 132 + 200e3 / 45])
  temp = scaling.temperature_effect(df)
  assert list(temp["temperature"]) == [0.3, 0.7, 1.0]
  assert temp["ci_overlaps_lowest"].tolist() == [True, True, False]  # 49.5 +- 1 overlaps 50 +- 1; 40 +- 1 does not
  assert temp["change_pct_vs_lowest"].tolist() == pytest.approx([0, -1, -20])
  ctx = scaling.context_scaling(df)
  assert ctx["ratio_vs_shallowest"].tolist() == pytest.approx([1, 0.6])
  batch = scaling.batch_scaling(df)
  assert list(batch["batch"]) == [1, 2, 8] and batch["speedup_vs_smallest"].tolist() == pytest.approx([1, 1.8, 4])
  assert batch["tok_s_per_seq_median"].tolist() == pytest.approx([50, 45, 25])
  files = scaling.write_tables(df, tmp_path) + scaling.draw_plots(df, tmp_path, tmp_path / "plots")
  assert sorted(p.name for p in files) == sorted(["token_scaling.csv", "token_scaling.png", "temperature_effect.csv",
    "temperature_effect.png", "context_scaling.csv", "context_scaling.png", "batch_scaling.csv", "batch_scaling.png", "memory_scaling.png"])
  assert all(p.stat().st_size > (10_000 if p.suffix == ".png" else 100) for p in files)

def test_scaling_writes_nothing_without_a_varying_axis(tmp_path):
  df = summary_rows()
  one = df[(df["batch"] == 1) & (df["n_prompt_tokens"] == 32) & (df["n_decode_steps"] == 64)]
  assert scaling.token_scaling(one) is None and scaling.batch_scaling(one) is None
  assert scaling.temperature_effect(one) is None and scaling.context_scaling(one) is None
  assert scaling.write_tables(one, tmp_path) == [] and scaling.draw_plots(one, tmp_path, tmp_path / "plots") == []
  assert not list(tmp_path.rglob("*.*"))  # nothing written, not even an empty table
