/* The status verb: what the write-back journal of a cache directory (or of
 * a mount, found through the runtime registry) still holds, for a person or,
 * with --json, for a script. Read-only: it takes no lock that it keeps. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "buf.h"
#include "cli.h"
#include "control.h"
#include "crypto.h"
#include "journal.h"
#include "runtime.h"

struct entry {
    struct pfs_jrec r;
    bool live;
};

struct entries {
    struct entry *v;
    size_t n, cap;
};

static int collect(void *ctx, const struct pfs_jrec *r, bool live)
{
    struct entries *es = ctx;
    if (es->n == es->cap) {
        size_t cap = es->cap ? 2 * es->cap : 16;
        void *v = realloc(es->v, cap * sizeof(*es->v));
        if (!v)
            return -ENOMEM;
        es->v = v;
        es->cap = cap;
    }
    if (pfs_jrec_copy(&es->v[es->n].r, r))
        return -ENOMEM;
    es->v[es->n++].live = live;
    return 0;
}

static int by_age(const void *a, const void *b)
{
    const struct pfs_jrec *x = &((const struct entry *)a)->r, *y = &((const struct entry *)b)->r;
    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    return strcmp(x->id, y->id);
}

static void human_size(char *out, size_t len, uint64_t n)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (n < 1024) {
        snprintf(out, len, "%llu B", (unsigned long long)n);
        return;
    }
    double v = (double)n / 1024;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    snprintf(out, len, "%.1f %s", v, units[u]);
}

static void human_age(char *out, size_t len, int64_t created, int64_t now)
{
    if (created <= 0) {
        snprintf(out, len, "-");
        return;
    }
    long long d = now > created ? (long long)(now - created) : 0;
    if (d < 60)
        snprintf(out, len, "%llds", d);
    else if (d < 3600)
        snprintf(out, len, "%lldm", d / 60);
    else if (d < 86400)
        snprintf(out, len, "%lldh", d / 3600);
    else
        snprintf(out, len, "%lldd", d / 86400);
}

/* Prints bytes that came from a file: control characters (C1 included) and,
 * when the text is not UTF-8, every byte >= 0x80 as \xNN, so a hostile key
 * cannot drive the terminal. */
static void print_safe(FILE *out, const char *s)
{
    json_t *probe = json_string(s);
    bool utf8 = probe != NULL;
    json_decref(probe);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool c1 = utf8 && p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;
        if (*p < 0x20 || *p == 0x7f || *p == '\\' || (!utf8 && *p >= 0x80)) {
            fprintf(out, "\\x%02x", *p);
        } else if (c1) {
            fprintf(out, "\\xc2\\x%02x", p[1]);
            p++;
        } else {
            fputc(*p, out);
        }
    }
}

/* NAME as a JSON string, NAME_hex when the bytes are not UTF-8, null when
 * absent (the journal's own convention). */
static int put_bytes(json_t *o, const char *name, const char *value)
{
    if (!value)
        return json_object_set_new(o, name, json_null());
    json_t *s = json_string(value);
    if (s)
        return json_object_set_new(o, name, s);
    size_t n = strlen(value);
    char *hex = malloc(2 * n + 1);
    char hex_name[64];
    if (!hex)
        return -1;
    pfs_crypto_hex(hex, (const uint8_t *)value, n);
    snprintf(hex_name, sizeof(hex_name), "%s_hex", name);
    int rc = json_object_set_new(o, hex_name, json_string(hex));
    free(hex);
    return rc;
}

#define PROGRESS_TIMEOUT_MS 2000

/* What the daemon of mountpoint is uploading now (the "upload_progress" of
 * its stats, metrics.h), or NULL when it does not answer: the journal alone
 * is then the answer. */
static json_t *live_progress(const char *mountpoint)
{
    char sock[256];
    if (pfs_runtime_socket_path(mountpoint, sock, sizeof(sock)) != 0)
        return NULL;
    struct pfs_buf b;
    pfs_buf_init(&b);
    json_t *progress = NULL;
    if (pfs_control_fetch(sock, &b, PROGRESS_TIMEOUT_MS) == 0 && b.data) {
        json_t *root = json_loadb(b.data, b.len, 0, NULL);
        json_t *p = json_object_get(root, "upload_progress");
        if (json_is_object(p) && json_is_array(json_object_get(p, "largest")))
            progress = json_incref(p);
        json_decref(root);
    }
    pfs_buf_cleanup(&b);
    return progress;
}

