/* cache_key.c — see cache_key.h. */
#include "cache_key.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "sl.h"

/* Bumped when what the key covers, or the prompt contract sluice adds to
 * every prompt, changes meaning: every old entry is then a miss. */
#define CACHE_KEY_FORMAT "sluice-cache-v1"

/* Each field is length-prefixed, so ("ab", "c") and ("a", "bc") differ. */
static void put(EVP_MD_CTX *md, const char *s, size_t len)
{
    uint64_t n = len;
    unsigned char be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (unsigned char)(n >> (56 - 8 * i));
    EVP_DigestUpdate(md, be, sizeof(be));
    if (len)
        EVP_DigestUpdate(md, s, len);
}

static void put_str(EVP_MD_CTX *md, const char *s)
{
    put(md, s ? s : "", s ? strlen(s) : 0);
}

static void put_num(EVP_MD_CTX *md, const char *fmt, double v)
{
    char buf[64];
    snprintf(buf, sizeof(buf), fmt, v);
    put_str(md, buf);
}

static void finish_hex(EVP_MD_CTX *md, char out[CACHE_KEY_HEX])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(md, d, &n);
    EVP_MD_CTX_free(md);
    for (unsigned int i = 0; i < n && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    out[64] = '\0';
}

static EVP_MD_CTX *start(void)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        abort(); /* allocation: nothing sensible to do */
    put_str(md, CACHE_KEY_FORMAT);
    return md;
}

void cache_key_version(const struct config *cfg, const struct task_conf *task,
                       char out[CACHE_KEY_HEX])
{
    EVP_MD_CTX *md = start();
    put_str(md, task->name);
    put_num(md, "%.0f", (double)task->output);
    put_num(md, "%.0f", (double)task->n_labels);
    for (size_t i = 0; i < task->n_labels; i++)
        put_str(md, task->labels[i]);
    put_str(md, task->schema_text);
    put_str(md, task->system);
    put_str(md, task->prompt);
    put_num(md, "%.17g", task->confidence_threshold);
    put_num(md, "%.0f", (double)task->max_output_tokens);
    put_num(md, "%.0f", (double)task->n_ladder);
    for (size_t i = 0; i < task->n_ladder; i++) {
        const struct tier_conf *t = NULL;
        for (size_t k = 0; k < cfg->n_tiers; k++)
            if (cfg->tiers[k].tier == task->ladder[i])
                t = &cfg->tiers[k];
        put_num(md, "%.0f", (double)task->ladder[i]);
        put_str(md, t ? t->provider->name : "");
        put_num(md, "%.0f", t ? (double)t->provider->kind : -1.0);
        put_str(md, t ? t->model : "");
    }
    finish_hex(md, out);
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
}

size_t cache_key_normalize(const char *in, size_t len, char *out,
                           size_t out_size)
{
    size_t o = 0;
    size_t pending_space = 0;
    if (out_size == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (is_space(c)) {
            pending_space = o > 0 ? 1 : 0;
            continue;
        }
        if (pending_space + o + 1 >= out_size)
            break;
        if (pending_space)
            out[o++] = ' ';
        pending_space = 0;
        out[o++] = (char)c;
    }
    /* A cut inside a UTF-8 sequence drops its leading bytes. */
    if (o > 0 && ((unsigned char)out[o - 1] & 0x80)) {
        size_t k = o;
        while (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0x80)
            k--;
        if (k > 0) {
            unsigned char lead = (unsigned char)out[k - 1];
            size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
            if (o - (k - 1) < want)
                o = k - 1;
        }
    }
    out[o] = '\0';
    return o;
}

void cache_key_entry(const char *version, const char *tenant, const char *norm,
                     size_t len, char out[CACHE_KEY_HEX])
{
    EVP_MD_CTX *md = start();
    put_str(md, version);
    put_str(md, tenant);
    put(md, norm, len);
    finish_hex(md, out);
}
