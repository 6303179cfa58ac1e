"""Serving workloads with SmolLM2's real tokenizer: distinct seeded prompts of exact length, their length distributions,
the shared prefix, a JSONL dataset, the repeated prompt, and the workload as part of the configuration identity."""
import itertools, json
import numpy as np
import pytest
from inferbench.analyse import analysis
from inferbench.backends.llamacpp import Tokenizer
from inferbench.core.config import LATER, RunConfig
from inferbench.serving import client
from inferbench.serving.workload import Prompts, Workload, WorkloadError, dataset, stream_of

@pytest.fixture(scope="module")
def tok(embedded_model): return Tokenizer(embedded_model)

def common(a: list[int], b: list[int]) -> int: return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))

def test_distinct_prompts_are_exact_seeded_and_share_nothing(embedded_model, tok):
  w = Workload(tokens=37, tokenizer=str(embedded_model))
  p = Prompts(w, 42)
  ids = [p.ids(i) for i in range(200)]
  assert {len(x) for x in ids} == {37} and all(tok.encode(p.text(x)) == x for x in ids)  # the text is exactly those tokens
  assert max(common(a, b) for a, b in itertools.combinations(ids, 2)) == 0  # no prompt cache can serve one from another
  assert all(common(p.warmup(j), x) == 0 for j in range(3) for x in ids)  # nor warm-ups (and the reference) the measured
  assert ids[:5] == [Prompts(w, 42).ids(i) for i in range(5)] and ids[0] != Prompts(w, 43).ids(0)  # the seed makes them
  assert len(set(tok.decode(x) for x in ids)) == 200 and len({t for x in ids for t in x}) > 2000  # varied, not a few words

@pytest.mark.parametrize("lengths, spread, lo, hi", [("uniform", 8, 29, 45), ("normal", 6, 19, 55)])
def test_lengths_follow_their_distribution(embedded_model, tok, lengths, spread, lo, hi):
  p = Prompts(Workload(tokens=37, lengths=lengths, spread=spread, tokenizer=str(embedded_model)), 1)
  ids = [p.ids(i) for i in range(600)]
  n = np.array([len(x) for x in ids])
  assert n.min() >= lo and n.max() <= hi and abs(n.mean() - 37) < 1 and all(tok.encode(p.text(x)) == x for x in ids[:50])
  assert abs(n.std() - (spread * 1.0 if lengths == "normal" else np.sqrt(((2 * spread + 1) ** 2 - 1) / 12))) < 0.1 * spread
  if lengths == "uniform": assert set(n) == set(range(lo, hi + 1))

def test_a_shared_prefix_is_exactly_shared(embedded_model, tok):
  p = Prompts(Workload(tokens=40, shared_prefix=16, tokenizer=str(embedded_model)), 3)
  ids = [p.ids(i) for i in range(100)]
  assert {common(a, b) for a, b in itertools.combinations(ids, 2)} == {16} and {len(x) for x in ids} == {40}
  assert p.expected_cached == 16 + 1 and all(tok.encode(p.text(x)) == x for x in ids[:20])  # and a word two prompts may share by chance

def test_each_load_level_sends_prompts_of_its_own(embedded_model):
  """The load levels one server measures in turn (one seed, another concurrency) share no prompts a cache could serve."""
  w = Workload(tokens=37, tokenizer=str(embedded_model))
  one, four = (Prompts(w, 42, stream_of(c, None)) for c in (1, 4))
  a, b = [one.ids(i) for i in range(64)], [four.ids(i) for i in range(64)]
  assert max(common(x, y) for x in a for y in b) <= 1 and a[0] == Prompts(w, 42, stream_of(1, None)).ids(0)
  assert stream_of(1, None) != stream_of(None, 1.0) != stream_of(None, 2.0)

def test_a_dataset_is_sent_in_a_seeded_order(embedded_model, tok, tmp_path):
  path = tmp_path / "d.jsonl"
  texts = [f"Question {i}: why is the sky blue on day {i}?" for i in range(5)]
  path.write_text("".join(json.dumps({"prompt": t, "id": i}) + "\n" for i, t in enumerate(texts)) + "\n")
  w = dataset(path, embedded_model)
  p = Prompts(w, 7)
  sent = [tok.decode(p.ids(i)) for i in range(10)]
  assert sorted(sent[:5]) == sorted(texts) and sent[5:] == sent[:5]  # each once, then again in the same order
  assert [tok.decode(Prompts(w, 8).ids(i)) for i in range(5)] != sent[:5] and p.warmup(0) == p.ids(4)  # warm-ups from the order's end
  assert w.describe() == f"dataset d.jsonl sha256 {w.dataset_sha256[:8]}" and p.mean_tokens == round(np.mean([len(tok.encode(t)) for t in texts]))

