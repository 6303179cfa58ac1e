"""The llama.cpp backend's C side (llamacpp_decode.c): compiled on first use, it runs the greedy decode steps, and
gives the same tokens as the Python loop; without a compiler the Python loop runs and the log says so."""
import pytest
from inferbench.core import files
from inferbench.backends import llamacpp
from inferbench.core.config import RunConfig

PROMPT = list(range(100, 137))

@pytest.mark.parametrize("batch", [1, 3])
def test_c_decode_loop_gives_the_python_loops_tokens(tiny_model, batch):
  engine = llamacpp.load(RunConfig(threads=1, ctx=128, batch=batch), tiny_model)
  assert engine.info["llamacpp.decode_loop"].startswith("C (llamacpp_decode.c") and engine.decode_in_c
  assert engine.info["llamacpp.threadpool"] == "one per context"
  in_c = list(engine.generate(PROMPT, 20))
  totals = engine.run_totals()
  engine.decode_in_c = False
  in_python = list(engine.generate(PROMPT, 20))
  assert [s.token_ids for s in in_c] == [s.token_ids for s in in_python] and len(in_c) == 21
  assert len({t for s in in_c for t in s.token_ids}) > 4, "degenerate sequence: the agreement would prove little"
  assert all(len(s.token_ids) == batch and s.n_tokens == batch for s in in_c[1:])
  assert all(0 < s.enqueue_s <= s.total_s < 1 for s in in_c)
  # llama.cpp counted the C loop's steps; several sequences count as prompt evaluation there, so no totals at all
  assert (totals["internal_decode_steps"], totals["internal_prefill_tokens"]) == (20, len(PROMPT)) if batch == 1 else totals == {}

def test_llamacpps_timers_are_left_out_where_they_count_other_steps(tiny_model):
  """A one-token prompt is a decode step to llama.cpp's counters: a run line saying so would contradict its steps."""
  engine = llamacpp.load(RunConfig(threads=1, ctx=128), tiny_model)
  assert len(list(engine.generate(PROMPT[:1], 10))) == 11 and engine.run_totals() == {}
  list(engine.generate(PROMPT[:2], 10))
  assert engine.run_totals()["internal_decode_steps"] == 10 and engine.run_totals()["internal_prefill_tokens"] == 2

def test_without_a_compiler_the_python_loop_runs(tiny_model, tmp_path, monkeypatch):
  monkeypatch.setattr(files, "CACHE", tmp_path)  # nothing compiled yet
  monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
  llamacpp.c_helpers.cache_clear()
  try:
    engine = llamacpp.load(RunConfig(threads=1, ctx=128), tiny_model)
    assert engine.info["llamacpp.decode_loop"].startswith("python loop (") and "no-such-cc" in engine.info["llamacpp.decode_loop"]
    assert not engine.decode_in_c and engine.info["llamacpp.threadpool"] == "ggml's, one per graph"
    assert len(list(engine.generate(PROMPT, 5))) == 6
  finally: llamacpp.c_helpers.cache_clear()

def test_sampling_with_temperature_stays_in_python(tiny_model):
  engine = llamacpp.load(RunConfig(threads=1, ctx=128, temperature=0.8, seed=3), tiny_model)
  assert engine.info["llamacpp.decode_loop"] == "python loop (sampling with temperature)" and not engine.decode_in_c
  draw = lambda seed: [s.token_id for s in llamacpp.load(RunConfig(threads=1, ctx=128, temperature=0.8, seed=seed), tiny_model).generate(PROMPT, 8)]
  a = [s.token_id for s in engine.generate(PROMPT, 8)]
  assert a == draw(3) and len(set(a)) > 4 and a != draw(4)  # the seed decides: a constant sequence would match itself too

def test_the_build_has_no_amx_kernels():
  """deps/setup.sh builds llama-cpp-python without AMX: on an AMX CPU its kernels segfaulted at the first matmul of
  every quantized model (docs/backends.md). On a CPU without AMX, -march=native leaves them out by itself."""
  from llama_cpp import llama_cpp as lib
  assert "AMX_INT8 = 1" not in lib.llama_print_system_info().decode()
