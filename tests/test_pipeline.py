"""The core pipeline on real backends and tiny real models: benchmark -> raw logs -> collate -> CSV."""
import csv, getpass, hashlib, json, os, platform, shutil, signal, socket, subprocess, sys, threading, time
from pathlib import Path
import pytest
from inferbench.core import files, formats, registry
from inferbench.store import collate, rawlog
from inferbench.models import modelfile, prepare
from inferbench.run import bench, local
from inferbench.backends import llamacpp
from inferbench.core.config import RunConfig

ROOT = Path(__file__).resolve().parent.parent
# SmolLM2's ids for the default prompt, as its Hugging Face tokenizer gives them (and llama.cpp's BPE must too)
PROMPT_IDS = [504, 1463, 282, 7867, 314, 253, 1977, 282, 6120, 338, 3485, 288, 536, 540, 351, 1181, 30, 16374, 281, 2232, 1924, 638, 253,
              1507, 1789, 1743, 6497, 253, 6011, 618, 354, 2988, 28, 1833, 411, 1833, 30]
FAST = ["--n-tokens", "16", "--runs", "1", "--warmup", "0", "--min-seconds", "0", "--ctx", "128"]

def benchmark(backend: str, out: Path, *args: str) -> int:
  return bench.main(backend, ["--size", "tiny", "-o", str(out), *FAST, *args])

@pytest.fixture(scope="module")
def both(tmp_path_factory, tiny_model):
  """One real run of each backend on the tiny F16 model, into one folder."""
  out = tmp_path_factory.mktemp("both")
  for backend in ("llamacpp", "tinygrad"): assert benchmark(backend, out, "--model", str(tiny_model)) == 0
  return out

def only_log(out: Path, backend: str) -> rawlog.Log:
  (path,) = out.glob(f"{backend}_*.txt")
  return rawlog.parse(path)

def test_both_backends_get_identical_prompt_ids(both, tiny_model):
  import gguf
  from defaults import DEFAULT_PROMPT
  a, b = only_log(both, "llamacpp"), only_log(both, "tinygrad")
  assert json.loads(a.header["prompt_token_ids"]) == json.loads(b.header["prompt_token_ids"]) == PROMPT_IDS
  assert a.header["n_prompt_tokens"] == str(len(PROMPT_IDS))
  vocab = gguf.GGUFReader(tiny_model).get_field("tokenizer.ggml.tokens").contents()  # the ids spell the prompt, byte-level BPE's G for a space
  assert "".join(vocab[i] for i in PROMPT_IDS).replace("\u0120", " ") == DEFAULT_PROMPT[:len("".join(vocab[i] for i in PROMPT_IDS))]
  assert a.header["model_sha256"] == b.header["model_sha256"]  # the very same GGUF file

def test_greedy_tokens_agree_between_backends(both):
  tokens = lambda log: [s["token_id"] for s in log.steps if s["run"] == 0]
  a, b = tokens(only_log(both, "llamacpp")), tokens(only_log(both, "tinygrad"))
  assert len(a) == len(b) == 17
  assert len(set(a)) > 4, "degenerate sequence: the agreement would prove little"
  assert a[:16] == b[:16]

def test_log_has_header_steps_and_status(both, tiny_model):
  import datetime, llama_cpp
  log = only_log(both, "llamacpp")
  assert log.ok
  h, info = log.header, modelfile.describe(tiny_model)
  commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
  assert (h["platform"], h["release"], h["python"]) == (platform.platform(), platform.release(), platform.python_version())
  assert (h["device"], h["username"], h["hostname"]) == ("cpu", getpass.getuser(), socket.gethostname())
  assert h["backend_version"] == h["version.llama_cpp_python"] == llama_cpp.__version__
  assert Path(h["model_file"]).resolve() == tiny_model.resolve() and h["model_sha256"] == hashlib.sha256(tiny_model.read_bytes()).hexdigest()
  assert (h["n_params"], h["model_bytes"]) == (str(info.n_params), str(info.weight_bytes))
  assert h["threads"] == str(registry.DEFAULT_THREADS) and h["git_commit"] in (commit, commit + "-dirty")
  assert abs(datetime.datetime.fromisoformat(h["started_at"]) - datetime.datetime.now(datetime.timezone.utc)) < datetime.timedelta(days=1)
  assert [s["phase"] for s in log.steps] == ["prefill"] + ["decode"] * 16
  n_prompt = int(log.header["n_prompt_tokens"])
  assert [s["position"] for s in log.steps] == [0, *range(n_prompt, n_prompt + 16)]  # decode step 1 writes position n_prompt
  assert log.runs[0]["internal_decode_steps"] == 16  # llama.cpp's own counters saw the same steps

