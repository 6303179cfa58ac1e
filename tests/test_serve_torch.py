"""inferbench serve --backend torch on real torch (its CPU build): the same greedy tokens as the PyTorch bench backend
and llama.cpp, dynamic batching (one batch, fewer steps, the same tokens), seeded sampling, a client that goes away,
and a serving experiment that runs llama.cpp and PyTorch servers side by side without pooling their logs."""
import concurrent.futures, csv, http.client, json, sys, time
from urllib.parse import urlsplit
import pytest
import torch
import transformers
import yaml
from inferbench.analyse import analysis
from inferbench.backends import llamacpp, pytorch
from inferbench.backends.llamacpp import Tokenizer
from inferbench.core import proc
from inferbench.core.config import RunConfig
from inferbench.run import experiment
from inferbench.run.serving_experiment import SERVER_NAMES
from inferbench.serving import server as api_server
from inferbench.store.rawlog import parse
from test_serve import call, health

MAX_BATCH, TIMEOUT_MS, N = 4, 200, 12
PROMPTS = ["The history of computing is", "Hello", "A much longer prompt about the weather in the mountains today", "x y"]

@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory):
  log = tmp_path_factory.mktemp("serve_torch") / "server.log"
  cmd = [sys.executable, "-m", "inferbench.serving.server", "--backend", "torch", "--model", str(tiny_model), "--max-batch", str(MAX_BATCH),
         "--batch-timeout-ms", str(TIMEOUT_MS), "--ctx", "128", "--threads", "1"]
  with proc.launch(cmd, log, ready_s=120) as srv: yield srv.url

@pytest.fixture(scope="module")
def tok(tiny_model): return Tokenizer(tiny_model)

def complete(url: str, ids: list[int], max_tokens: int = N, **extra) -> dict:
  status, out, _ = call(url, "/completions", {"prompt": ids, "max_tokens": max_tokens, "temperature": 0.0, "ignore_eos": True} | extra, key=None)
  assert status == 200, out
  return out

def text(tok: Tokenizer, ids: list[int]) -> str: return b"".join(map(tok.piece, ids)).decode(errors="replace")  # as the server streams it

def test_settings_name_the_torch_server(server):
  (m,) = call(server, "/models", key=None)[1]["data"]
  assert m["owned_by"] == "inferbench-torch"
  s = m["settings"]
  assert (s["backend"], s["version"], s["transformers"], s["dtype"], s["device"]) == ("torch", torch.__version__, transformers.__version__, "float32", "CPU")
  assert (s["max_batch"], s["batch_timeout_ms"], s["ctx_per_seq"], s["threads"]) == (MAX_BATCH, TIMEOUT_MS, 128, 1) and "flash_attn" not in s

def test_greedy_tokens_equal_the_bench_backends(server, tiny_model, tok):
  ids = tok.encode(PROMPTS[0])
  want = [s.token_id for s in pytorch.load(RunConfig(ctx=128), tiny_model).generate(ids, N - 1)]
  assert len(set(want)) > 4, "degenerate sequence: the agreement would prove little"
  assert [s.token_id for s in llamacpp.load(RunConfig(ctx=128), tiny_model).generate(ids, N - 1)] == want
  out = complete(server, ids)
  assert out["choices"][0]["text"] == text(tok, want) and out["usage"]["completion_tokens"] == N

def test_concurrent_requests_share_one_batch_and_keep_their_tokens(server, tok):
  """Four prompts of different lengths (left padding) and max_tokens (rows leave the batch early): one batch of
  max(max_tokens) steps instead of their sum, each request's text the one it gets alone."""
  ids, lengths = [tok.encode(p) for p in PROMPTS], [N, 3, N, 7]
  alone = [complete(server, i, n)["choices"][0]["text"] for i, n in zip(ids, lengths)]
  steps = health(server)["steps"]
  with concurrent.futures.ThreadPoolExecutor(MAX_BATCH) as pool: outs = list(pool.map(lambda a: complete(server, *a), zip(ids, lengths)))
  assert health(server)["steps"] - steps == N < sum(lengths)
  assert [o["choices"][0]["text"] for o in outs] == alone and [o["usage"]["completion_tokens"] for o in outs] == lengths
  assert max(o["timings"]["queue_ms"] for o in outs) < TIMEOUT_MS  # the fourth closed the batch: nobody waited the timeout out

def test_seeded_sampling(server, tok):
  ids = tok.encode(PROMPTS[0])
  hot = lambda seed: complete(server, ids, temperature=1.5, seed=seed)["choices"][0]["text"]
  assert hot(7) == hot(7) and len({hot(7), hot(8), hot(9)}) > 1

