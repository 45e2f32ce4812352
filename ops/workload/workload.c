/* workload.c — the synthetic support-ticket workload for the demo, the
 * tests and the benchmarks.
 *
 * Writes three files from a seed, deterministically:
 *   jobs.jsonl    one job message per line (the sluice job contract), plus
 *                 --malformed lines that every worker must reject;
 *   gold.jsonl    per distinct ticket text its true labels and extraction,
 *                 which the provider emulator reads as ground truth;
 *   expected.csv  job_id,task,expected — what a perfect answer is, so the
 *                 demo can score accuracy in SQL.
 * Tickets are assembled from intent-specific phrasings with products, order
 * numbers and urgency cues, so texts repeat only as often as real inboxes
 * repeat themselves. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

struct intent {
    const char *label;
    const char *phrasings[4]; /* {P} = product, {O} = order id */
};

static const struct intent intents[] = {
    {"refund", {"I want my money back for the {P} from order {O}, it broke after two days.",
                "Please refund order {O}, the {P} is not what I paid for.",
                "How long does a refund take? I returned the {P} (order {O}) last week.",
                "Requesting a full refund for {P}, order number {O}."}},
    {"billing", {"I was charged twice for the {P} on order {O}.",
                 "My invoice for order {O} shows the wrong price for the {P}.",
                 "Why is there an extra fee on my card for {P}, order {O}?",
                 "The VAT on order {O} for the {P} looks wrong."}},
    {"shipping", {"Where is my {P}? Order {O} still says processing.",
                  "Tracking for order {O} has not moved in five days, I need the {P}.",
                  "The courier left the {P} at the wrong address, order {O}.",
                  "Can I change the delivery address of order {O} for the {P}?"}},
    {"technical", {"The {P} keeps disconnecting from wifi, order {O}.",
                   "After the update my {P} shows error 42 on start (order {O}).",
                   "The app cannot find my {P}, bought with order {O}.",
                   "My {P} overheats after ten minutes, order {O}."}},
    {"account", {"I cannot log in to my account since I ordered the {P} (order {O}).",
                 "Please change the email on my account, order {O} for a {P}.",
                 "My password reset link never arrives; I need to see order {O} for the {P}.",
                 "Two accounts were created when I bought the {P}, order {O}."}},
    {"cancellation", {"Cancel order {O} please, I no longer need the {P}.",
                      "I ordered the {P} by mistake, order {O}, please cancel it.",
                      "How do I cancel my subscription that came with the {P} (order {O})?",
                      "Stop order {O} for the {P} before it ships."}},
    {"complaint", {"Your support never answered about my {P}, order {O}. Very disappointed.",
                   "This is the third faulty {P} I get (order {O}). Unacceptable.",
                   "The agent was rude when I called about order {O} and the {P}.",
                   "I waited forty minutes on hold about my {P}, order {O}."}},
    {"other", {"Do you sell gift cards? I liked the {P} from order {O}.",
               "Is the {P} available in blue? My last order was {O}.",
               "Are you hiring? I am a happy customer (order {O}, {P}).",
               "What are your opening hours? Question about the {P}, order {O}."}},
};

static const char *const products[] = {
    "wireless earbuds", "smart watch", "coffee grinder", "laptop stand",
    "robot vacuum", "e-reader", "air purifier", "phone case",
    "standing desk", "mechanical keyboard", "baby monitor", "electric kettle",
};

static const char *const urgency_cues[][2] = {
    {"", "low"},
    {" No rush.", "low"},
    {" Thanks.", "normal"},
    {" Please help.", "normal"},
    {" I need this fixed today.", "high"},
    {" This is blocking my work.", "high"},
    {" URGENT: I am losing money every hour!", "urgent"},
    {" Please escalate immediately, this is a safety issue.", "urgent"},
};

static const char *const features[] = {"support-inbox", "ticket-triage",
                                       "order-extract", "ticket-summary"};
static const char *const cohorts[] = {"2026-q3", "2026-q4", "legacy"};

struct rng {
    uint64_t s;
};

