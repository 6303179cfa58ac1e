"""Task accuracy through EleutherAI's lm-evaluation-harness (lm-eval), on tasks generated here from a seed.

Why not the PyTorch backend's transformers model: transformers dequantizes every GGUF type to float on load, so Q4_K_M
and F16 would score the same and the column could not tell quantizations apart. Why not the OpenAI-compatible server
(lm-eval's local-completions, which it answers: tests/test_lm_eval_server.py): a server and a HF tokenizer per run, and
it tokenizes a continuation with its context where GGUF below tokenizes it alone. So lm-eval drives a
small LM subclass (`GGUF`, registered as "inferbench-gguf") whose loglikelihood and generate_until call llama-cpp-python
on the GGUF file itself: the quantized file's own numerics, in process, offline.

The tasks (`make_tasks`) are written as local JSONL + task YAML, versioned by GENERATOR and the seed; the sweep CSV
names both. Each example's correctness is kept, so a quantization is compared with F16 on the same examples (`paired`).
"""
from __future__ import annotations
import functools, json, logging, math, os, random, string
from dataclasses import dataclass
from pathlib import Path
import numpy as np
from inferbench.core import files

GENERATOR = "inferbench-tasks-v2"  # bump when a task's wording or generation changes: old results are then not comparable

# Calibrated on SmolLM2-135M F16: it compares numbers and names the letter after another at chance or below, but
# completes a run of letters, an arithmetic sequence, and knows irregular plurals
IRREGULAR = {"mouse": "mice", "child": "children", "foot": "feet", "goose": "geese", "person": "people", "tooth": "teeth", "man": "men",
             "woman": "women", "leaf": "leaves", "knife": "knives", "wolf": "wolves", "life": "lives", "ox": "oxen", "cactus": "cacti",
             "half": "halves", "wife": "wives", "loaf": "loaves", "shelf": "shelves", "thief": "thieves", "die": "dice", "louse": "lice",
             "calf": "calves", "elf": "elves", "scarf": "scarves"}

def _plural(rng: random.Random) -> dict:
  one = rng.choice(sorted(IRREGULAR))
  options = [IRREGULAR[one], one + "s"]  # the regular form is the trap
  rng.shuffle(options)
  return {"question": f"I have one {one} and you have two", "choices": options, "answer": options.index(IRREGULAR[one])}

def _sequence(rng: random.Random) -> dict:
  start, step = rng.randint(1, 30), rng.randint(1, 5)
  seq, nxt = [start + i * step for i in range(4)], start + 4 * step
  options = [nxt, *rng.sample(sorted({nxt + 1, nxt - 1, nxt + step + 1, seq[-1], nxt + 2} - {nxt}), 3)]
  rng.shuffle(options)
  return {"question": f"{', '.join(map(str, seq))},", "choices": [str(o) for o in options], "answer": options.index(nxt)}

def _letters(rng: random.Random) -> dict:
  i = rng.randint(3, 21)  # the four letters shown end at i; the options reach from i - 1 to i + 3
  letters = string.ascii_uppercase
  options = [letters[j] for j in (i + 1, i - 1, i + 2, i + 3)]
  rng.shuffle(options)
  return {"question": ", ".join(letters[i - 3:i + 1]) + ",", "choices": options, "answer": options.index(letters[i + 1])}

def _step(rng: random.Random) -> dict:  # generation: the next term of an arithmetic sequence
  start, step = rng.randint(1, 40), rng.randint(2, 9)
  return {"question": ", ".join(str(start + i * step) for i in range(4)) + ",", "answer": f" {start + 4 * step}"}

# a choice has no leading space: lm-eval puts its target_delimiter, " ", between the question and each choice
MC = {"ib_plural": (_plural, 2), "ib_sequence": (_sequence, 4), "ib_letters": (_letters, 4)}  # task -> (generator, choices)
GEN = {"ib_step": _step}
TASKS = [*MC, *GEN]
def chance(task: str) -> float: return 1 / MC[task][1] if task in MC else 0.0