/* The in-flight upload of key in progress, or NULL. */
static json_t *progress_of(json_t *progress, const char *key)
{
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(progress, "largest"), i, item)
    {
        const char *k = json_string_value(json_object_get(item, "key"));
        if (k && key && strcmp(k, key) == 0)
            return item;
    }
    return NULL;
}

static uint64_t jnum(json_t *o, const char *name)
{
    json_int_t v = json_integer_value(json_object_get(o, name));
    return v > 0 ? (uint64_t)v : 0;
}

static int print_json(FILE *out, const char *cache_dir, const struct entries *es, int64_t now,
                      json_t *progress)
{
    json_t *root = json_object(), *list = json_array();
    long long failed = 0, bytes = 0;
    int rc = -1;
    if (!root || !list || json_object_set(root, "entries", list) ||
        put_bytes(root, "cache_dir", cache_dir))
        goto out;
    for (size_t i = 0; i < es->n; i++) {
        const struct pfs_jrec *r = &es->v[i].r;
        json_t *e = json_object();
        if (!e || json_array_append_new(list, e))
            goto out;
        if (json_object_set_new(e, "id", json_string(r->id)) ||
            json_object_set_new(e, "state", json_string(pfs_jstate_name(r->state))) ||
            json_object_set_new(e, "live", json_boolean(es->v[i].live)) ||
            put_bytes(e, "bucket", r->bucket) || put_bytes(e, "prefix", r->prefix) ||
            put_bytes(e, "key", r->key) ||
            json_object_set_new(
                e, "size", json_integer(r->size > LLONG_MAX ? LLONG_MAX : (long long)r->size)) ||
            json_object_set_new(e, "created", json_integer(r->created)) ||
            json_object_set_new(e, "updated", json_integer(r->updated)) ||
            json_object_set_new(
                e, "age",
                json_integer(r->created > 0 && now > r->created ? now - r->created : 0)) ||
            json_object_set_new(e, "attempts", json_integer(r->attempts)) ||
            put_bytes(e, "error", r->error))
            goto out;
        failed += r->state == PFS_J_FAILED;
        if (r->size <= (uint64_t)(LLONG_MAX - bytes))
            bytes += (long long)r->size;
    }
    if (json_object_set(root, "in_flight", progress ? progress : json_null()) ||
        json_object_set_new(root, "pending", json_integer((long long)es->n)) ||
        json_object_set_new(root, "failed", json_integer(failed)) ||
        json_object_set_new(root, "bytes", json_integer(bytes)))
        goto out;
    rc = json_dumpf(root, out, JSON_INDENT(2));
    if (rc == 0)
        fputc('\n', out);
out:
    json_decref(list);
    json_decref(root);
    return rc;
}

static void print_text(FILE *out, const char *cache_dir, const struct entries *es, int64_t now,
                       json_t *progress)
{
    if (es->n == 0) {
        fprintf(out, "nothing pending in ");
        print_safe(out, cache_dir);
        fputc('\n', out);
        return;
    }
    uint64_t bytes = 0;
    size_t failed = 0;
    char size[32], age[32], state[32];
    fprintf(out, "%-15s %10s %5s  %s\n", "STATE", "SIZE", "AGE", "KEY");
    for (size_t i = 0; i < es->n; i++) {
        const struct pfs_jrec *r = &es->v[i].r;
        snprintf(state, sizeof(state), "%s %s", pfs_jstate_name(r->state),
                 es->v[i].live ? "live" : "orphaned");
        human_size(size, sizeof(size), r->size);
        human_age(age, sizeof(age), r->created, now);
        fprintf(out, "%-15s %10s %5s  ", state, size, age);
        if (r->key)
            print_safe(out, r->key);
        else
            fprintf(out, "(no record: %s.data)", r->id);
        json_t *p = progress_of(progress, r->key);
        if (p) {
            char sent[32], total[32];
            uint64_t s = jnum(p, "sent"), t = jnum(p, "total");
            human_size(sent, sizeof(sent), s);
            human_size(total, sizeof(total), t);
            fprintf(out, "  uploading: %s of %s sent (%d%%)", sent, total,
                    t ? (int)(s * 100 / t) : 0);
        }
        if (r->error) {
            fprintf(out, "  error: ");
            print_safe(out, r->error);
            if (r->attempts)
                fprintf(out, " (%d attempt%s)", r->attempts, r->attempts == 1 ? "" : "s");
        }
        fputc('\n', out);
        bytes += r->size;
        failed += r->state == PFS_J_FAILED;
    }
    human_size(size, sizeof(size), bytes);
    fprintf(out, "%zu file%s, %s, %zu failed", es->n, es->n == 1 ? "" : "s", size, failed);
    if (progress && jnum(progress, "uploads")) {
        char rest[32];
        human_size(rest, sizeof(rest), jnum(progress, "remaining_bytes"));
        fprintf(out, "; %llu uploading now, %s still to send",
                (unsigned long long)jnum(progress, "uploads"), rest);
    }
    fputc('\n', out);
}

