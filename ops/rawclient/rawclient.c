/* rawclient.c — a bare libcurl-multi-on-libuv client: keeps CONCURRENCY
 * POSTs of one body in flight against URL until TOTAL have been answered,
 * then prints its own CPU per request. It is the floor for the worker's
 * CPU per provider call in ops/bench-pipeline (same emulator, same
 * concurrency, same kind of body): everything the worker spends above it
 * is routing, JSON, the ledger and Kafka.
 *
 * usage: sluice-rawclient URL BODY_FILE CONCURRENCY TOTAL
 * prints: raw_requests= raw_failed= raw_wall_s= raw_cpu_us_per_call= */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <curl/curl.h>
#include <uv.h>

struct sock {
    uv_poll_t poll;
    curl_socket_t fd;
};

static uv_loop_t *loop;
static CURLM *multi;
static uv_timer_t timer;
static const char *url;
static char *body;
static long body_len;
static struct curl_slist *headers;
static long total, started, done, failed;

static size_t discard(char *p, size_t size, size_t n, void *u)
{
    (void)p;
    (void)u;
    return size * n;
}

/* One easy handle per slot, reused: what a careful client does. */
static void start(CURL *e)
{
    if (started >= total) {
        curl_easy_cleanup(e);
        return;
    }
    started++;
    if (!e) {
        e = curl_easy_init();
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, body_len);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    }
    curl_multi_add_handle(multi, e);
}

static void drain(void)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *e = msg->easy_handle;
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        if (msg->data.result != CURLE_OK || status != 200)
            failed++;
        done++;
        curl_multi_remove_handle(multi, e);
        start(e);
    }
    if (done >= total)
        uv_stop(loop); /* idle kept-alive sockets would keep the loop up */
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct sock *s = p->data;
    int flags = status < 0 ? CURL_CSELECT_ERR : 0;
    int running;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(multi, s->fd, flags, &running);
    drain();
}

static void on_timer(uv_timer_t *t)
{
    int running;
    (void)t;
    curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain();
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *u, void *sp)
{
    struct sock *s = sp;
    (void)e;
    (void)u;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, on_closed);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof(*s));
        s->fd = fd;
        uv_poll_init_socket(loop, &s->poll, fd);
        s->poll.data = s;
        curl_multi_assign(multi, fd, s);
    }
    int ev = ((what & CURL_POLL_IN) ? UV_READABLE : 0) |
             ((what & CURL_POLL_OUT) ? UV_WRITABLE : 0);
    uv_poll_start(&s->poll, ev, on_poll);
    return 0;
}

static int on_curl_timer(CURLM *m, long ms, void *u)
{
    (void)m;
    (void)u;
    if (ms < 0)
        uv_timer_stop(&timer);
    else
        uv_timer_start(&timer, on_timer, (uint64_t)ms, 0);
    return 0;
}

static char *slurp(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    rewind(f);
    char *p = malloc((size_t)*len + 1);
    if (p && fread(p, 1, (size_t)*len, f) != (size_t)*len) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p)
        p[*len] = '\0';
    return p;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: sluice-rawclient URL BODY_FILE CONCURRENCY TOTAL\n");
        return 2;
    }
    url = argv[1];
    body = slurp(argv[2], &body_len);
    long conc = strtol(argv[3], NULL, 10);
    total = strtol(argv[4], NULL, 10);
    if (!body || conc <= 0 || total <= 0) {
        fprintf(stderr, "sluice-rawclient: bad arguments\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    loop = uv_default_loop();
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, conc);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, 2 * conc);
    uv_timer_init(loop, &timer);
    headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Authorization: Bearer raw-client");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double c0 = cpu_s();
    for (long i = 0; i < conc && i < total; i++)
        start(NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    double cpu = cpu_s() - c0;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double wall = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("raw_requests=%ld\nraw_failed=%ld\nraw_wall_s=%.2f\n", done, failed, wall);
    printf("raw_requests_per_s=%.0f\nraw_cpu_us_per_call=%.1f\n", done / wall,
           cpu * 1e6 / (double)(done ? done : 1));
    curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
    free(body);
    return failed == done ? 1 : 0;
}
