/* sources: lib/metrics/metrics.c lib/utf8.c lib/log.c lib/sl.c */
/* The metrics endpoint: libmicrohttpd parses the HTTP requests; sluice's
 * own request handling only compares the URL and method MHD hands it. The
 * one parser of its own is the listen address ("HOST:PORT",
 * "[IPv6]:PORT", from the config or SLUICE_METRICS_LISTEN), split by the
 * static split_addr() and resolved numerically by resolve(): this harness
 * includes metrics_http.c to reach them, and checks that an accepted
 * address has a port in 0..65535. */
#include <stdint.h>

#include "fuzz_util.h"

#include "metrics/metrics_http.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *addr = fuzz_cstr(data, size);
    char host[64], port[8], err[256];
    if (split_addr(addr, host, sizeof(host), port, sizeof(port)) == SL_OK) {
        FUZZ_CHECK(host[0] != '\0' && strlen(host) < sizeof(host));
        FUZZ_CHECK(port[0] != '\0' && atoi(port) <= 65535);
    }
    struct sockaddr_storage sa = {0};
    if (resolve(addr, &sa, err, sizeof(err)) == SL_OK) {
        FUZZ_CHECK(sa.ss_family == AF_INET || sa.ss_family == AF_INET6);
        int p = sockaddr_port(&sa);
        FUZZ_CHECK(p >= 0 && p <= 65535);
    }
    free(addr);
    return 0;
}
