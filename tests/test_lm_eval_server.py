"""lm-eval's local-completions against inferbench serve on the tiny model: echo + logprobs as OpenAI's legacy
completions API gives them, equal to llama-cpp-python's own log-likelihoods, and the harness's request flow end to
end, scoring each example as the in-process inferbench-gguf route does."""
import logging, os, sys
from pathlib import Path
import numpy as np
import pytest
from llama_cpp import Llama
from scipy.special import log_softmax
from inferbench.core import proc
from inferbench.measure import harness
from test_serve import call

PROMPT = "In the alphabet, the letter after C is"

@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory):
  log = tmp_path_factory.mktemp("serve") / "server.log"
  cmd = [sys.executable, "-m", "inferbench.serving.server", "--model", str(tiny_model), "--ctx", "128", "--threads", "1"]
  with proc.launch(cmd, log, ready_s=60) as srv: yield srv.url

@pytest.fixture(scope="module")
def direct(tiny_model): return Llama(str(tiny_model), n_ctx=128, n_batch=128, logits_all=True, n_threads=1, verbose=False)

def prompt_logprob(llm: Llama, ids: list[int]) -> float:
  llm.reset(); llm.eval(ids)
  logp = log_softmax(np.asarray(llm.scores[:len(ids) - 1], dtype=np.float64), axis=1)
  return float(logp[np.arange(len(ids) - 1), ids[1:]].sum())

def test_echo_logprobs_are_llama_cpps_own(server, direct):
  ids = direct.tokenize(PROMPT.encode(), add_bos=True)
  status, out, _ = call(server, "/completions", {"prompt": PROMPT, "max_tokens": 1, "logprobs": 1, "echo": True, "temperature": 0, "seed": 1234}, key=None)
  assert status == 200, out
  (c,) = out["choices"]
  lp = c["logprobs"]
  assert len(lp["tokens"]) == len(ids) + 1 and c["text"] == "".join(lp["tokens"]) and c["text"].startswith(PROMPT)
  assert lp["token_logprobs"][0] is None and lp["top_logprobs"][0] is None and all(x <= 0 for x in lp["token_logprobs"][1:])
  assert sum(lp["token_logprobs"][1:len(ids)]) == pytest.approx(prompt_logprob(direct, ids), abs=1e-4)
  assert lp["text_offset"] == [len("".join(lp["tokens"][:i])) for i in range(len(ids) + 1)]
  # greedy: the generated token is the top alternative at its position, at its logprob
  assert lp["top_logprobs"][-1] == {lp["tokens"][-1]: lp["token_logprobs"][-1]}
  assert all(len(t) == 1 and max(t.values()) >= x for t, x in zip(lp["top_logprobs"][1:], lp["token_logprobs"][1:]))
  assert out["usage"] == {"prompt_tokens": len(ids), "completion_tokens": 1, "total_tokens": len(ids) + 1}
  # token lists, one choice each in order; max_tokens 0 scores the prompt only
  other = direct.tokenize(b"Question: Which number is larger, 3 or 80?", add_bos=True)
  status, many, _ = call(server, "/completions", {"prompt": [ids, other], "max_tokens": 0, "logprobs": 2, "echo": True}, key=None)
  assert status == 200 and [c["index"] for c in many["choices"]] == [0, 1]
  assert many["choices"][0]["logprobs"]["token_logprobs"] == lp["token_logprobs"][:-1] and many["choices"][0]["text"] == PROMPT
  assert sum(many["choices"][1]["logprobs"]["token_logprobs"][1:]) == pytest.approx(prompt_logprob(direct, other), abs=1e-4)
  assert all(len(t) == 2 for t in many["choices"][1]["logprobs"]["top_logprobs"][1:])

@pytest.mark.parametrize("body, param", [({"prompt": PROMPT, "logprobs": 1, "stream": True}, "logprobs"),
                                         ({"prompt": PROMPT, "logprobs": 1, "max_tokens": 200}, "max_tokens"),
                                         ({"prompt": [[1, 2], [3]], "max_tokens": 1}, "prompt")])
def test_what_cannot_be_scored_is_a_400_naming_it(server, body, param):
  status, out, _ = call(server, "/completions", body, key=None)
  assert status == 400 and out["error"]["param"] == param and out["error"]["message"].startswith(param + ":"), out

def through_server(url: str, model: str, tokenizer: Path, folder: Path) -> dict:
  import lm_eval.models  # noqa: F401  registers local-completions: lm-eval imports it only into an empty registry, and inferbench-gguf is in it
  from lm_eval import simple_evaluate
  from lm_eval.tasks import TaskManager
  os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
  logging.getLogger("lm_eval").setLevel(logging.ERROR)
  res = simple_evaluate(model="local-completions", tasks=list(harness.MC), num_fewshot=0, log_samples=True, bootstrap_iters=0,
                        model_args=f"base_url={url}/completions,model={model},tokenizer_backend=huggingface,tokenizer={tokenizer},"
                                   "tokenized_requests=True,num_concurrent=1,max_retries=1",
                        task_manager=TaskManager(include_path=str(folder), include_defaults=False))
  return {t: sorted(res["samples"][t], key=lambda s: s["doc_id"]) for t in harness.MC}

@pytest.mark.timeout(600)
def test_lm_eval_through_the_server_scores_as_the_in_process_route(server, tiny_model, direct, tmp_path):
  from transformers import AutoTokenizer
  hf = AutoTokenizer.from_pretrained(tiny_model.parent, gguf_file=tiny_model.name)
  hf.save_pretrained(tmp_path / "tokenizer")
  folder = harness.make_tasks(tmp_path / "tasks", 1, 4)
  samples = through_server(server, tiny_model.stem, tmp_path / "tokenizer", folder)
  for task, docs in samples.items():
    assert len(docs) == 4 and [int(s["acc"]) for s in docs] == [int(np.argmax([r[0][0] for r in s["resps"]]) == s["target"]) for s in docs]
    for s in docs:
      for (ctx, cont), ((ll, _),) in zip(s["arguments"], s["resps"]):
        # lm-eval's own split: the context and the whole encoded, the continuation the whole's tail
        head, whole = hf(ctx, add_special_tokens=False).input_ids, hf(ctx + cont, add_special_tokens=False).input_ids
        assert ll == pytest.approx(prompt_logprob(direct, whole) - prompt_logprob(direct, head), abs=1e-4), (task, ctx, cont)
  # the in-process route tokenizes a continuation alone, lm-eval with its context: on these tasks the two must score the
  # same tokens (a choice with a space of its own after lm-eval's " " would not), so agree example by example
  ours = harness.evaluate(tiny_model, folder)
  assert {t: [int(s["acc"]) for s in docs] for t, docs in samples.items()} == {t: ours.correct[t] for t in harness.MC}
