"""inferbench serve on the tiny model: OpenAI responses, continuous batching, the batch timeout, the bounded queue,
validation, cancellation under load, and the load client against it. Every server binds 127.0.0.1 and is stopped;
every loop is bounded in count and time."""
import concurrent.futures, csv, http.client, json, socket, sys, time
from urllib.parse import urlsplit
import numpy as np
import openai
import pytest
import client_requests
from inferbench.backends import llamacpp
from inferbench.analyse import analysis
from inferbench.core import stats
from inferbench.store import collate
from inferbench.models import prepare
from inferbench.core import proc
from inferbench.run import load
from inferbench.serving import client, server as api_server
from inferbench.store.rawlog import parse

KEY = "sk-inferbench-serve-test-41c9e2"  # must never reach a log, a CSV or a message
MAX_BATCH, TIMEOUT_MS, MAX_QUEUE = 4, 60, 6

@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory):
  log = tmp_path_factory.mktemp("serve") / "server.log"
  cmd = [sys.executable, "-m", "inferbench.serving.server", "--model", str(tiny_model), "--max-batch", str(MAX_BATCH), "--batch-timeout-ms", str(TIMEOUT_MS),
         "--max-queue", str(MAX_QUEUE), "--ctx", "128", "--threads", "1", "--api-key", KEY]
  with proc.launch(cmd, log, ready_s=60) as srv: yield srv.url, log
  assert KEY not in log.read_text(errors="replace"), "the server logged its API key"

def call(url: str, path: str, body: dict | str | None = None, key: str | None = KEY, timeout: float = 30) -> tuple[int, dict, list[dict]]:
  """One request: (status, JSON body or {}, the stream's JSON events), over a plain connection."""
  u = urlsplit(url)
  conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
  try:
    data = body if isinstance(body, str) or body is None else json.dumps(body)
    conn.request("GET" if body is None else "POST", u.path + path, data, {"Authorization": f"Bearer {key}"} if key else {})
    r = conn.getresponse()
    if r.getheader("Content-Type", "").startswith("text/event-stream"):
      lines = r.read().decode().splitlines()
      return r.status, dict(r.getheaders()), [json.loads(l[5:]) for l in lines if l.startswith("data:") and l[5:].strip() != "[DONE]"]
    return r.status, json.loads(r.read() or b"{}") | {"headers": dict(r.getheaders())}, []
  finally: conn.close()

def health(url: str) -> dict:
  return next(iter(call(url.removesuffix("/v1"), "/health", key=None)[1]["models"].values()))

PROMPT = {"prompt": "The history of computing is", "max_tokens": 12, "temperature": 0.0}

def test_models_and_usage(server):
  url, _ = server
  status, listing, _ = call(url, "/models")
  assert status == 200 and listing["data"][0]["owned_by"] == "inferbench"
  status, out, _ = call(url, "/completions", PROMPT)
  assert status == 200 and out["choices"][0]["finish_reason"] == "length"
  assert out["usage"]["completion_tokens"] == 12 and out["usage"]["prompt_tokens"] > 0 and out["timings"]["queue_ms"] >= 0

@pytest.mark.parametrize("path, body, text", [
  ("/completions", PROMPT, lambda c: c["text"]),
  ("/chat/completions", {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 10, "temperature": 0.0},
   lambda c: c.get("message", c.get("delta", {})).get("content") or "")])
def test_streaming_equals_non_streaming(server, path, body, text):
  url, _ = server
  _, whole, _ = call(url, path, body)
  status, _, events = call(url, path, body | {"stream": True, "stream_options": {"include_usage": True}})
  assert status == 200
  assert "".join(text(c) for e in events for c in e["choices"]) == text(whole["choices"][0])
  assert events[-2]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
  # the same counts; the second request found the first's prompt in the cache, all but its last token (whose logits it needs)
  assert events[-1]["usage"] == whole["usage"] | {"prompt_tokens_details": {"cached_tokens": whole["usage"]["prompt_tokens"] - 1}}

def test_batch_of_identical_greedy_requests_equals_a_lone_one(server):
  url, _ = server
  lone = call(url, "/completions", PROMPT)[1]["choices"][0]["text"]
  steps = health(url)["steps"]
  with concurrent.futures.ThreadPoolExecutor(MAX_BATCH) as pool:  # within the batch timeout: one batch from its first step
    outs = list(pool.map(lambda _: call(url, "/completions", PROMPT)[1], range(MAX_BATCH)))
  assert [o["choices"][0]["text"] for o in outs] == [lone] * MAX_BATCH
  assert health(url)["steps"] - steps == PROMPT["max_tokens"]  # one batch: the 12 steps of one request, not one request's after another's