/* splitmix64: small, seedable, good enough for synthetic data. */
static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t pick(struct rng *r, size_t n)
{
    return (size_t)(rng_next(r) % n);
}

struct ticket {
    char text[512];
    const char *intent;
    const char *priority;
    const char *product;
    char order_id[16];
};

/* Expands {P} and {O} in fmt into out. */
static void fill_slots(char *out, size_t size, const char *fmt,
                       const char *product, const char *order_id)
{
    size_t n = 0;
    for (const char *p = fmt; *p && n + 1 < size; p++) {
        const char *slot = NULL;
        if (strncmp(p, "{P}", 3) == 0)
            slot = product;
        else if (strncmp(p, "{O}", 3) == 0)
            slot = order_id;
        if (!slot) {
            out[n++] = *p;
            continue;
        }
        size_t len = strlen(slot);
        if (n + len >= size)
            break;
        memcpy(out + n, slot, len);
        n += len;
        p += 2;
    }
    out[n] = '\0';
}

static void make_ticket(struct rng *r, struct ticket *t)
{
    const struct intent *in = &intents[pick(r, N_OF(intents))];
    const char *fmt = in->phrasings[pick(r, 4)];
    size_t cue = pick(r, N_OF(urgency_cues));
    t->product = products[pick(r, N_OF(products))];
    /* Few distinct order ids, so identical tickets recur as they do in real
     * inboxes (the cache and tier-0 issues rely on that). */
    snprintf(t->order_id, sizeof(t->order_id), "A%05u", (unsigned)pick(r, 400) * 7 + 1000);
    char body[400];
    fill_slots(body, sizeof(body), fmt, t->product, t->order_id);
    snprintf(t->text, sizeof(t->text), "%s%s", body, urgency_cues[cue][0]);
    t->intent = in->label;
    t->priority = urgency_cues[cue][1];
}

static cJSON *gold_data(const struct ticket *t)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "order_id", t->order_id);
    cJSON_AddStringToObject(d, "product", t->product);
    cJSON_AddStringToObject(d, "issue", t->intent);
    return d;
}

struct options {
    long jobs;
    long malformed;
    uint64_t seed;
    const char *dir;
    const char *id_prefix;
    double offpeak_share;
};

/* Chooses the task; its feature follows from it. */
static const char *pick_task(struct rng *r, const char **feature)
{
    size_t roll = pick(r, 100);
    if (roll < 55) { *feature = features[0]; return "intent"; }
    if (roll < 80) { *feature = features[1]; return "priority"; }
    if (roll < 92) { *feature = features[2]; return "extract"; }
    *feature = features[3];
    return "summary";
}

static void write_job(FILE *jobs, FILE *expected, struct rng *r,
                      const struct options *o, long i, const struct ticket *t)
{
    const char *feature;
    const char *task = pick_task(r, &feature);
    unsigned tenant = (unsigned)pick(r, 24);
    char id[96], tenant_name[32];
    snprintf(id, sizeof(id), "%s-%06ld", o->id_prefix, i);
    snprintf(tenant_name, sizeof(tenant_name), "tenant-%02u", tenant);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "id", id);
    cJSON_AddStringToObject(j, "task", task);
    cJSON_AddStringToObject(j, "input", t->text);
    double roll = (double)pick(r, 10000) / 10000.0;
    cJSON_AddStringToObject(j, "mode", roll < o->offpeak_share ? "offpeak" : "interactive");
    cJSON_AddStringToObject(j, "feature", feature);
    cJSON_AddStringToObject(j, "tenant", tenant_name);
    cJSON_AddStringToObject(j, "cohort", cohorts[tenant % N_OF(cohorts)]);
    cJSON_AddStringToObject(j, "user_tier", tenant % 3 == 0 ? "free" : "paid");
    char *line = cJSON_PrintUnformatted(j);
    fprintf(jobs, "%s\n", line);
    free(line);
    cJSON_Delete(j);
    const char *want = strcmp(task, "intent") == 0     ? t->intent
                       : strcmp(task, "priority") == 0 ? t->priority
                                                       : "";
    fprintf(expected, "%s,%s,%s\n", id, task, want);
}

