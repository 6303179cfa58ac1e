// The llama.cpp backend's C side: its greedy decode loop (one call from Python runs every decode step of a run),
// and the CPU threadpool llama.cpp's own tools attach to a context.
//
// A step here is what llama-bench's is, llama_decode and the wait for its token (llama.cpp's backend sampler picks it
// in its graph), with no interpreter between steps: on the H100 the harness decodes within 1% of this loop run from a
// C program (benchmarks/llamacpp_gap.py). Each step is timed with the clock Python's time.perf_counter reads.
#include <time.h>
#include "ggml-cpu.h"
#include "llama.h"

// Without one, ggml makes and frees a threadpool at every graph it computes; llama-bench and llama.cpp's CLI make one
// per context. Lives as long as the process.
struct ggml_threadpool *inferbench_attach_threadpool(struct llama_context *ctx, int32_t n_threads) {
  struct ggml_threadpool_params params = ggml_threadpool_params_default(n_threads);
  struct ggml_threadpool *pool = ggml_threadpool_new(&params);
  if (pool) llama_attach_threadpool(ctx, pool, NULL);
  return pool;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// n_seq sequences (seq id s), tokens[s] their last tokens, at positions pos.. for n_steps steps. Step i's tokens go
// to out[i*n_seq + s]; enqueue_s[i]: seconds until llama_decode returned, total_s[i]: until every token was known.
// Returns 0, or the step's llama_decode code (nonzero) with its index in *failed_step; a sampler that gave no
// token is -1000.
int32_t inferbench_decode(struct llama_context *ctx, struct llama_batch batch, int32_t n_seq, const llama_token *tokens,
                          llama_pos pos, int32_t n_steps, llama_token *out, double *enqueue_s, double *total_s,
                          int32_t *failed_step) {
  const llama_token *last = tokens;
  for (int32_t i = 0; i < n_steps; i++) {
    batch.n_tokens = n_seq;
    for (int32_t s = 0; s < n_seq; s++) {
      batch.token[s] = last[s];
      batch.pos[s] = pos + i;
      batch.n_seq_id[s] = 1;
      batch.seq_id[s][0] = s;
      batch.logits[s] = 1;
    }
    *failed_step = i;
    double t0 = now_s();
    int32_t rc = llama_decode(ctx, batch);
    if (rc) return rc;
    double t1 = now_s();
    llama_token *next = out + (size_t)i * n_seq;
    for (int32_t s = 0; s < n_seq; s++)
      if ((next[s] = llama_get_sampled_token_ith(ctx, s)) < 0) return -1000;
    total_s[i] = now_s() - t0;
    enqueue_s[i] = t1 - t0;
    last = next;
  }
  return 0;
}
