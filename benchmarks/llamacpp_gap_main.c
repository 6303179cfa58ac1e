// The harness's C decode loop in a process of its own, as llama-bench runs: what benchmarks/llamacpp_gap.py compares
// with the same loop inside Python. llama-bench's context settings, a greedy backend sampler, its threadpool.
//   llamacpp_gap_main MODEL.gguf THREADS  ->  one line: decode tok/s of 128 steps after 37 prompt tokens
#include <stdio.h>
#include <stdlib.h>
#include "llamacpp_decode.c"

static void quiet(enum ggml_log_level level, const char *text, void *data) { if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr); }

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: %s MODEL.gguf THREADS\n", argv[0]); return 2; }
  int threads = atoi(argv[2]);
  llama_log_set(quiet, NULL);
  llama_backend_init();
  struct llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 99;
  struct llama_model *model = llama_model_load_from_file(argv[1], mp);
  if (!model) return 1;
  struct llama_sampler *chain = llama_sampler_chain_init(llama_sampler_chain_default_params());
  llama_sampler_chain_add(chain, llama_sampler_init_greedy());
  struct llama_sampler_seq_config seq = {0, chain};
  struct llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 256; cp.n_batch = 2048; cp.n_ubatch = 512; cp.no_perf = true; cp.n_threads = cp.n_threads_batch = threads;
  cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_ENABLED; cp.samplers = &seq; cp.n_samplers = 1;
  struct llama_context *ctx = llama_init_from_model(model, cp);
  if (!ctx || !inferbench_attach_threadpool(ctx, threads)) return 1;
  llama_token prompt[37], out[128];
  for (int i = 0; i < 37; i++) prompt[i] = 100 + i;
  double enqueue[128], total[128];
  int32_t failed;
  for (int warm = 0; warm < 2; warm++) {  // the first run warms up, as llama-bench's does
    llama_memory_clear(llama_get_memory(ctx), true);
    if (llama_decode(ctx, llama_batch_get_one(prompt, 37))) return 1;
    llama_token first = llama_get_sampled_token_ith(ctx, -1);
    struct llama_batch batch = llama_batch_init(1, 0, 1);
    if (inferbench_decode(ctx, batch, 1, &first, 37, 128, out, enqueue, total, &failed)) return 1;
    llama_batch_free(batch);
  }
  double sum = 0;
  for (int i = 0; i < 128; i++) sum += total[i];
  printf("%.2f\n", 128 / sum);
  return 0;
}
