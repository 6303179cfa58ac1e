"""Request bodies two widely used load clients send, as their source builds them (read, not copied), for the server tests
to replay. MODEL, PROMPT and N stand for what each run fills in.

GuideLLM 0.8.1 (the PyPI wheel's guidellm/backends/openai/request_handlers.py): TextCompletionsRequestHandler.format and
ChatCompletionsRequestHandler.format, streaming, a fixed output length (data.output_metrics.text_tokens set, as its
synthetic data sets it). The chat prompt is a user message whose content is a list of text parts. Its HTTP backend
first GETs /health and /v1/models, and reads usage from any chunk that has it, prompt_tokens_details.cached_tokens too.

vLLM's `vllm bench serve` (vllm/benchmarks/lib/endpoint_request_func.py: async_request_openai_completions and
async_request_openai_chat_completions, with --ignore-eos), whose serve.py puts its sampling parameters in extra_body,
temperature 0 unless given. It splits the stream into events on blank lines ("\\n\\n") and skips ": ping" comments.
"""
MODEL, PROMPT, N = "$MODEL", "$PROMPT", "$N"

def fill(body, model: str, prompt: str, n: int):
  """The body with MODEL, PROMPT and N replaced, wherever they are nested."""
  if isinstance(body, dict): return {k: fill(v, model, prompt, n) for k, v in body.items()}
  if isinstance(body, list): return [fill(v, model, prompt, n) for v in body]
  return {MODEL: model, PROMPT: prompt, N: n}.get(body, body) if isinstance(body, str) else body

GUIDELLM = {
  "/completions": {"model": MODEL, "stream": True, "stream_options": {"include_usage": True, "continuous_usage_stats": True},
                   "max_tokens": N, "stop": None, "ignore_eos": True, "prompt": PROMPT},
  "/chat/completions": {"model": MODEL, "stream": True, "stream_options": {"include_usage": True, "continuous_usage_stats": True},
                        "max_completion_tokens": N, "stop": None, "ignore_eos": True,
                        "messages": [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}]},
}

VLLM_BENCH = {
  "/completions": {"model": MODEL, "prompt": PROMPT, "repetition_penalty": 1.0, "max_tokens": N, "logprobs": None, "stream": True,
                   "stream_options": {"include_usage": True}, "ignore_eos": True, "temperature": 0.0},
  "/chat/completions": {"model": MODEL, "messages": [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}],
                        "max_completion_tokens": N, "stream": True, "stream_options": {"include_usage": True}, "ignore_eos": True,
                        "temperature": 0.0},
}
