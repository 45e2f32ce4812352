/* main.c — sluice-emulator: a loopback stand-in for the paid LLM providers
 * (OpenAI chat completions and Anthropic messages), for development, demos
 * and tests. See README.md for what it answers and why. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "emu.h"
#include "server.h"

struct options {
    const char *config, *usage_log;
    long port, max_upload_mib;
    bool verbose;
};

static void usage(FILE *out)
{
    fputs("usage: sluice-emulator --config models.json [--port N] [--usage-log FILE] [--max-upload-mib N]\n"
          "       [--verbose]\n"
          "Serves OpenAI chat completions, files and batches, Anthropic messages and message batches,\n"
          "and GET /healthz on 127.0.0.1.\n"
          "Prints EMULATOR=http://127.0.0.1:<port> once listening; stops on SIGTERM/SIGINT.\n",
          out);
}

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"port", required_argument, NULL, 'p'},
        {"usage-log", required_argument, NULL, 'u'}, {"verbose", no_argument, NULL, 'v'},
        {"max-upload-mib", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int ch;
    char *end;
    *o = (struct options){.max_upload_mib = 256};
    while ((ch = getopt_long(argc, argv, "c:p:u:m:vh", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': o->config = optarg; break;
        case 'u': o->usage_log = optarg; break;
        case 'v': o->verbose = true; break;
        case 'h': usage(stdout); exit(0);
        case 'p':
            o->port = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || o->port < 0 || o->port > 65535) {
                fprintf(stderr, "sluice-emulator: --port must be 0..65535\n");
                return -1;
            }
            break;
        case 'm':
            o->max_upload_mib = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || o->max_upload_mib < 1 || o->max_upload_mib > 4096) {
                fprintf(stderr, "sluice-emulator: --max-upload-mib must be 1..4096\n");
                return -1;
            }
            break;
        default: usage(stderr); return -1;
        }
    }
    if (o->config == NULL || optind != argc) {
        usage(stderr);
        return -1;
    }
    return 0;
}

/* Clients keep hundreds of connections open; the default soft limit of
 * 1024 descriptors would refuse them long before the hard limit does. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Blocked before any thread starts, so only sigwait() below sees them. */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
    struct options o;
    struct emu_config cfg;
    char err[1024];
    sigset_t set;
    int sig;
    if (parse_options(argc, argv, &o) != 0)
        return 2;
    if (emu_config_load(o.config, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "sluice-emulator: %s\n", err);
        return 2;
    }
    raise_fd_limit();
    block_signals(&set);
    struct emu_server_options so = {.port = (uint16_t)o.port, .usage_log_path = o.usage_log,
                                    .max_upload = (size_t)o.max_upload_mib << 20, .verbose = o.verbose};
    struct emu_server *s = emu_server_start(&cfg, &so, err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "sluice-emulator: %s\n", err);
        emu_config_free(&cfg);
        return 1;
    }
    printf("EMULATOR=http://127.0.0.1:%u\n", (unsigned)emu_server_port(s));
    fflush(stdout);
    if (o.verbose)
        fprintf(stderr, "sluice-emulator: %zu models, %zu gold texts\n", cfg.n_models, cfg.gold.n);
    sigwait(&set, &sig);
    emu_server_stop(s);
    emu_config_free(&cfg);
    return 0;
}