@pytest.mark.parametrize("lines, why", [("", "no prompts"), ("{not json}\n", "d.jsonl:1: not JSON"), ('{"text": "x"}\n', 'd.jsonl:1: no "prompt"'),
                                        ('{"prompt": "a"}\n[1]\n', "d.jsonl:2: no \"prompt\"")])
def test_a_bad_dataset_is_one_line_naming_it(embedded_model, tmp_path, lines, why):
  (tmp_path / "d.jsonl").write_text(lines)
  with pytest.raises(WorkloadError, match=why) as e: dataset(tmp_path / "d.jsonl", embedded_model)
  assert len(str(e.value).splitlines()) == 1
  with pytest.raises(WorkloadError, match="No such file"): dataset(tmp_path / "none.jsonl", embedded_model)

@pytest.mark.parametrize("kw, why", [(dict(tokens=20, shared_prefix=20), "longer than its shared prefix"),
                                     (dict(tokens=20, lengths="uniform", spread=8, shared_prefix=12), "the shortest is 12"),
                                     (dict(kind="repeated", shared_prefix=4), "not --prompt's"), (dict(lengths="zipf"), "fixed, uniform, normal")])
def test_impossible_workloads_say_why(kw, why):
  with pytest.raises(WorkloadError, match=why): Workload(**kw)

def test_the_workload_is_the_configurations_identity(embedded_model):
  """The client's flags -> the workload text in the log header; logs of two workloads never pool, and logs written before
  workloads were recorded keep their configuration ids."""
  flags = lambda *a: client.parser(None).parse_args(["--endpoint", "http://x/v1", *a])
  describe = lambda *a: client.workload_of(flags(*a), embedded_model).describe()
  assert [describe(), describe("--shared-prefix-tokens", "8"), describe("--prompt-lengths", "normal", "--prompt-tokens-spread", "5"),
          describe("--prompt", "Hello")] == ["distinct", "distinct, shared prefix 8", "distinct normal sd 5", "repeated"]
  (distinct,), (prefixed,) = (client.plan(flags("--shared-prefix-tokens", n), "endpoint") for n in ("0", "8"))
  assert distinct.header()["workload"] == "distinct" and prefixed.header()["workload"] == "distinct, shared prefix 8"
  assert distinct.header()["n_prompt_tokens"] == 37 == len(distinct.prompt_ids) and distinct.settings() != prefixed.settings()
  before = {k: "x" for k in analysis.KEY} | dict.fromkeys(LATER, "")  # a log written before any later identity column
  logs = analysis.pd.DataFrame([before | {"workload": w} for w in ("", "distinct", "distinct, shared prefix 8")])
  ids = analysis.config_ids(logs)
  # three configurations; the blank one's id is the one the identity gave before it had a workload column
  assert ids.nunique() == 3 and ids[0] == analysis.hashlib.sha1("\x1f".join(["x"] * (len(analysis.KEY) - len(LATER))).encode()).hexdigest()[:10]
  assert RunConfig().settings().get("workload", "unset") == "unset"  # a configuration without one resumes logs written before

@pytest.mark.parametrize("flags, why", [(["--shared-prefix-tokens", "40"], "--shared-prefix-tokens 40"), (["--dataset", "/nonexistent.jsonl"], "--dataset /nonexistent.jsonl"),
                                        (["--dataset", "/nonexistent.jsonl", "--prompt", "x"], "--dataset or --prompt")])
def test_the_load_clients_bad_workload_is_one_line(tmp_path, capsys, flags, why):
  from inferbench.run import load
  assert load.main(["--endpoint", "http://127.0.0.1:9/v1", "-o", str(tmp_path), *flags]) == 2
  err = capsys.readouterr().err.strip()
  assert err.startswith("error: ") and why in err and len(err.splitlines()) == 1 and not list(tmp_path.iterdir())
