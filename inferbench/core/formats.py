"""Names and formats every layer shares: GGUF file types, quantization spellings, and the `knobs` line of a log header."""
from __future__ import annotations
import re
from inferbench.core.registry import MODELS, QUANT_ALIASES, ModelSource

# GGUF file types (llama.h's LLAMA_FTYPE_*) that llama.cpp's quantizer writes without an importance matrix.
FTYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10, "Q3_K_S": 11, "Q3_K_M": 12,
          "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18, "BF16": 32}

# Most precise first: a quantization is made from the most precise file at hand.
PRECISION = ["F32", "BF16", "F16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_1", "Q5_K_S", "Q5_0", "Q4_K_M", "Q4_1", "Q4_K_S", "Q4_0",
             "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K"]

# MLX's affine quantization (mx.quantize): mlx-q{bits}, optionally -g{group size}; 64 is mlx-lm's default group size.
MLX_BITS, MLX_GROUPS, MLX_GROUP = (2, 3, 4, 5, 6, 8), (32, 64, 128), 64

MLX_SPELLING = re.compile(r"mlx-q(\d+)(?:-g(\d+))?")

# torchao's weight-only quantization (quantize_): int8 per output channel, int4 in groups of TORCHAO_INT4_GROUP.
TORCHAO = ("torchao-int8", "torchao-int4")
TORCHAO_INT4_GROUP = 32  # divides every registry model's rows (SmolLM2's 576 is not a multiple of torchao's default 128)

# A backend's own quantization: made by its own quantizer from the most precise GGUF at hand, read by that backend
# only. Spelling prefix -> the backend.
OWN = {"mlx-": "mlx", "torchao-": "torch"}

class ModelError(Exception):
  """A model that cannot be found, fetched, read or quantized. The message says what to do."""

def owner(quantize: str) -> str | None:
  """The backend whose own quantization `quantize` is (mlx-q4: "mlx"), or None for a GGUF type every backend reads."""
  return next((b for prefix, b in OWN.items() if quantize.lower().startswith(prefix)), None)

def own_name(quantize: str) -> str:
  """A backend's own quantization, spelled one way (mlx-q4 -> mlx-q4-g64); a bad spelling says the good ones."""
  if owner(quantize) == "mlx": return "mlx-q{}-g{}".format(*mlx_quant(quantize))
  if quantize.lower() not in TORCHAO: raise ModelError(f"unknown torchao quantization {quantize!r}: use one of {', '.join(TORCHAO)}")
  return quantize.lower()

def mlx_quant(quantize: str) -> tuple[int, int]:
  """(bits, group size) of an mlx-q* name: mlx-q4 = 4 bits in groups of 64, mlx-q4-g32 = groups of 32."""
  m = MLX_SPELLING.fullmatch(quantize.lower())
  if not m or int(m[1]) not in MLX_BITS or int(m[2] or MLX_GROUP) not in MLX_GROUPS:
    raise ModelError(f"unknown MLX quantization {quantize!r}: use mlx-q{{{','.join(map(str, MLX_BITS))}}} with an optional group size "
                     f"-g{{{','.join(map(str, MLX_GROUPS))}}} (default {MLX_GROUP}), e.g. mlx-q4, mlx-q8, mlx-q4-g32")
  return int(m[1]), int(m[2] or MLX_GROUP)

def quant_type(quantize: str) -> str | None:
  """Maps a --quantize name to a GGUF type; None means the source file's own type. A backend's own quantization
  (mlx-q4, torchao-int8) comes back as it is: only that backend runs it, and own_name() checks its spelling when
  the configuration runs."""
  if quantize in QUANT_ALIASES: return QUANT_ALIASES[quantize]
  if quantize.upper() in FTYPES: return quantize.upper()
  if owner(quantize): return quantize
  raise ModelError(f"unknown quantization {quantize!r}: use one of {', '.join([*QUANT_ALIASES, *FTYPES])}, "
                   f"or mlx-q4, mlx-q8, mlx-q4-g32 (MLX), or {', '.join(TORCHAO)} (PyTorch)")

WEIGHTS = ("real", "synthetic")
def knobs_text(knobs: dict) -> str:
  """The log header's `knobs` line, one way spelled: "beam=2 flash_attn=on" (a switch is on or off)."""
  return " ".join(f"{k}={('on' if v else 'off') if isinstance(v, bool) else v}" for k, v in sorted(knobs.items()))

def knob(lines, name: str):
  """One knob's value in each knobs line (a pandas Series of lines -> of values, NaN where the line lacks it)."""
  return lines.str.extract(rf"(?:^| ){re.escape(name)}=([^ ]+)")[0]

def varying_knobs(texts: list[str]) -> list[str]:
  """Each knobs line less the items every line shares: what tells them apart ("max_batch=8"), spelled the same way."""
  items = [set(t.split()) for t in texts]
  common = set.intersection(*items) if items else set()
  return [" ".join(i for i in t.split() if i not in common) for t in texts]
def check_size(size: str) -> ModelSource:
  if size not in MODELS: raise ModelError(f"unknown size {size!r}: use one of {', '.join(MODELS)}, or --model PATH for a local GGUF")
  return MODELS[size]