/* One of each way a message can be wrong, cycling. */
static void write_malformed(FILE *jobs, const struct options *o, long k)
{
    static const char big_pad[] = "x";
    switch (k % 6) {
    case 0: fprintf(jobs, "{\"id\": \"%s-bad-%ld\", \"task\": \"intent\", \"input\": \n", o->id_prefix, k); break;
    case 1: fprintf(jobs, "{\"id\": \"%s-bad-%ld\", \"task\": \"intent\"}\n", o->id_prefix, k); break;
    case 2: fprintf(jobs, "{\"id\": \"%s-bad-%ld\", \"task\": \"horoscope\", \"input\": \"hi\"}\n", o->id_prefix, k); break;
    case 3: fprintf(jobs, "{\"id\": \"%s-bad-%ld\", \"task\": \"intent\", \"input\": \"caf\xC3\x28\"}\n", o->id_prefix, k); break;
    case 4: fprintf(jobs, "{\"id\": \"%s-bad-%ld\", \"task\": \"intent\", \"input\": 42}\n", o->id_prefix, k); break;
    default:
        fprintf(jobs, "{\"id\": \"%s-bad-%ld\", \"task\": \"intent\", \"input\": \"", o->id_prefix, k);
        for (int i = 0; i < 40000; i++)
            fputs(big_pad, jobs);
        fputs("\"}\n", jobs);
    }
}

static FILE *open_out(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    return f;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: sluice-workload --out DIR [--jobs N] [--malformed N] "
                 "[--seed S] [--id-prefix P] [--offpeak-share F]\n"
                 "writes DIR/jobs.jsonl, DIR/gold.jsonl, DIR/expected.csv\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'}, {"jobs", required_argument, NULL, 'n'},
        {"malformed", required_argument, NULL, 'm'}, {"seed", required_argument, NULL, 's'},
        {"id-prefix", required_argument, NULL, 'p'}, {"offpeak-share", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    *o = (struct options){.jobs = 3000, .seed = 7, .id_prefix = "job", .offpeak_share = 0.0};
    while ((c = getopt_long(argc, argv, "o:n:m:s:p:f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': o->dir = optarg; break;
        case 'n': o->jobs = atol(optarg); break;
        case 'm': o->malformed = atol(optarg); break;
        case 's': o->seed = strtoull(optarg, NULL, 10); break;
        case 'p': o->id_prefix = optarg; break;
        case 'f': o->offpeak_share = atof(optarg); break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (!o->dir || o->jobs < 0 || o->malformed < 0) {
        usage(stderr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse_options(argc, argv, &o) != 0)
        return 2;
    FILE *jobs = open_out(o.dir, "jobs.jsonl");
    FILE *gold = open_out(o.dir, "gold.jsonl");
    FILE *expected = open_out(o.dir, "expected.csv");
    struct rng r = {o.seed};
    long every = o.malformed ? (o.jobs + o.malformed) / o.malformed : 0, bad = 0;
    fprintf(expected, "job_id,task,expected\n");
    for (long i = 0; i < o.jobs; i++) {
        struct ticket t;
        make_ticket(&r, &t);
        write_job(jobs, expected, &r, &o, i, &t);
        cJSON *g = cJSON_CreateObject(), *labels = cJSON_AddObjectToObject(g, "labels");
        cJSON_AddStringToObject(g, "text", t.text);
        cJSON_AddStringToObject(labels, "intent", t.intent);
        cJSON_AddStringToObject(labels, "priority", t.priority);
        cJSON_AddItemToObject(g, "data", gold_data(&t));
        char *line = cJSON_PrintUnformatted(g);
        fprintf(gold, "%s\n", line);
        free(line);
        cJSON_Delete(g);
        if (every && i % every == every - 1 && bad < o.malformed)
            write_malformed(jobs, &o, bad++);
    }
    while (bad < o.malformed)
        write_malformed(jobs, &o, bad++);
    fclose(jobs);
    fclose(gold);
    fclose(expected);
    printf("wrote %ld jobs and %ld malformed messages to %s/jobs.jsonl\n", o.jobs, o.malformed, o.dir);
    return 0;
}
