"""Prompt scoring for /v1/completions' echo and logprobs (OpenAI's legacy completions API, which lm-eval's
local-completions drives): BatchEngine keeps only each sequence's last logits on its shared context, so scoring runs
on a separate llama-cpp-python Llama with logits_all, one per served model, made on first use, one request at a time."""
from __future__ import annotations
import threading
from pathlib import Path
import numpy as np
from scipy.special import log_softmax
from inferbench.backends.llamacpp import Tokenizer

class Scorer:
  def __init__(self, path: Path, tokenizer: Tokenizer, ctx: int, threads: int):
    self.path, self.tokenizer, self.ctx, self.threads = path, tokenizer, ctx, threads
    self.lock, self.llm = threading.Lock(), None

  def choice(self, index: int, prompt: list[int], max_tokens: int, logprobs: int | None, echo: bool, temperature: float, seed: int,
             ignore_eos: bool, min_tokens: int) -> tuple[dict, int]:
    """One prompt's choice as OpenAI's legacy completions API gives it (greedy at temperature 0, else sampled from
    `seed`), and the number of tokens generated."""
    with self.lock:
      if self.llm is None:
        from llama_cpp import Llama
        self.llm = Llama(str(self.path), n_ctx=self.ctx, n_batch=self.ctx, logits_all=True, n_threads=self.threads, n_threads_batch=self.threads, verbose=False)
      self.llm.reset()
      self.llm.eval(prompt)
      ids, rng, finish = list(prompt), np.random.default_rng(seed), "length"
      for i in range(max_tokens):
        z = np.asarray(self.llm.scores[len(ids) - 1], dtype=np.float64)
        tok = int(z.argmax()) if temperature == 0 else int(rng.choice(len(z), p=np.exp(log_softmax(z / temperature))))
        if self.tokenizer.is_eog(tok) and not ignore_eos and i >= min_tokens: finish = "stop"; break
        ids.append(tok)
        if i + 1 < max_tokens: self.llm.eval([tok])
      logp = log_softmax(np.asarray(self.llm.scores[:len(ids) - 1], dtype=np.float64), axis=1)  # row i predicts token i+1
    first = 0 if echo else len(prompt)
    pieces = [self.tokenizer.piece(t) for t in ids]
    text = b"".join(pieces[first:]).decode(errors="replace")
    out = {"index": index, "text": text, "logprobs": None, "finish_reason": finish}
    if logprobs is not None:
      offsets = [len(b"".join(pieces[first:i]).decode(errors="replace")) for i in range(first, len(ids))]
      tops = [None if i == 0 else {self.tokenizer.piece(int(t)).decode(errors="replace"): float(logp[i - 1, t])
                                   for t in np.argsort(-logp[i - 1])[:logprobs]} for i in range(first, len(ids))]
      out["logprobs"] = {"tokens": [p.decode(errors="replace") for p in pieces[first:]],
                         "token_logprobs": [None if i == 0 else float(logp[i - 1, ids[i]]) for i in range(first, len(ids))],
                         "top_logprobs": tops, "text_offset": offsets}
    return out, len(ids) - len(prompt)
