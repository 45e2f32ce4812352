/* metrics_http.c — see metrics_http.h. */
#include "metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "sl.h"

#define CONNECTION_LIMIT 32u
#define IDLE_TIMEOUT_S 10u
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define TEXT_TYPE "text/plain; charset=utf-8"

struct metrics_http {
    struct MHD_Daemon *daemon;
    struct metrics *m;
    bool (*healthy)(void *arg);
    void *arg;
    int port;
};

/* body: freed by MHD when mode is MHD_RESPMEM_MUST_FREE. */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             const char *content_type, char *body,
                             enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    enum MHD_Result ret =
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (ret == MHD_YES && status == MHD_HTTP_METHOD_NOT_ALLOWED)
        ret = MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    if (ret == MHD_YES)
        ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status,
                                  const char *text)
{
    /* MHD only reads a PERSISTENT buffer; its API is just not const. */
    return reply(c, status, TEXT_TYPE, (char *)text, MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    struct metrics_http *h = cls;
    bool is_metrics = strcmp(url, "/metrics") == 0;
    if (!is_metrics && strcmp(url, "/healthz") != 0)
        return reply_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                          "method not allowed\n");
    if (is_metrics)
        return reply(c, MHD_HTTP_OK, METRICS_TYPE, metrics_render(h->m),
                     MHD_RESPMEM_MUST_FREE);
    if (!h->healthy || h->healthy(h->arg))
        return reply_text(c, MHD_HTTP_OK, "ok\n");
    return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unhealthy\n");
}

/* Splits "HOST:PORT" or "[HOST]:PORT" into host and port buffers. */
static int split_addr(const char *addr, char *host, size_t host_size,
                      char *port, size_t port_size)
{
    const char *colon, *h = addr, *h_end;
    if (addr[0] == '[') {
        h = addr + 1;
        h_end = strchr(h, ']');
        if (!h_end || h_end[1] != ':')
            return SL_EINVAL;
        colon = h_end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
            return SL_EINVAL; /* bare IPv6 needs brackets */
        h_end = colon;
    }
    size_t hl = (size_t)(h_end - h), pl = strlen(colon + 1);
    if (hl == 0 || hl >= host_size || pl == 0 || pl >= port_size)
        return SL_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    /* Digits only and in range: getaddrinfo would accept 70000. */
    if (strspn(colon + 1, "0123456789") != pl || atoi(colon + 1) > 65535)
        return SL_EINVAL;
    memcpy(port, colon + 1, pl + 1);
    return SL_OK;
}

/* Resolves listen_addr (numeric only, never DNS) into *out. */
static int resolve(const char *listen_addr, struct sockaddr_storage *out,
                   char *errstr, size_t errstr_size)
{
    char host[64], port[8];
    if (!listen_addr ||
        split_addr(listen_addr, host, sizeof(host), port, sizeof(port))) {
        snprintf(errstr, errstr_size,
                 "metrics listen address %s: want HOST:PORT or [IPv6]:PORT",
                 listen_addr ? listen_addr : "(null)");
        return SL_EINVAL;
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(errstr, errstr_size, "metrics listen address %s: %s",
                 listen_addr, gai_strerror(rc));
        return SL_EINVAL;
    }
    memcpy(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return SL_OK;
}

static int sockaddr_port(const struct sockaddr_storage *sa)
{
    if (sa->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

struct metrics_http *metrics_http_start(struct metrics *m,
                                        const char *listen_addr,
                                        bool (*healthy)(void *arg), void *arg,
                                        char *errstr, size_t errstr_size)
{
    struct sockaddr_storage sa = {0};
    if (!m) {
        snprintf(errstr, errstr_size, "metrics_http_start: no registry");
        return NULL;
    }
    if (resolve(listen_addr, &sa, errstr, errstr_size) != SL_OK)
        return NULL;
    struct metrics_http *h = xcalloc(1, sizeof(*h));
    h->m = m;
    h->healthy = healthy;
    h->arg = arg;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    errno = 0;
    h->daemon = MHD_start_daemon(
        flags, (uint16_t)sockaddr_port(&sa), NULL, NULL, handle, h,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_LIMIT, CONNECTION_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S, MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(errstr, errstr_size, "metrics: cannot listen on %s: %s",
                 listen_addr, errno ? strerror(errno) : "libmicrohttpd error");
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : sockaddr_port(&sa);
    return h;
}

int metrics_http_port(const struct metrics_http *h)
{
    return h ? h->port : 0;
}

void metrics_http_stop(struct metrics_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