def test_a_client_that_goes_away_leaves_the_batch(server, tok):
  """A streamed request dropped after its first token leaves the batch; its batch-mate decodes on, unchanged."""
  ids = tok.encode(PROMPTS[2])
  alone = complete(server, ids, 60)["choices"][0]["text"]
  u = urlsplit(server)
  conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
  with concurrent.futures.ThreadPoolExecutor(1) as pool:
    mate = pool.submit(complete, server, ids, 60)
    conn.request("POST", u.path + "/completions", json.dumps({"prompt": ids, "max_tokens": 100, "ignore_eos": True, "stream": True}))
    r = conn.getresponse()
    while not r.readline().startswith(b"data:"): pass
    conn.sock.close(); conn.close()
    assert mate.result()["choices"][0]["text"] == alone
  deadline = time.monotonic() + 5
  while health(server)["active"]:
    assert time.monotonic() < deadline, "the dropped request kept its row"
    time.sleep(0.02)

def test_a_serving_experiment_runs_torch_apart_from_llamacpp(tmp_path, capsys):
  """A llama.cpp set first, then the same file with a PyTorch set: the torch point still has its round to run (the
  resume key names the server), and its logs, CSV and table rows are its own."""
  out = tmp_path / "out"
  sets = [{"name": "llama", "max_batch": 2, "concurrency": 2}, {"name": "torch", "backend": "torch", "max_batch": 2, "concurrency": 2}]
  def write(n: int):
    (path := tmp_path / "s.yaml").write_text(yaml.safe_dump({"kind": "serving", "name": "s", "n_tokens": 4, "requests": 4, "rounds": 1, "warmup": 0,
                                                             "request_timeout": 60, "output": str(out), "sets": sets[:n]}))
    return path
  assert experiment.main([str(write(1))]) == 0
  capsys.readouterr()
  assert experiment.main([str(write(2)), "--dry-run"]) == 0 and "1 log(s) to make" in capsys.readouterr().err
  assert experiment.main([str(write(2))]) == 0
  logs = {name: [parse(p) for p in out.glob(f"{name}_*.txt") if parse(p).header["backend"] == name] for name in SERVER_NAMES.values()}
  assert {k: len(v) for k, v in logs.items()} == {"inferbench_serve": 1, "inferbench_serve_torch": 1}
  (t,) = logs["inferbench_serve_torch"]
  assert t.ok and t.header["server.backend"] == "torch" and t.header["backend_version"] == torch.__version__ and t.header["server.dtype"] == "float32"
  for name in SERVER_NAMES.values():
    with open(out / f"{name}.csv", newline="") as f: rows = list(csv.DictReader(f))
    assert len(rows) == 4 * 5 and {r["backend"] for r in rows} == {name}  # 4 requests of a prefill and 4 decode steps, never pooled
  dec = analysis.read_summary(out / "summary.csv").query("phase == 'decode'")
  assert sorted(dec["backend"]) == sorted(SERVER_NAMES.values())
  with open(out / "serving_sets.csv", newline="") as f: table = list(csv.DictReader(f))
  assert [(r["set"], r["server"]) for r in table] == [("llama", "max batch 2, timeout 0 ms"), ("torch", "torch: max batch 2, timeout 0 ms")]
  capsys.readouterr()
  assert experiment.main([str(write(2))]) == 0 and "0 log(s) to make" in capsys.readouterr().err

@pytest.mark.parametrize("args", [["--backend", "torch", "--flash-attn"], ["--dtype", "float16"], ["--device", "cuda"],
                                  ["--backend", "torch", "--device", "cuda"]])
def test_bad_arguments_are_one_line(tiny_model, args, capsys):
  assert api_server.main(["--model", str(tiny_model), *args]) == 2
  err = capsys.readouterr().err.strip()
  assert err.startswith("error: ") and len(err.splitlines()) == 1 and ("--device" in err or "--flash-attn" in err or "--dtype" in err), err

def test_nucleus_keeps_what_the_llamacpp_sampler_keeps():
  from inferbench.serving.torch_batching import nucleus
  p = torch.tensor([0.05, 0.5, 0.15, 0.3])
  kept = lambda top_p: (nucleus(p, top_p) == p).tolist()  # the kept keep their probability, the rest get 0
  assert kept(0.7) == [False, True, False, True] and kept(0.81) == [False, True, True, True] and kept(1e-9) == [False, True, False, False]
  assert nucleus(p, 1.0) is p and nucleus(p, 0.7).sum() == p[1] + p[3]