def _yaml(task: str, data: Path) -> str:
  head = f"task: {task}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {json.dumps(str(data))}\ntest_split: test\n"
  if task in MC:
    return head + ("output_type: multiple_choice\ndoc_to_text: \"{{question}}\"\ndoc_to_choice: choices\ndoc_to_target: answer\n"
                   "metric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n")
  return head + ("output_type: generate_until\ndoc_to_text: \"{{question}}\"\ndoc_to_target: answer\n"
                 "generation_kwargs:\n  until: [\",\", \"\\n\"]\n  max_gen_toks: 6\n  do_sample: false\n"
                 "metric_list:\n  - metric: exact_match\n    aggregation: mean\n    higher_is_better: true\n")

def make_tasks(folder: Path, seed: int, n: int) -> Path:
  """n examples per task, from `seed`, as <task>.jsonl + <task>.yaml in folder/<GENERATOR>-seed<seed>-n<n>; reused if there."""
  out = folder / f"{GENERATOR}-seed{seed}-n{n}"
  for task in TASKS:
    if (out / f"{task}.yaml").is_file(): continue
    rng = random.Random(f"{GENERATOR}:{task}:{seed}")  # one stream per task: adding a task leaves the others' examples alone
    make = MC[task][0] if task in MC else GEN[task]
    files.atomic_write(out / f"{task}.jsonl", "".join(json.dumps(make(rng)) + "\n" for _ in range(n)))
    files.atomic_write(out / f"{task}.yaml", _yaml(task, out / f"{task}.jsonl"))
  return out

def check_tasks(folder: Path):
  """One line naming the first missing or malformed task file, before lm-eval's own much longer traceback."""
  for task in TASKS:
    for path in (folder / f"{task}.yaml", folder / f"{task}.jsonl"):
      if not path.is_file(): raise ValueError(f"task file {path} is missing: delete {folder} to regenerate it")
    for i, line in enumerate((folder / f"{task}.jsonl").read_text().splitlines(), 1):
      try: doc = json.loads(line); assert "question" in doc and "answer" in doc
      except (ValueError, AssertionError, TypeError): raise ValueError(f"task file {folder / f'{task}.jsonl'} line {i} is malformed (want JSON with question and answer): delete {folder} to regenerate it") from None

@functools.cache  # built once: lm-eval's registry refuses a second class under the same name
def _lm_class():
  """The LM subclass, built on first use: importing lm_eval takes seconds and most commands never need it."""
  from lm_eval.api.model import LM
  from lm_eval.api.registry import register_model
  from llama_cpp import Llama

  @register_model("inferbench-gguf")
  class GGUF(LM):
    def __init__(self, path: str, threads: int = 1, ctx: int = 256, seed: int = 0, **_):
      super().__init__()
      self.llm = Llama(str(path), n_ctx=ctx, n_batch=ctx, logits_all=True, n_threads=threads, n_threads_batch=threads, seed=seed, verbose=False)

    def _ll(self, context: str, cont: str) -> tuple[float, bool]:
      ctx_ids = self.llm.tokenize(context.encode(), add_bos=True)
      cont_ids = self.llm.tokenize(cont.encode(), add_bos=False)
      ids = ctx_ids + cont_ids
      # the choices of a question share its context: keep the cache (and the logits) of the common prefix, evaluate the rest
      self.llm.n_tokens = min(self.llm.longest_token_prefix(self.llm.input_ids[:self.llm.n_tokens].tolist(), ids), len(ids) - 1)
      self.llm.eval(ids[self.llm.n_tokens:])
      z = np.asarray(self.llm.scores[len(ctx_ids) - 1:len(ids) - 1], dtype=np.float64)  # position i predicts token i+1
      logp = z - z.max(1, keepdims=True)
      logp -= np.log(np.exp(logp).sum(1, keepdims=True))
      return float(logp[np.arange(len(cont_ids)), cont_ids].sum()), bool((z.argmax(1) == cont_ids).all())

    def loglikelihood(self, requests): return [self._ll(*r.args) for r in requests]
    def loglikelihood_rolling(self, requests): raise NotImplementedError("the sweep's tasks need no rolling log-likelihood")

    def generate_until(self, requests):
      out = []
      for r in requests:
        context, kw = r.args
        c = self.llm.create_completion(context, max_tokens=kw.get("max_gen_toks", 16), temperature=0.0, stop=kw.get("until"))
        out.append(c["choices"][0]["text"])
      return out
  return GGUF

@dataclass(frozen=True)
class Accuracy:
  accuracy: float
  ci95_low: float
  ci95_high: float
  n_examples: int
  per_task: dict[str, str]        # task -> "correct/n"
  correct: dict[str, list[int]]   # task -> 1/0 per example, in the file's order: what `paired` compares