def test_collate_round_trips_the_log(both, tmp_path):
  shutil.copytree(both, tmp_path, dirs_exist_ok=True)
  path, n, problems = collate.collate("llamacpp", tmp_path)
  assert not problems and n == 17
  rows = list(csv.DictReader(open(path, newline="")))
  assert list(rows[0])[:16] == collate.SEED_COLUMNS
  log = only_log(tmp_path, "llamacpp")
  for row, step in zip(rows, log.steps):
    assert float(row["total_latency_ms"]) == pytest.approx(step["total_latency_ms"])
    assert float(row["tokens_per_sec"]) == pytest.approx(step["n_tokens"] * 1e3 / step["total_latency_ms"], rel=1e-5)
    assert row["generated_text"] == step["text"] and int(row["token_id"]) == step["token_id"]
    assert row["uuid"] == log.header["uuid"] and row["status"] == "ok"

def test_collate_is_idempotent_and_keeps_rows_of_removed_logs(both, tmp_path):
  shutil.copytree(both, tmp_path, dirs_exist_ok=True)
  path, _, _ = collate.collate("tinygrad", tmp_path)
  first = path.read_bytes()
  collate.collate("tinygrad", tmp_path)
  assert path.read_bytes() == first
  next(tmp_path.glob("tinygrad_*.txt")).unlink()  # the log is gone; what was collated from it stays
  collate.collate("tinygrad", tmp_path)
  assert path.read_bytes() == first

def test_malformed_truncated_and_foreign_logs_are_reported_and_skipped(both, tmp_path, capsys):
  shutil.copytree(both, tmp_path, dirs_exist_ok=True)
  good = next(tmp_path.glob("llamacpp_*.txt"))
  lines = good.read_text().splitlines(keepends=True)
  (tmp_path / "llamacpp_truncated.txt").write_text("".join(lines[:-3]))            # cut mid-run: no status line
  (tmp_path / "llamacpp_badjson.txt").write_text("".join(lines[:-2] + ["step {oops\n", lines[-1]]))
  (tmp_path / "llamacpp_foreign.txt").write_text("hello, not a log\n")
  assert collate.main("llamacpp", ["-d", str(tmp_path)]) == 1
  err = capsys.readouterr().err
  assert "llamacpp_truncated.txt" in err and "no final status line" in err
  assert f"llamacpp_badjson.txt:{len(lines) - 1}: step: not valid JSON" in err
  assert "llamacpp_foreign.txt:1: " in err and "not an inferbench log" in err
  rows = list(csv.DictReader(open(tmp_path / "llamacpp.csv", newline="")))
  assert len(rows) == 17 and {r["log_file"] for r in rows} == {good.name}

def test_killed_configuration_is_recorded_and_the_sweep_goes_on(tmp_path, tiny_model):
  """SIGKILL the first worker mid-run, as the out-of-memory killer would: its log says so, the second seed runs."""
  def kill_first_worker():
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
      logs = list(tmp_path.glob("*.txt"))
      if logs and '"phase": "decode"' in logs[0].read_text():
        for pid in os.listdir("/proc"):
          try: cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
          except OSError: continue
          if b"inferbench.measure.worker" in cmd and str(tmp_path).encode() in cmd: os.kill(int(pid), signal.SIGKILL); return
      time.sleep(0.02)
  killer = threading.Thread(target=kill_first_worker)
  killer.start()
  rc = bench.main("llamacpp", ["--model", str(tiny_model), "--size", "tiny", "--seed", "1", "2", "-o", str(tmp_path),
                                "--n-tokens", "200", "--runs", "8", "--warmup", "0", "--min-seconds", "0", "--ctx", "256"])
  killer.join()  # llama.cpp's decode steps are logged as each run ends (one C call runs them): 8 runs leave time to kill
  assert rc == 1
  logs = sorted((rawlog.parse(p) for p in tmp_path.glob("*.txt")), key=lambda l: l.header["seed"])
  assert [l.header["seed"] for l in logs] == ["1", "2"]
  assert logs[0].status == "failed: killed by SIGKILL" and logs[0].steps  # out of memory only if the kernel counted an OOM kill
  assert logs[1].ok
  path, n, problems = collate.collate("llamacpp", tmp_path)
  statuses = {r["status"] for r in csv.DictReader(open(path, newline=""))}
  assert not problems and statuses == {"ok", "failed: killed by SIGKILL"}