static bool has_journal(const char *dir)
{
    char path[PATH_MAX];
    struct stat st;
    int n = snprintf(path, sizeof(path), "%s/journal", dir);
    return n > 0 && (size_t)n < sizeof(path) && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: presignfs status [--json] CACHE_DIR|MOUNTPOINT\n"
               "Lists the files the write-back journal still holds: staged, waiting for\n"
               "upload, failed, or left by a daemon that died (orphaned).\n");
}

int pfs_cli_status(int argc, char **argv, FILE *out, FILE *err)
{
    const char *arg = NULL;
    bool json = false, dashdash = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!dashdash && strcmp(a, "--json") == 0) {
            json = true;
        } else if (!dashdash && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
            usage(out);
            return PFS_EXIT_OK;
        } else if (!dashdash && strcmp(a, "--") == 0) {
            dashdash = true;
        } else if (!dashdash && a[0] == '-' && a[1]) {
            fprintf(err, "presignfs status: unknown option '%s' (see --help)\n", a);
            return PFS_EXIT_USAGE;
        } else if (arg) {
            fprintf(err, "presignfs status: expected one CACHE_DIR or MOUNTPOINT (see --help)\n");
            return PFS_EXIT_USAGE;
        } else {
            arg = a;
        }
    }
    if (!arg || !*arg) {
        fprintf(err, "presignfs status: expected CACHE_DIR or MOUNTPOINT (see --help)\n");
        return PFS_EXIT_USAGE;
    }
    /* The registry first: a mount whose bucket has a journal/ folder is
     * still a mount point. */
    char cache_dir[PATH_MAX];
    json_t *progress = NULL;
    if (pfs_runtime_lookup(arg, cache_dir, sizeof(cache_dir)) == 0) {
        progress = live_progress(arg); /* a mount: its uploads in flight too */
    } else {
        struct stat st;
        if (!has_journal(arg)) {
            if (stat(arg, &st) != 0)
                fprintf(err, "presignfs status: %s: %s\n", arg, strerror(errno));
            else
                fprintf(err,
                        "presignfs status: %s is neither a cache directory (no journal/ in it) "
                        "nor the mount point of a running presignfs\n",
                        arg);
            return PFS_EXIT_USAGE;
        }
        snprintf(cache_dir, sizeof(cache_dir), "%s", arg);
    }
    struct entries es = {NULL, 0, 0};
    int rc = pfs_journal_list(cache_dir, collect, &es);
    int status = PFS_EXIT_OK;
    if (rc == -ENOENT) { /* a registered mount that has not staged anything yet */
        rc = 0;
    }
    if (rc) {
        fprintf(err, "presignfs status: cannot read %s/journal: %s\n", cache_dir, strerror(-rc));
        status = PFS_EXIT_FAILURE;
        goto out;
    }
    if (es.n)
        qsort(es.v, es.n, sizeof(*es.v), by_age);
    int64_t now = (int64_t)time(NULL);
    if (json) {
        if (print_json(out, cache_dir, &es, now, progress) != 0) {
            fprintf(err, "presignfs status: out of memory\n");
            status = PFS_EXIT_FAILURE;
        }
    } else {
        print_text(out, cache_dir, &es, now, progress);
    }
out:
    json_decref(progress);
    for (size_t i = 0; i < es.n; i++)
        pfs_jrec_cleanup(&es.v[i].r);
    free(es.v);
    return status;
}
