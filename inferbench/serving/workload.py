"""Serving workloads: the prompt each request of a load level sends, seeded, so the same seed sends the same prompts.

  distinct   (the default) every request its own prompt of exactly the length drawn for it: fixed, uniform within
             +-spread, or normal (standard deviation spread, cut at 3 of them); made of the tokenizer's whole-word tokens
             (" the", " history"), which its text encodes back to exactly, so a server given the text counts the same
             tokens. Each request's first token after the shared prefix is its own (a seeded permutation of those
             words): no two prompts of a load level share more than the prefix, so no prompt cache can serve one from
             another. Each load level draws its own prompts (its stream: the same seed, another concurrency or rate),
             so the load levels one server measures in turn do not serve each other either; two random prompts of two
             levels share a first token by chance once in about 20,000 pairs, which is no cache hit worth the name.
  shared prefix  --shared-prefix-tokens N: the first N tokens the same in every prompt (seeded), the rest distinct,
             to study prefix caching on purpose.
  dataset    --dataset FILE.jsonl: each line a JSON object with a "prompt" text (as vLLM's custom data set and
             GuideLLM's take them), sent in a seeded order, cycled; lengths are the data's own.
  repeated   --prompt TEXT: that one prompt for every request (the workload of earlier versions): each request after the
             first finds it in a prompt cache, so the figures are a cache's.

describe() spells the workload for the configuration identity (the log header's `workload`): two workloads are
pooled only when it is the same. Warm-up and reference requests get prompts of their own, never a measured one.
"""
from __future__ import annotations
import atexit, functools, hashlib, json, re, zlib
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal
import numpy as np

LENGTHS = ("fixed", "uniform", "normal")
CHANCE = 1  # prompt tokens two unrelated prompts may share (a first word): no cache hit
WORD = re.compile(rb" [a-z]{2,}")  # a whole-word piece: a pre-tokenizer split of its own, so words concatenate exactly

class WorkloadError(ValueError):
  """A workload that cannot be made: the message names the flag or file and the way out."""

@dataclass(frozen=True)
class Workload:
  kind: Literal["distinct", "dataset", "repeated"] = "distinct"
  tokens: int = 37                   # distinct: the mean length
  lengths: str = "fixed"             # distinct: fixed | uniform | normal
  spread: int = 0                    # uniform: +-spread tokens; normal: the standard deviation
  shared_prefix: int = 0             # distinct: tokens every prompt begins with
  dataset: str = ""                  # dataset: the JSONL file
  dataset_sha256: str = ""
  prompt_ids: tuple[int, ...] = ()   # repeated: the prompt
  tokenizer: str = ""                # the GGUF whose tokenizer makes the prompts (not the workload's identity: its model's is)

  def __post_init__(self):
    if self.lengths not in LENGTHS: raise WorkloadError(f"--prompt-lengths {self.lengths}: use one of {', '.join(LENGTHS)}")
    if self.tokens < 1 or self.spread < 0 or self.shared_prefix < 0: raise WorkloadError("--prompt-tokens >= 1, --prompt-tokens-spread and --shared-prefix-tokens >= 0")
    if self.kind != "distinct" and (self.shared_prefix or self.spread):
      raise WorkloadError(f"--shared-prefix-tokens and --prompt-tokens-spread shape generated prompts, not {'--dataset' if self.kind == 'dataset' else '--prompt'}'s: drop them")
    shortest = self.tokens - (self.spread if self.lengths == "uniform" else 0)  # a normal length is cut above the prefix
    if self.kind == "distinct" and shortest <= self.shared_prefix:
      raise WorkloadError(f"--shared-prefix-tokens {self.shared_prefix}: every prompt must be longer than its shared prefix, and the shortest is {shortest} "
                          "tokens: shorten the prefix, or lengthen the prompts")

  def describe(self) -> str:
    """The workload as the configuration identity spells it: "distinct", "distinct uniform +-8, shared prefix 16",
    "dataset chats.jsonl sha256 1a2b3c4d", "repeated"."""
    if self.kind == "repeated": return "repeated"
    if self.kind == "dataset": return f"dataset {Path(self.dataset).name} sha256 {self.dataset_sha256[:8]}"
    spread = {"fixed": "", "uniform": f" uniform +-{self.spread}", "normal": f" normal sd {self.spread}"}[self.lengths] if self.spread else ""
    return "distinct" + spread + (f", shared prefix {self.shared_prefix}" if self.shared_prefix else "")

  def to_dict(self) -> dict: return {**asdict(self), "prompt_ids": list(self.prompt_ids)}
  @staticmethod
  def from_dict(d: dict) -> "Workload":  # what to_dict wrote, less what else the record keeps beside it (mean_tokens)
    return Workload(**{k: v for k, v in d.items() if k in Workload.__dataclass_fields__} | {"prompt_ids": tuple(d.get("prompt_ids", ()))})

def dataset(path: Path, tokenizer: Path) -> Workload:
  """A JSONL file of prompts, checked whole here (one line naming the problem), identified by its sha256."""
  try: data = Path(path).read_bytes()
  except OSError as e: raise WorkloadError(f"--dataset {path}: {e.strerror}: pass a JSONL file, one {{\"prompt\": TEXT}} per line") from None
  _texts(path, data)
  return Workload("dataset", dataset=str(path), dataset_sha256=hashlib.sha256(data).hexdigest(), tokenizer=str(tokenizer))