def test_failure_inside_the_worker_is_recorded_with_its_reason(tmp_path, tiny_model):
  """The worker's own context check (the CLI refuses such a --ctx before running: test_cli)."""
  cfg = RunConfig(backend="llamacpp", size="tiny", quantize="default", seed=1, uuid="fail0001", model=str(tiny_model),
                  prompt_ids=prepare.prompt_ids(tiny_model, "Hello there", None), n_tokens=200, ctx=64, runs=1, warmup=0)
  status = local.run_one(cfg, tmp_path / "failed.txt", None)
  log = rawlog.parse(tmp_path / "failed.txt")
  assert status == log.status and log.status.startswith("failed: ValueError: prompt") and "raise --ctx" in log.status

@pytest.mark.parametrize("args, message", [
  (["--size", "999B"], "error: unknown size '999B': use one of 135M"),
  (["--quantize", "q17"], "error: unknown quantization 'q17': use one of default, int8, nf4, float16, F32"),
  (["--model", "/nonexistent/model.gguf"], "error: model file /nonexistent/model.gguf does not exist"),
])
def test_bad_input_gives_one_clear_line(tmp_path, args, message):
  out = subprocess.run([sys.executable, "llamacpp_benchmark.py", *args, "-o", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
  assert out.returncode == 2
  assert out.stderr.startswith(message) and out.stderr.count("\n") == 1
  assert not list(tmp_path.iterdir())

def bad_model(tmp_path: Path, tiny_model: Path, kind: str) -> tuple[Path, str]:
  """A --model that is not a model file, and what the error must say about it."""
  path, data = tmp_path / "m" / "bad.gguf", tiny_model.read_bytes()
  path.parent.mkdir()
  if kind == "folder": path.mkdir(); (path / "inside.gguf").write_bytes(data[:4]); return path, "is a folder (it holds inside.gguf)"
  if kind == "fifo": os.mkfifo(path); return path, "is not a regular file"
  if kind == "dangling": path.symlink_to(tmp_path / "gone.gguf"); return path, "is a dangling symlink"
  path.write_bytes({"text": b"not a gguf at all\n", "cut header": data[:100_000], "cut tensors": data[:len(data) * 9 // 10]}[kind])
  return path, {"text": "invalid magic characters", "cut header": "failed to read", "cut tensors": "not within the file bounds"}[kind]

@pytest.mark.parametrize("command", ["llamacpp_benchmark.py", "tinygrad_benchmark.py"])
@pytest.mark.parametrize("kind", ["folder", "fifo", "dangling", "text", "cut header", "cut tensors"])
def test_a_model_that_is_not_a_model_file_is_one_line(tmp_path, tiny_model, command, kind):
  """The project's line and nothing before it: llama.cpp's own error lines go into that line, not to stderr."""
  path, says = bad_model(tmp_path, tiny_model, kind)
  out = subprocess.run([sys.executable, command, "--model", str(path), *FAST, "-o", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert out.returncode == 2 and len(out.stderr.splitlines()) == 1 and out.stderr.startswith("error: ") and says in out.stderr, out.stderr
  assert str(path) in out.stderr and not (tmp_path / "out").exists()

def test_corrupt_model_file_gives_a_clear_error(tmp_path):
  bad = tmp_path / "corrupt.gguf"
  bad.write_bytes(b"GGUF" + os.urandom(64))
  with pytest.raises(formats.ModelError, match="not a readable GGUF file"): modelfile.describe(bad)

def test_offline_hub_download_says_what_to_do(monkeypatch, tmp_path):
  monkeypatch.setenv("HF_HUB_OFFLINE", "1")
  monkeypatch.setattr(files, "CACHE", tmp_path)
  with pytest.raises(formats.ModelError, match=r"Hub repo bartowski/Llama-3.2-1B-Instruct-GGUF.*--model PATH"):
    prepare.source_path("1B")

def test_hub_model_already_in_the_cache_resolves_offline(monkeypatch, tmp_path, tiny_model):
  """huggingface_hub's real lookup, on a cache laid out as it writes one (refs/main -> snapshots/<commit>/file)."""
  monkeypatch.setenv("HF_HUB_OFFLINE", "1")
  monkeypatch.setattr(files, "CACHE", tmp_path)
  src = formats.check_size("1B")
  repo = tmp_path / "hub" / f"models--{src.repo.replace('/', '--')}"
  commit = "0123456789abcdef0123456789abcdef01234567"
  (repo / "refs").mkdir(parents=True)
  (repo / "refs" / "main").write_text(commit)
  (repo / "snapshots" / commit).mkdir(parents=True)
  shutil.copy(tiny_model, repo / "snapshots" / commit / src.filename)
  path = prepare.source_path("1B")
  assert path.name == src.filename and modelfile.describe(path).n_params == modelfile.describe(tiny_model).n_params

def test_quantize_aliases_map_to_gguf_types(embedded_model):
  import llama_cpp
  for name, value in formats.FTYPES.items():  # our table agrees with llama.h
    const = "LLAMA_FTYPE_ALL_F32" if name == "F32" else f"LLAMA_FTYPE_MOSTLY_{name}"
    assert getattr(llama_cpp, const) == value, name
  assert formats.quant_type("nf4") == "Q4_K_M" and formats.quant_type("int8") == "Q8_0" and formats.quant_type("q6_k") == "Q6_K"
  assert prepare.quantized(embedded_model, "default") == embedded_model  # the source's own type: Q4_1

def test_embedded_model_end_to_end(tmp_path):
  """The README's main job in miniature: both backends on the embedded 135M model, a few tokens, then collate."""
  tok = llamacpp.Tokenizer(prepare.quantized(prepare.source_path("135M"), "int8"))
  for backend in ("llamacpp", "tinygrad"):
    assert bench.main(backend, ["--quantize", "int8", "-o", str(tmp_path), "--n-tokens", "3", "--runs", "1",
                                 "--warmup", "0", "--min-seconds", "0", "--ctx", "128"]) == 0
    path, n, problems = collate.collate(backend, tmp_path)
    rows = list(csv.DictReader(open(path, newline="")))
    assert not problems and n == 4 and rows[0]["size"] == "135M" and rows[0]["quantize"] == "int8"
    assert rows[0]["model_type"] == "Q8_0" and rows[0]["weights"] == "real"
    ids = [int(r["token_id"]) for r in rows]  # each step's text: the run's tokens so far, detokenized
    assert [r["generated_text"] for r in rows] == [tok.decode(ids[:i + 1]) for i in range(4)] and rows[-1]["generated_text"].strip()

def test_quantizer_fallbacks_go_into_the_header_not_onto_the_terminal(tmp_path, monkeypatch, tiny_model, capfd):
  """K-quants need rows that are multiples of 256, so every tensor of the tiny model (rows of 64 and 128) falls back.
  llama.cpp warns once per tensor, from C, on fd 2: those lines are counted into a sidecar of the cached file and the
  log header, and a run that reuses the cache (or a file cached before the sidecars existed) logs the same counts."""
  from collections import Counter
  from gguf import GGUFReader
  monkeypatch.setenv("INFERBENCH_MODELS", str(tmp_path / "models"))  # the worker's cache
  monkeypatch.setattr(files, "CACHE", tmp_path / "models")
  def header() -> str:
    out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
    assert bench.main("llamacpp", ["--model", str(tiny_model), "--size", "tiny", "--quantize", "nf4", "-o", str(out), *FAST, "--threads", "1"]) == 0
    assert "falling back" not in capfd.readouterr().err
    (log,) = [rawlog.parse(p) for p in out.glob("*.txt")]
    return log.header["quantize_fallbacks"]
  made = header()
  (path,) = (tmp_path / "models" / "quantized").glob("*.Q4_K_M.gguf")
  n = prepare.fallbacks(path)
  stored = Counter(t.tensor_type.name for t in GGUFReader(path).tensors)
  assert n["q5_0"] == stored["Q5_0"] and 0 < n["q8_0"] <= stored["Q8_0"] and not any(t.endswith("_K") for t in stored)
  assert made == prepare.format_fallbacks(n) == f"q5_0={n['q5_0']}, q8_0={n['q8_0']}"
  assert header() == made  # reused from the cache
  (tmp_path / "models" / "quantized" / f"{path.name}.json").unlink()  # as if cached before the sidecars existed
  mtime = path.stat().st_mtime_ns
  assert header() == made and path.stat().st_mtime_ns == mtime  # recounted by a dry run, the file untouched
