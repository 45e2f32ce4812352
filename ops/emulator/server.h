/* server.h — the emulator's HTTP server on 127.0.0.1. */
#ifndef EMU_SERVER_H
#define EMU_SERVER_H

#include <stdint.h>

#include "emu.h"

struct emu_server;

/* port 0 picks a free port. usage_log_path may be NULL. */
struct emu_server *emu_server_start(const struct emu_config *cfg, uint16_t port, const char *usage_log_path,
                                    bool verbose, char *err, size_t err_size);
uint16_t emu_server_port(const struct emu_server *s);
/* Wakes sleeping handlers, closes every connection, frees the server. */
void emu_server_stop(struct emu_server *s);

#endif
