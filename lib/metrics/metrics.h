/* metrics.h — Prometheus metric registry: counters, gauges, histograms.
 *
 * Threads: any thread may update and look up series; metrics_render() may
 * run on another thread (the HTTP server) at the same time. Values are C11
 * atomics, families and series are append-only and never freed before
 * metrics_free(), so updates and renders take no lock. A mutex serialises
 * only the creation of families and series.
 *
 * Hot path: register families once at startup, then either cache the
 * struct metric_series pointer of a fixed label tuple, or call
 * metric_series()/metrics_count() with the label values: finding an
 * existing series hashes the values and compares strings, it never
 * allocates nor locks.
 *
 * Cardinality: each family holds at most the registry's max_series series
 * (label values from jobs, e.g. features, are unbounded). A new tuple past
 * the cap is folded into the series whose every label value is "_other".
 * A single value longer than METRICS_MAX_VALUE_LEN bytes or not valid
 * UTF-8 is replaced by "_other" too.
 *
 * Errors: registration with an invalid name, label name or bucket list,
 * or a name already registered with another shape, logs an error and
 * returns NULL. Every update and lookup function accepts NULL (series or
 * family) and then does nothing, so a bad registration never crashes the
 * hot path. Names follow docs/metrics.md. */
#ifndef SL_METRICS_H
#define SL_METRICS_H

#include <stddef.h>

#define METRICS_MAX_LABELS 3
#define METRICS_DEFAULT_MAX_SERIES 1000
#define METRICS_MAX_VALUE_LEN 128
#define METRICS_OTHER "_other"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metrics;
struct metric_family;
struct metric_series;

/* Returns a new registry; free with metrics_free(). max_series caps the
 * series of each family (0 = METRICS_DEFAULT_MAX_SERIES). */
struct metrics *metrics_new(size_t max_series);
/* Frees the registry, its families and series. Stop any metrics_http
 * serving it first. NULL is a no-op. */
void metrics_free(struct metrics *m);

/* Register a family and return it (borrowed until metrics_free()).
 * name: [a-zA-Z_:][a-zA-Z0-9_:]*; help: any text (escaped on output);
 * label_names: n_labels (0..3) names [a-zA-Z_][a-zA-Z0-9_]*, not starting
 * with "__", all different, and not "le" in histograms; copied.
 * Registering the same name again with the same type and label names
 * returns the existing family (buckets are not compared). */
struct metric_family *metrics_counter(struct metrics *m, const char *name,
                                      const char *help, size_t n_labels,
                                      const char *const *label_names);
struct metric_family *metrics_gauge(struct metrics *m, const char *name,
                                    const char *help, size_t n_labels,
                                    const char *const *label_names);
/* buckets: n_buckets finite upper bounds, strictly increasing (copied);
 * +Inf is implicit (a trailing +Inf is accepted and dropped). NULL/0 means
 * metrics_latency_buckets (seconds, tuned for LLM provider calls). */
struct metric_family *metrics_histogram(struct metrics *m, const char *name,
                                        const char *help, size_t n_labels,
                                        const char *const *label_names,
                                        const double *buckets,
                                        size_t n_buckets);

extern const double metrics_latency_buckets[];
extern const size_t metrics_latency_buckets_len;

/* Returns the series of the family for values (the family's n_labels
 * strings; NULL values read as ""; values may be NULL when n_labels is
 * 0), created on first use, folded into "_other" past the cap. Borrowed
 * until metrics_free(): cache it for fixed tuples. NULL when f is NULL. */
struct metric_series *metric_series(struct metric_family *f,
                                    const char *const *values);

/* Counters: adds by (negative or NaN is ignored). Integral by values are
 * summed exactly as integers, so nano-dollar counters never lose a unit.
 * Gauges: adds by (any sign), e.g. +1/-1 for in-flight calls. */
void metric_inc(struct metric_series *s, double by);
/* Gauges only: sets the value. */
void metric_set(struct metric_series *s, double v);
/* Histograms only: counts v in its bucket (NaN is ignored). */
void metric_observe(struct metric_series *s, double v);
/* Current value of a counter or gauge, or the observation count of a
 * histogram; 0 for NULL. For tests and health checks. */
double metric_value(const struct metric_series *s);

/* Look up + update in one call; pass NULL for values past n_labels.
 * metrics_count: metric_inc; metrics_set: metric_set; metrics_observe:
 * metric_observe. */
void metrics_count(struct metric_family *f, double by, const char *v1,
                   const char *v2, const char *v3);
void metrics_set(struct metric_family *f, double v, const char *v1,
                 const char *v2, const char *v3);
void metrics_observe(struct metric_family *f, double v, const char *v1,
                     const char *v2, const char *v3);

/* Renders every family in the Prometheus text exposition format 0.0.4, in
 * registration order, series in creation order; families without series
 * render their HELP and TYPE only. Returns a new string; free with free().
 * Safe while other threads update. */
char *metrics_render(struct metrics *m);

#endif
