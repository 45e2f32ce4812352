/* server.h — the emulator's HTTP server on 127.0.0.1. */
#ifndef EMU_SERVER_H
#define EMU_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "emu.h"

struct emu_server;

struct emu_server_options {
    uint16_t port;              /* 0 picks a free port */
    const char *usage_log_path; /* may be NULL */
    size_t max_upload;          /* body cap of POST /v1/files and /v1/messages/batches */
    bool verbose;
};

/* cfg is borrowed for the server's lifetime. */
struct emu_server *emu_server_start(const struct emu_config *cfg, const struct emu_server_options *o, char *err,
                                    size_t err_size);
uint16_t emu_server_port(const struct emu_server *s);
/* Wakes sleeping handlers, closes every connection, frees the server. */
void emu_server_stop(struct emu_server *s);

#endif
