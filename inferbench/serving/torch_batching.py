"""Dynamic batching over PyTorch (transformers' model code on the same GGUF, backends/pytorch.py), eager: a
DynamicCache per batch, every step through the model's Python forward.

The serving design's dynamic batching, one batch at a time (batching.Scheduler's queue, thread and wait):

  - idle, a first request waits up to batch_timeout_s for more; the batch closes when max_batch are queued or the
    timeout expires, and takes up to max_batch of them;
  - its prompts, left-padded to the longest, are prefilled in one forward (an attention mask hides the padding,
    position_ids count each row's own tokens), then every sequence decodes in lockstep, one forward per step;
  - a sequence that finishes (EOS, max_tokens) or is cancelled leaves the batch before the next step: its row is cut
    from the tensors and the cache (compaction, DynamicCache.batch_select_indices), so no step computes it again;
  - new requests wait for the next batch: none joins mid-flight. That is the difference from the llama.cpp engine
    (batching.BatchEngine), where a request joins at the next step; and no prompt cache here.

Greedy at temperature 0, else sampled from softmax(logits / temperature) (top_p: its nucleus, as llamacpp.sample keeps
it) by a torch.Generator seeded per request.
Token ids, text and EOS come from llama.cpp's tokenizer over the same GGUF, as the llama.cpp engine's do.
"""
from __future__ import annotations
import time
from pathlib import Path
from inferbench.backends import pytorch
from inferbench.backends.llamacpp import Tokenizer
from inferbench.core.formats import ModelError
from inferbench.serving.batching import Request, Scheduler

class TorchBatchEngine(Scheduler):
  def __init__(self, model: Path, tokenizer: Tokenizer, max_batch: int, ctx_per_seq: int, threads: int, batch_timeout_s: float, max_queue: int,
               dtype: str = "", device: str = "cpu"):
    torch = self.torch = pytorch.core()
    from transformers import DynamicCache
    if device == "cuda" and not torch.cuda.is_available():
      raise ModelError(f"--device cuda, but this torch ({torch.__version__}) sees no CUDA device: use the machine's CUDA build of torch, or --device cpu")
    self.device, self.dtype = device, dtype or ("float16" if device == "cuda" else "float32")
    torch.set_num_threads(threads)
    self.model, self.weights = pytorch.load_model(model, self.dtype, "sdpa", device)
    self.new_cache = lambda: DynamicCache(config=self.model.config)
    self.rows: list[Request] = []  # the batch in flight, in its tensors' row order
    self.cache = self.mask = self.pos = None
    super().__init__(tokenizer, max_batch, ctx_per_seq, batch_timeout_s, max_queue)

  def _admit(self) -> list[Request]:
    """A new batch only when none is in flight: up to max_batch of the queue (under self.cond)."""
    if any(self.slots): return []
    admitted = []
    while self.queue and len(admitted) < self.max_batch:
      if (r := self.queue.popleft()).cancelled: continue
      r.slot, r.t_admit = len(admitted), time.perf_counter()
      r.rng = self.torch.Generator(self.device).manual_seed(r.seed)
      self.slots[r.slot] = r
      admitted.append(r)
    return admitted

  def _step(self, admitted: list[Request]):
    torch = self.torch
    with torch.inference_mode():  # per thread: the scheduler's forwards keep no autograd state
      if admitted: logits = self._prefill(admitted)
      elif not (keep := [i for i, r in enumerate(self.rows) if self.slots[r.slot] is r]): logits = None
      else:
        if len(keep) < len(self.rows):  # finished and cancelled rows leave the tensors and the cache
          idx = torch.tensor(keep, device=self.device)
          self.cache.batch_select_indices(idx)
          self.mask, self.pos, self.rows = self.mask[idx], self.pos[idx], [self.rows[i] for i in keep]
        self.mask = torch.cat([self.mask, self.mask.new_ones(len(keep), 1)], 1)
        ids = torch.tensor([[r.last] for r in self.rows], device=self.device)
        logits = self._forward(ids, self.pos[:, None], self.mask.shape[1] - 1)
        self.pos = self.pos + 1
      if logits is not None:
        self.n_steps += 1
        greedy = logits.argmax(-1).tolist()
        for r, row, g in zip(self.rows, logits, greedy):
          self._sampled(r, g if r.temperature <= 0 else torch.multinomial(nucleus(torch.softmax(row / r.temperature, -1), r.top_p), 1, generator=r.rng).item())
    if not any(self.slots): self.rows, self.cache, self.mask, self.pos = [], None, None, None  # the batch ended: its cache goes

  def _prefill(self, admitted: list[Request]):
    """The batch's prompts, left-padded to the longest, in one forward: the last position's logits of each row."""
    torch, n = self.torch, max(len(r.prompt) for r in admitted)
    self.rows, self.cache = admitted, self.new_cache()
    ids = torch.tensor([[0] * (n - len(r.prompt)) + r.prompt for r in admitted], device=self.device)  # padding: any id, masked
    self.mask = torch.tensor([[0] * (n - len(r.prompt)) + [1] * len(r.prompt) for r in admitted], device=self.device)
    pos = (self.mask.cumsum(1) - 1).clamp(min=0)
    logits = self._forward(ids, pos, 0)
    self.pos = pos[:, -1] + 1
    return logits

  def _forward(self, ids, pos, start: int):
    out = self.model(input_ids=ids, attention_mask=self.mask, position_ids=pos, past_key_values=self.cache, use_cache=True, logits_to_keep=1,
                     cache_position=self.torch.arange(start, start + ids.shape[1], device=self.device))
    return out.logits[:, -1].float()

def nucleus(p, top_p: float):
  """The most likely tokens whose probabilities sum to top_p (the one that crosses it included); the rest get 0."""
  if top_p >= 1: return p
  sp, order = p.sort(descending=True, stable=True)
  return p.scatter(0, order, sp.where(sp.cumsum(0) - sp < top_p * p.sum(), 0.0))