def test_seeded_sampling(server):
  url, _ = server
  hot = lambda seed: call(url, "/completions", PROMPT | {"temperature": 1.5, "seed": seed})[1]["choices"][0]["text"]
  assert hot(7) == hot(7) and len({hot(7), hot(8), hot(9)}) > 1

def test_lone_request_waits_at_most_the_batch_timeout(server):
  url, _ = server
  waits = [call(url, "/completions", PROMPT | {"max_tokens": 1})[1]["timings"]["queue_ms"] for _ in range(3)]
  # it waits for company (the whole timeout, the behaviour: exact, from perf_counter), then goes alone: the upper
  # bound only tells "went alone" from "waited for a batch that never came", generous for a loaded 2-core machine
  assert all(TIMEOUT_MS - 1e-3 <= w < TIMEOUT_MS + 2000 for w in waits), waits

@pytest.mark.parametrize("body, status", [
  ("{not json", 400), ("[]", 400), ("", 400), ({"prompt": "x", "stream_options": {"include_usage": "yes"}}, 400),
  ({"prompt": "x", "max_tokens": 0}, 400), ({"prompt": "x", "max_tokens": 100000}, 400), ({"prompt": "x", "temperature": 9}, 400),
  ({"prompt": "x", "temperature": "0"}, 400), ({"prompt": ""}, 400), ({"prompt": [1, -5]}, 400), ({"prompt": [10**9]}, 400),
  ({"prompt": "x", "n": 3}, 400), ({"prompt": "x", "stream": "yes"}, 400), ({"prompt": "x", "model": "nope"}, 404)])
def test_malformed_requests_get_openai_errors(server, body, status):
  url, _ = server
  got, out, _ = call(url, "/completions", body)
  assert got == status and isinstance(out["error"]["message"], str) and out["error"]["type"] == "invalid_request_error"

