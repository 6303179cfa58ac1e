"""Shared fixtures: tiny GGUF models the tests write themselves, so both real backends load them in seconds."""
import os, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("INFERBENCH_MODELS", str(ROOT / "models"))  # quantized files are cached between test runs

from inferbench.core import files  # noqa: E402
from inferbench.models import prepare, synthetic

@pytest.fixture(scope="session")
def embedded_model() -> Path:
  return prepare.source_path("135M")

@pytest.fixture(scope="session")
def tiny_model(request) -> Path:
  """A 2-layer llama (dim 64, F16) with SmolLM2's real tokenizer, written once per machine and reused (a machine
  without the embedded model, the GPU's, can be given the file)."""
  path = files.CACHE / "test" / "tiny-llama-F16.gguf"
  if not path.is_file():
    path.parent.mkdir(parents=True, exist_ok=True)
    synthetic.write_model(path, synthetic.TINY, request.getfixturevalue("embedded_model"), name="tiny-llama", seed=1)
  return path