def _texts(path, data: bytes) -> list[str]:
  out = []
  for n, line in enumerate(data.decode(errors="replace").splitlines(), 1):
    if not line.strip(): continue
    try: obj = json.loads(line)
    except json.JSONDecodeError: raise WorkloadError(f"--dataset {path}:{n}: not JSON: write one {{\"prompt\": TEXT}} object per line") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("prompt"), str) or not obj["prompt"]:
      raise WorkloadError(f"--dataset {path}:{n}: no \"prompt\" text: write one {{\"prompt\": TEXT}} object per line")
    out.append(obj["prompt"])
  if not out: raise WorkloadError(f"--dataset {path}: no prompts: write one {{\"prompt\": TEXT}} object per line")
  return out

@functools.lru_cache(maxsize=4)
def _tokenizer(path: str):
  from inferbench.backends.llamacpp import Tokenizer
  return Tokenizer(Path(path))
atexit.register(_tokenizer.cache_clear)  # freed while llama.cpp is still loaded, not in the interpreter's teardown

@functools.lru_cache(maxsize=4)
def _words(path: str) -> np.ndarray:
  """The vocabulary's whole-word tokens that encode back to themselves alone, in id order (a second or so)."""
  tok = _tokenizer(path)
  lead = tok.encode("")
  ok = [i for i in range(tok.lib.llama_vocab_n_tokens(tok.vocab)) if WORD.fullmatch(p := tok.piece(i)) and tok.encode(p.decode()) == [*lead, i]]
  if len(ok) < 256: raise WorkloadError(f"{Path(path).name}'s tokenizer has {len(ok)} whole-word tokens, too few for distinct prompts: use --dataset")
  return np.array(ok)

class Prompts:
  """A workload's prompts for its seed and stream (a load level's own, stream_of): ids(i) is measured request i's,
  warmup(j) warm-up request j's (the reference request is warm-up 0), text(ids) the text that encodes back to exactly
  those ids."""
  def __init__(self, w: Workload, seed: int, stream: int = 0):
    self.w, self.seed, self.stream = w, seed, stream
    self.tok = _tokenizer(w.tokenizer) if w.kind != "repeated" or w.tokenizer else None
    self.lead = self.tok.encode("") if self.tok else []  # a BOS the tokenizer puts before any text: part of every prompt and its length

  @cached_property
  def firsts(self) -> np.ndarray: return np.random.default_rng([self.seed, 1, self.stream]).permutation(_words(self.w.tokenizer))  # each request's own first token

  @cached_property
  def prefix(self) -> list[int]: return np.random.default_rng([self.seed, 2]).choice(_words(self.w.tokenizer), self.w.shared_prefix).tolist()  # every stream's

  @cached_property
  def data(self) -> list[list[int]]:
    texts = _texts(self.w.dataset, Path(self.w.dataset).read_bytes())
    return [self.tok.encode(texts[i]) for i in np.random.default_rng([self.seed, 3, self.stream]).permutation(len(texts))]

  @property
  def mean_tokens(self) -> int:
    """The configuration's prompt length (its n_prompt_tokens): the mean asked, the repeated prompt's, the data's mean."""
    if self.w.kind == "repeated": return len(self.w.prompt_ids)
    return round(float(np.mean([len(d) for d in self.data]))) if self.w.kind == "dataset" else self.w.tokens

  @property
  def expected_cached(self) -> int:
    """The prompt tokens a cache may rightly serve a request from another's: the BOS, the shared prefix asked for, and
    one more that two prompts may share by chance (a first word, or a data set's "The"). More is a cache hit the
    workload did not ask for: a repeated prompt's, a data set's own overlaps, a load level's prompts sent again."""
    return len(self.lead) + self.w.shared_prefix + CHANCE

  def ids(self, i: int) -> list[int]: return self._make(i, 0)
  def warmup(self, j: int) -> list[int]: return self._make(j, 1)

  def _make(self, i: int, stream: int) -> list[int]:
    w = self.w
    if w.kind == "repeated": return list(w.prompt_ids)
    if w.kind == "dataset": return self.data[(i if not stream else -1 - i) % len(self.data)]  # measured from the order's start, warm-ups from its end
    rng = np.random.default_rng([self.seed, 4 + stream, self.stream, i])
    n = w.tokens
    if w.spread and w.lengths == "uniform": n = int(rng.integers(w.tokens - w.spread, w.tokens + w.spread + 1))
    if w.spread and w.lengths == "normal": n = int(np.clip(round(rng.normal(w.tokens, w.spread)), w.tokens - 3 * w.spread, w.tokens + 3 * w.spread))
    n = max(n, len(self.lead) + w.shared_prefix + 1)
    first = self.firsts[(i if not stream else -1 - i) % len(self.firsts)]
    return [*self.lead, *self.prefix, int(first), *rng.choice(_words(w.tokenizer), n - len(self.lead) - w.shared_prefix - 1).tolist()]

  def text(self, ids: list[int]) -> str: return self.tok.decode(ids[len(self.lead):])

def stream_of(concurrency: int | None, request_rate: float | None) -> int:
  """A load level's prompt stream: the same level the same prompts, another level others."""
  return zlib.crc32(f"{concurrency}/{request_rate}".encode())

def prompt_sha(ids: list[int]) -> str: return hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:12]