def wilson(k: int, n: int) -> tuple[float, float]:
  from statsmodels.stats.proportion import proportion_confint
  lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
  return float(lo), float(hi)

def evaluate(model: Path, folder: Path, threads: int = 1, seed: int = 0) -> Accuracy:
  """Every task in `folder` through lm-eval's simple_evaluate on the GGUF file; accuracy over all examples, with Wilson's 95%."""
  check_tasks(folder)
  os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # local JSONL only: never ask the Hub
  os.environ.setdefault("TQDM_DISABLE", "1")  # lm-eval's and datasets' progress bars would bury the sweep's own lines
  from lm_eval import simple_evaluate
  from lm_eval.tasks import TaskManager
  logging.getLogger("lm_eval").setLevel(logging.ERROR)  # its notes on our YAML defaults, per task per run
  lm = _lm_class()(str(model), threads=threads, seed=seed)
  res = simple_evaluate(model=lm, tasks=TASKS, task_manager=TaskManager(include_path=str(folder), include_defaults=False),
                        num_fewshot=0, log_samples=True, random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed,
                        fewshot_random_seed=seed, bootstrap_iters=0)
  correct = {}
  for task in TASKS:
    metric = "acc" if task in MC else "exact_match"
    correct[task] = [int(s[metric]) for s in sorted(res["samples"][task], key=lambda s: s["doc_id"])]
  allc = [c for cs in correct.values() for c in cs]
  return Accuracy(sum(allc) / len(allc), *wilson(sum(allc), len(allc)), len(allc), {t: f"{sum(c)}/{len(c)}" for t, c in correct.items()}, correct)

@dataclass(frozen=True)
class Paired:
  diff: float          # accuracy - the reference's, on the same examples
  ci95_low: float
  ci95_high: float
  p_mcnemar: float     # exact McNemar test of the discordant pairs
  discordant: int
  verdict: str

def paired(ref: dict[str, list[int]], other: dict[str, list[int]], seed: int = 0, resamples: int = 2000) -> Paired:
  """`other` minus `ref` on the same examples: a paired percentile bootstrap interval of the accuracy difference, and
  McNemar's exact test; the verdict from its p-value alone (a family of one: a sweep adjusts it, holm)."""
  from scipy.stats import bootstrap
  from statsmodels.stats.contingency_tables import mcnemar
  if ref.keys() != other.keys() or any(len(ref[t]) != len(other[t]) for t in ref): raise ValueError("the two results are not on the same examples")
  a, b = (np.array([c for t in sorted(ref) for c in d[t]]) for d in (ref, other))
  d = b - a
  if d.any():
    ci = bootstrap((d,), np.mean, n_resamples=resamples, method="percentile", random_state=np.random.default_rng(seed)).confidence_interval
    lo, hi = float(ci.low), float(ci.high)
  else: lo = hi = 0.0  # identical answers: every resample is 0 (scipy refuses a degenerate sample)
  table = [[int(((a == 1) & (b == 1)).sum()), int(((a == 1) & (b == 0)).sum())], [int(((a == 0) & (b == 1)).sum()), int(((a == 0) & (b == 0)).sum())]]
  p = float(mcnemar(table, exact=True).pvalue)
  return Paired(float(d.mean()), lo, hi, p, table[0][1] + table[1][0], verdict(float(d.mean()), p))

def verdict(diff: float, p: float, alpha: float = 0.05) -> str:
  return ("drop" if diff < 0 else "gain") if p < alpha else "no detectable drop"

def holm(p: list[float]) -> list[float]:
  """Holm's step-down adjustment of one family's p-values (several quantizations, each against F16): the chance of
  any false 'drop' among them stays under 5%."""
  from statsmodels.stats.multitest import multipletests
  return multipletests(p, method="holm")[1].tolist() if p else []

def detectable_drop(n: int, discordance: float | None = None) -> float:
  """The smallest drop a paired test of n examples finds with 80% power at 5% (Connor's approximation,
  d = (z_a + z_b) sqrt(q / n) for discordance q); without a measured q, the best case q = d: d = (z_a + z_b)^2 / n."""
  z = 1.959964 + 0.841621
  return z * z / n if discordance is None else z * math.sqrt(discordance / n)
