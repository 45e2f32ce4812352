/* jemalloc_conf.c — jemalloc's settings for the sluice binary, read by
 * jemalloc when the process starts; MALLOC_CONF in the environment still
 * overrides them. Built only when the binary links jemalloc.
 *
 * A worker with thousands of calls in flight frees about as much as it
 * allocates every second. With jemalloc's defaults (four arenas per core,
 * threads spread over them; freed pages kept for 10 s) that was 9 MiB of a
 * worker's peak RSS with 2,048 calls in flight (ops/bench-pipeline at
 * 1,000 ms). One arena, and freed pages returned within a second by
 * jemalloc's own background thread rather than by the thread that frees,
 * cost no CPU measurable there or at 0 ms: the thread caches still serve
 * the hot sizes. */
const char *malloc_conf =
    "narenas:1,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";