@pytest.mark.parametrize("path, body, param", [
  ("/completions", {"prompt": "x", "stop": ["\n"]}, "stop"), ("/completions", {"prompt": "x", "logprobs": 6}, "logprobs"),
  ("/completions", {"prompt": "x", "top_p": 0}, "top_p"), ("/completions", {"prompt": "x", "top_p": 1.5}, "top_p"),
  ("/completions", {"prompt": "x", "n": 2}, "n"), ("/completions", {"prompt": "x", "echo": True, "stream": True}, "echo"),
  ("/completions", {"prompt": "x", "presence_penalty": 0.5}, "presence_penalty"), ("/completions", {"prompt": "x", "min_tokens": -1}, "min_tokens"),
  ("/completions", {"prompt": "x", "stream_options": {"continuous_usage_stats": 1}}, "stream_options.continuous_usage_stats"),
  ("/completions", {"prompt": "x", "user": 5}, "user"), ("/completions", {"prompt": "x", "seed": -1}, "seed"),
  ("/chat/completions", {"messages": []}, "messages"), ("/chat/completions", {"messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
  ("/chat/completions", {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}, "messages.0.content.0.type"),
  ("/chat/completions", {"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages.0.content.0.text"),
  ("/chat/completions", {"messages": [{"role": "user", "content": "x"}], "logprobs": True}, "logprobs")])
def test_invalid_known_fields_are_named(server, path, body, param):
  """What OpenAI's API defines but gets a value it does not allow, or one this server does not implement: 400 naming it."""
  got, out, _ = call(server[0], path, body)
  assert got == 400 and out["error"]["param"] == param and out["error"]["message"].startswith(param + ":"), out

def sse_events(raw: bytes) -> list[dict]:
  """A stream split as vLLM's bench splits it (events end in a blank line, "\n\n"; ": ping" comments skipped)."""
  events = [e.strip() for e in raw.split(b"\n\n") if e.strip() and not e.strip().startswith(b":")]
  assert all(e.startswith(b"data: ") for e in events), events[:3]
  assert events[-1] == b"data: [DONE]"
  return [json.loads(e[6:]) for e in events[:-1]]

@pytest.mark.parametrize("client_name, path", [(c, p) for c in ("GUIDELLM", "VLLM_BENCH") for p in ("/completions", "/chat/completions")])
def test_what_real_clients_send_is_answered(server, client_name, path):
  """GuideLLM 0.8.1's and vLLM bench serve's request bodies (tests/client_requests.py), replayed: 200, exactly N tokens,
  usage at the end (and on every chunk where continuous_usage_stats asks), cached prompt tokens in it."""
  url, _ = server
  model = call(url, "/models")[1]["data"][0]["id"]
  body = client_requests.fill(getattr(client_requests, client_name)[path], model, "The history of computing is", 12)
  u = urlsplit(url)
  conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
  conn.request("POST", u.path + path, json.dumps(body), {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
  r = conn.getresponse()
  assert r.status == 200, r.read()
  events = sse_events(r.read())
  conn.close()
  tokens = [e for e in events if e["choices"] and e["choices"][0]["finish_reason"] is None]
  assert len(tokens) == 12 and events[-2]["choices"][0]["finish_reason"] == "length"
  usage = events[-1]["usage"]
  assert events[-1]["choices"] == [] and usage["completion_tokens"] == 12 and usage["total_tokens"] == usage["prompt_tokens"] + 12
  assert 0 <= usage["prompt_tokens_details"]["cached_tokens"] < usage["prompt_tokens"]
  if body["stream_options"].get("continuous_usage_stats"):
    assert [e["usage"]["completion_tokens"] for e in tokens] == list(range(1, 13))
  else: assert all("usage" not in e for e in tokens)

def test_unknown_fields_are_ignored_and_named_once(server):
  url, log = server
  body = PROMPT | {"max_tokens": 2, "frobnicate": 1, "stream_options": {"include_usage": True, "sparkle_level": 2}, "stream": True}
  assert [call(url, "/completions", body)[0] for _ in range(2)] == [200, 200]
  text = log.read_text()
  assert text.count("frobnicate") == 1 and text.count("stream_options.sparkle_level") == 1, text

def test_cached_prompt_tokens_are_reported(server):
  """The prompt cache's reuse, as usage.prompt_tokens_details.cached_tokens: none for a new prompt, all but the last token
  for the same one again, the shared prefix for one that begins the same."""
  url, _ = server
  ids = [9311, 4406, 1977, 8325, 2602, 7145, 3011, 5530, 2048, 6677]
  cached = lambda prompt: call(url, "/completions", {"prompt": prompt, "max_tokens": 2, "temperature": 0.0})[1]["usage"]["prompt_tokens_details"]["cached_tokens"]
  assert [cached(ids), cached(ids), cached(ids[:5] + [101, 102, 103])] == [0, len(ids) - 1, 5]

def test_top_p_keeps_the_nucleus(server):
  """A nucleus too small for any but the likeliest token is greedy decoding, whatever the temperature and seed."""
  url, _ = server
  text = lambda **kw: call(url, "/completions", PROMPT | kw)[1]["choices"][0]["text"]
  greedy = text()
  assert all(text(temperature=1.5, seed=s, top_p=1e-9) == greedy for s in (1, 2, 3))
  assert any(text(temperature=1.5, seed=s, top_p=1.0) != greedy for s in (1, 2, 3))

def test_nucleus_sampling_draws_only_from_the_nucleus():
  p = np.array([[0.5, 0.3, 0.15, 0.05]])
  rng = np.random.default_rng(0)
  draws = np.array([llamacpp.sample(np.log(p), 1.0, rng, top_p=0.7)[0] for _ in range(4000)])
  assert set(draws) == {0, 1} and abs((draws == 0).mean() - 0.5 / 0.8) < 0.03  # 0.5 + 0.3 crosses 0.7: both kept, renormalized
  assert set(llamacpp.sample(np.log(p).repeat(2000, 0), 1.0, rng)) == {0, 1, 2, 3}  # top_p 1: all of them

def test_the_openai_package_talks_to_the_server(server):
  """The official client, as applications use it: completions and chat, streamed (with stream_options) and not, the
  streamed text the whole one's, the usage and its cached tokens parsed into its types."""
  url, _ = server
  ai = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0, timeout=60)
  model = ai.models.list().data[0].id
  common = dict(model=model, max_tokens=10, temperature=0.0, seed=3, n=1, user="bench", top_p=1.0, extra_body={"ignore_eos": True})
  whole = ai.completions.create(prompt="The history of computing is", **common)
  chunks = list(ai.completions.create(prompt="The history of computing is", stream=True, stream_options={"include_usage": True}, **common))
  assert whole.choices[0].finish_reason == "length" and whole.usage.completion_tokens == 10
  assert "".join(c.choices[0].text for c in chunks if c.choices) == whole.choices[0].text
  assert chunks[-1].usage.completion_tokens == 10 and isinstance(chunks[-1].usage.prompt_tokens_details.cached_tokens, int)
  messages = [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": [{"type": "text", "text": "Hello"}]}]
  chat = ai.chat.completions.create(messages=messages, logprobs=None, **common)
  stream = list(ai.chat.completions.create(messages=messages, stream=True, stream_options={"include_usage": True}, **common))
  assert chat.choices[0].message.role == "assistant" and chat.usage.completion_tokens == 10
  assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == chat.choices[0].message.content
  u = stream[-1].usage  # the second of the same prompt: all of it but its last token from the cache
  assert (u.prompt_tokens, u.completion_tokens, u.prompt_tokens_details.cached_tokens) == (chat.usage.prompt_tokens, 10, chat.usage.prompt_tokens - 1)
  # the developer message is the system prompt: the same tokens as sending it as system
  assert ai.chat.completions.create(messages=[{"role": "system", "content": "Be brief."}, messages[1]], **common).usage.prompt_tokens == chat.usage.prompt_tokens

def test_api_key_required(server):
  url, _ = server
  for key in (None, "wrong", KEY + "x"):
    status, out, _ = call(url, "/completions", PROMPT, key=key)
    assert status == 401 and KEY not in json.dumps(out)

def test_burst_beyond_the_queue_gets_503(server):
  url, _ = server
  body = PROMPT | {"max_tokens": 100}
  with concurrent.futures.ThreadPoolExecutor(24) as pool: outs = list(pool.map(lambda _: call(url, "/completions", body), range(24)))
  codes = [s for s, _, _ in outs]
  assert set(codes) == {200, 503} and codes.count(200) >= MAX_BATCH + MAX_QUEUE - 2, codes  # the slots and the queue were served
  assert all(o["headers"].get("retry-after") == "1" and o["error"]["code"] == "queue_full" for s, o, _ in outs if s == 503)
  assert call(url, "/completions", PROMPT)[0] == 200  # and the server goes on

@pytest.mark.timeout(60)
def test_disconnect_frees_the_slot(server):
  """Clients that go away after their first token free their slots within a few steps, not after 100 tokens."""
  url, _ = server
  u = urlsplit(url)
  conns = [http.client.HTTPConnection(u.hostname, u.port, timeout=30) for _ in range(MAX_BATCH)]
  for c in conns: c.request("POST", u.path + "/completions", json.dumps(PROMPT | {"max_tokens": 100, "stream": True}), {"Authorization": f"Bearer {KEY}"})
  for c in conns:
    r = c.getresponse()
    while not r.readline().startswith(b"data:"): pass
  steps = health(url)["steps"]
  for c in conns: c.sock.close(); c.close()
  while health(url)["active"]: time.sleep(0.02)  # bounded by the test's timeout
  assert health(url)["steps"] - steps < 50, "the cancelled sequences kept decoding"

@pytest.mark.timeout(60)
def test_a_client_gone_inside_its_body_is_dropped_without_a_traceback(server):
  """Headers promising 400 bytes, 10 sent, the socket closed: one line in the log, no traceback, nothing queued, and
  the next request served."""
  url, log = server
  u, before = urlsplit(url), log.read_text()
  with socket.create_connection((u.hostname, u.port)) as s:
    s.sendall(f"POST {u.path}/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"
              "Content-Length: 400\r\n\r\n{\"prompt\":".encode())
  new = ""
  while "went away inside its request body" not in new: new = log.read_text()[len(before):]; time.sleep(0.05)  # bounded by the timeout
  assert "Traceback" not in new and "Exception in ASGI application" not in new and len(new.splitlines()) == 1, new
  assert call(url, "/completions", PROMPT)[0] == 200 and (health(url)["active"], health(url)["queued"]) == (0, 0)

def test_each_logged_step_carries_its_own_piece(server, tmp_path, monkeypatch):
  """A streamed request through the load client: each logged step's text is its own chunk's piece (the server's
  stream of the same request, chunk by chunk), not the text so far, and the pieces joined are the whole completion."""
  url, _ = server
  monkeypatch.setenv("INFERBENCH_TEST_KEY", KEY)
  assert load.main(["--endpoint", url, "--api-key-env", "INFERBENCH_TEST_KEY", "--n-tokens", "7", "--warmup-requests", "0", "--requests", "1",
                    "--concurrency", "1", "--prompt", "The history of computing is", "-o", str(tmp_path)]) == 0
  (path,) = tmp_path.glob("inferbench_serve_*.txt")
  lg = parse(path)
  steps = [st["text"] for st in sorted(lg.steps, key=lambda st: st["step"])]
  body = {"prompt": json.loads(lg.header["reference_prompt_token_ids"]), "max_tokens": 8, "temperature": 0.0, "ignore_eos": True, "min_tokens": 8}
  pieces = [e["choices"][0]["text"] for e in call(url, "/completions", body | {"stream": True})[2] if e["choices"][0]["finish_reason"] is None]
  whole = call(url, "/completions", body)[1]["choices"][0]["text"]
  assert steps == pieces and len(steps) == 8 and "".join(steps) == whole and len(set(steps)) > 1

@pytest.mark.timeout(600)
def test_thousand_requests_with_cancellations(server):
  """1,000 short requests from 8 clients, every fifth dropped after its first token: all complete or are cancelled,
  and the slots and the queue are empty afterwards. (RSS over 2,000 requests: tests/test_serve_soak.py, -m soak.)"""
  url, _ = server
  u = urlsplit(url)
  body = json.dumps(PROMPT | {"max_tokens": 6, "stream": True}).encode()
  def one(i: int) -> str:
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
      for attempt in range(50):  # a 503 (queue full) is retried: the point is that each ends, not that none waits
        conn.request("POST", u.path + "/completions", body, {"Authorization": f"Bearer {KEY}"})
        r = conn.getresponse()
        if r.status != 503: break
        r.read(); time.sleep(0.05)
      assert r.status == 200, r.status
      if i % 5 == 0:
        line = b""
        while not line.startswith(b"data:"): assert (line := r.readline()), "the stream ended before its first token"
        conn.sock.close()  # gone mid-stream
        return "cancelled"
      data = r.read()
      assert data.rstrip().endswith(b"data: [DONE]")
      return "completed"
    finally: conn.close()
  with concurrent.futures.ThreadPoolExecutor(8) as pool: ends = list(pool.map(one, range(1000)))
  assert ends.count("cancelled") == 200 and ends.count("completed") == 800
  while (h := health(url))["active"] or h["queued"]: time.sleep(0.05)  # cancelled slots are freed at the next step; the timeout bounds it
  assert (h["active"], h["queued"]) == (0, 0)

def test_client_against_the_server(server, tmp_path, monkeypatch):
  """The load client at a request rate: its arrivals follow the seeded schedule, goodput counts exactly the requests
  within both SLOs, and the key reaches no log, CSV or summary."""
  url, log = server
  monkeypatch.setenv("INFERBENCH_TEST_KEY", KEY)
  args = ["--endpoint", url, "--api-key-env", "INFERBENCH_TEST_KEY", "--n-tokens", "4", "--warmup-requests", "0", "--request-timeout", "30",
          "-o", str(tmp_path), "--seed", "3", "--request-rate", "4", "--num-requests", "10", "--slo-ttft-ms", "300", "--slo-itl-ms", "40"]
  assert load.main(args) == 0
  (path,) = tmp_path.glob("inferbench_serve_*.txt")
  lg = parse(path)
  assert lg.ok and lg.header["request_rate"] == "4.0" and "concurrency" not in lg.header
  assert lg.header["server.max_batch"] == str(MAX_BATCH) and lg.header["server.batch_timeout_ms"] == str(float(TIMEOUT_MS))
  assert lg.header["backend_device"] == "CPU" and lg.header["backend_version"][0].isdigit()
  want = client.arrivals(4.0, 3, 10, None)
  runs = sorted(lg.runs, key=lambda r: r["run"])
  assert [r["scheduled_ms"] for r in runs] == [round(t * 1e3, 4) for t in want]
  # sent on schedule, not when the last one ended: never early, in the schedule's order; lateness bounded generously
  # (a loaded 2-core machine delays a thread's start) but well under the 10 requests' ~2.5 s of schedule
  assert all(0 <= r["start_ms"] - r["scheduled_ms"] < 1000 for r in runs) and [r["start_ms"] for r in runs] == sorted(r["start_ms"] for r in runs)
  for r in runs:  # recompute each verdict from the raw steps
    steps = sorted((s for s in lg.steps if s["run"] == r["run"]), key=lambda s: s["step"])
    ttft, itl = steps[0]["total_latency_ms"], sum(s["total_latency_ms"] for s in steps[1:]) / (len(steps) - 1)
    assert r["meets_slo"] == (ttft <= 300 and itl <= 40 + 1e-3), (r, ttft, itl)
  assert client.collate_main(["-d", str(tmp_path)]) == 0
  with open(tmp_path / "inferbench_serve.csv", newline="") as f: assert len(list(csv.DictReader(f))) == 10 * 5
  for f in [*tmp_path.iterdir(), log]: assert KEY not in f.read_text(errors="replace"), f.name

@pytest.mark.parametrize("flags, workload, cached, hit", [
  ([], "distinct", lambda n: 0, False),                                                   # nothing for a cache to serve
  (["--prompt-format", "text"], "distinct", lambda n: 0, False),                          # the text is exactly the prompt's tokens
  (["--shared-prefix-tokens", "8"], "distinct, shared prefix 8", lambda n: 8, False),    # the prefix, and only it
  (["--prompt", "The history of computing is long"], "repeated", lambda n: n - 1, True)])  # the old workload: cache hits, flagged
def test_the_clients_prompts_and_the_cache_on_record(server, tmp_path, monkeypatch, capsys, flags, workload, cached, hit):
  """Each request's own prompt, its length and hash on record, the server's cached tokens in its run line, a cache
  hit the workload did not ask for flagged in the log, the warning and the summary; the client's CPU time per run."""
  url, _ = server
  monkeypatch.setenv("INFERBENCH_TEST_KEY", KEY)
  args = ["--endpoint", url, "--api-key-env", "INFERBENCH_TEST_KEY", "--n-tokens", "2", "--warmup-requests", "1", "--requests", "6",
          "--concurrency", "1", "-o", str(tmp_path), *flags]
  assert load.main(args) == 0
  (path,) = tmp_path.glob("inferbench_serve_*.txt")
  lg = parse(path)
  runs = sorted(lg.runs, key=lambda r: r["run"])
  n = runs[0]["prompt_tokens"]
  assert lg.header["workload"] == workload and int(lg.header["n_prompt_tokens"]) == n and (n == 37 or workload == "repeated")
  assert all(r["prompt_tokens"] == r["usage_prompt_tokens"] == n for r in runs)  # the server counted what the client sent
  assert len({r["prompt_sha256"] for r in runs}) == (1 if hit else 6)
  assert [(r["usage_cached_tokens"], r["cache_hit"]) for r in runs] == [(cached(n), hit)] * 6
  cpu = [r["client_cpu_s"] for r in lg.runs]  # in the order the requests ended: a running total
  assert cpu == sorted(cpu) and cpu[-1] > 0
  err = capsys.readouterr().err
  assert ("6 of 6 requests were served from the server's prompt cache" in err) == hit and "of a core" in err
  data = analysis.from_logs([path])
  dec = analysis.summary_table(analysis.run_table(data), data).query("phase == 'decode'").iloc[0]
  assert dec["workload"] == workload and dec["cache_hit_requests"] == (6 if hit else 0) and ("cache hits: 6 request(s)" in dec["flags"]) == hit
  assert 0 < dec["client_cpu_share_median"] < 2 and ("client-bound" in dec["flags"]) == (dec["client_cpu_share_median"] > stats.CLIENT_BOUND_SHARE)

def test_goodput_counts_exactly_the_requests_within_both_slos():
  R = client.Result  # times in binary fractions, so the bounds are exact
  rs = [R(0, 0.0, times_s=[0.125, 0.15625, 0.1875], end_s=0.2),  # TTFT 125, ITL 31.25 (the bound): in
        R(1, 0.0, times_s=[0.375, 0.390625], end_s=0.4),         # TTFT 375: out
        R(2, 0.0, times_s=[0.25, 0.3125, 0.375], end_s=0.375),   # TTFT 250 (the bound), ITL 62.5: out
        R(3, 0.0, times_s=[0.25, 0.28125], end_s=1.0),           # both bounds: in
        R(4, 0.0, times_s=[0.0625], error="cut short")]          # failed: out
  assert [client.meets_slo(r, 250, 31.25) for r in rs] == [True, False, False, True, False]
  assert client.meets_slo(rs[0], None, None) is None and client.meets_slo(rs[1], None, 20) is True
  runs = [{"start_ms": r.start_s * 1e3, "e2e_latency_ms": r.end_s and r.end_s * 1e3, "error": r.error, "meets_slo": client.meets_slo(r, 250, 31.25)}
          for r in rs]
  fig = collate.load_figures(runs)
  assert fig["completed"] == 4 and fig["failed"] == 1 and fig["wall_s"] == 1.0 and fig["goodput_rps"] == 2.0 and fig["prompts_per_s"] == 4.0

def test_load_levels_on_one_server_do_not_serve_each_other(server, tmp_path, monkeypatch):
  """Two load levels of one seed, one after the other on one server: the second's prompts are not the first's, so the
  prompt cache the first left serves none of them."""
  monkeypatch.setenv("INFERBENCH_TEST_KEY", KEY)
  assert load.main(["--endpoint", server[0], "--api-key-env", "INFERBENCH_TEST_KEY", "--n-tokens", "1", "--warmup-requests", "0", "--requests", "8",
                    "--concurrency", "1", "2", "-o", str(tmp_path)]) == 0
  runs = [r for p in tmp_path.glob("inferbench_serve_*.txt") for r in parse(p).runs]
  assert len(runs) == 16 and len({r["prompt_sha256"] for r in runs}) == 16
  assert not any(r["cache_hit"] for r in runs) and max(r["usage_cached_tokens"] for r in runs) <= 1

def test_a_client_that_used_most_of_a_core_is_client_bound():
  """The share is the client's last CPU reading over the load level's time; above stats.CLIENT_BOUND_SHARE it is flagged."""
  runs = [{"start_ms": 0.0, "e2e_latency_ms": 500.0, "client_cpu_s": 0.25, "cache_hit": False},
          {"start_ms": 500.0, "e2e_latency_ms": 1500.0, "client_cpu_s": 1.2, "cache_hit": True}]
  fig = collate.load_figures(runs)
  assert fig["client_cpu_share"] == 0.6 and fig["cache_hits"] == 1 and collate.load_figures(runs[:1])["client_cpu_share"] == 0.5
  row = {"tok_s_ci_pct": 1.0, "imprecise": False, "cv": 0.0, "noisy": False, "drift": False, "outliers": 0, "first_run_slow": False,
         "recompiled_runs": 0, "n_runs": 3, "mixed": "", "cache_hit_requests": 0.0}
  assert analysis._flags(row | {"client_cpu_share_median": 0.6}) == "client-bound (the client used 0.60 of a core)"
  assert analysis._flags(row | {"client_cpu_share_median": 0.5}) == "" and "cache hits: 2" in analysis._flags(row | {"cache_hit_requests": 2.0})

def test_arrivals_are_seeded_poisson():
  a = client.arrivals(5.0, 1, 2000, None)
  assert a == client.arrivals(5.0, 1, 2000, None) != client.arrivals(5.0, 2, 2000, None)
  gaps = [y - x for x, y in zip([0.0, *a], a)]
  assert abs(sum(gaps) / len(gaps) - 0.2) < 0.02 and all(g > 0 for g in gaps)
  assert client.arrivals(5.0, 1, None, 3.0) == [t for t in a if t < 3.0]

def test_two_models_at_once(tiny_model, tmp_path):
  q8 = prepare.quantized(tiny_model, "Q8_0")
  cmd = [sys.executable, "-m", "inferbench.serving.server", "--model", str(tiny_model), str(q8), "--max-batch", "2", "--ctx", "64", "--threads", "1"]
  with proc.launch(cmd, tmp_path / "server.log", ready_s=60) as srv:
    url = srv.url
    ids = [m["id"] for m in call(url, "/models", key=None)[1]["data"]]
    assert ids == [tiny_model.stem, q8.stem]
    for model in ids: assert call(url, "/completions", PROMPT | {"model": model}, key=None)[1]["model"] == model
    assert health(url)["active"] == 0

@pytest.mark.parametrize("args", [["--max-batch", "0"], ["--size", "999M"], ["--model", "/nonexistent.gguf"], ["--api-key-env", "INFERBENCH_UNSET_VAR"]])
def test_bad_arguments_are_one_line(args, capsys):
  assert api_server.main(args) == 2
  err = capsys.readouterr().err.strip()
  assert err.startswith("error: ") and len(err.splitlines()) == 1
