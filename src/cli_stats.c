/* The stats verb: a mount's live counters, read from its daemon through the
 * control socket (control.h) found by the mount point (runtime.h). A table
 * for a person, or with --json the daemon's JSON object as it came. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "control.h"
#include "runtime.h"

#define STATS_TIMEOUT_MS 5000

/* The file system type of the mount at path (resolved) per
 * /proc/self/mountinfo: 1 and type_out filled, 0 when path is not a mount
 * point, -errno when mountinfo cannot be read. */
static int mount_type(const char *path, char *type_out, size_t len)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f)
        return -errno;
    char *line = NULL;
    size_t cap = 0;
    int found = 0;
    while (getline(&line, &cap, f) > 0) {
        /* field 5 is the mount point (spaces as \040); after " - " the type */
        char *save = NULL, *tok = strtok_r(line, " ", &save);
        for (int i = 1; tok && i < 5; i++)
            tok = strtok_r(NULL, " ", &save);
        if (!tok)
            continue;
        char mp[PATH_MAX];
        size_t o = 0;
        for (const char *p = tok; *p && o < sizeof(mp) - 1; p++) {
            if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] && p[3]) {
                mp[o++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
                p += 3;
            } else {
                mp[o++] = *p;
            }
        }
        mp[o] = '\0';
        if (strcmp(mp, path) != 0)
            continue;
        while ((tok = strtok_r(NULL, " ", &save)) && strcmp(tok, "-") != 0)
            ;
        tok = tok ? strtok_r(NULL, " ", &save) : NULL;
        snprintf(type_out, len, "%s", tok ? tok : "?");
        found = 1; /* the last entry wins: it is the one on top */
    }
    free(line);
    fclose(f);
    return found;
}

static void human_bytes(char *out, size_t len, json_int_t n)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (n < 1024) {
        snprintf(out, len, "%lld B", (long long)n);
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

static json_int_t num(json_t *o, const char *name)
{
    return json_integer_value(json_object_get(o, name));
}

static void print_table(FILE *out, json_t *j)
{
    json_t *req = json_object_get(j, "requests"), *failed = json_object_get(j, "requests_failed"),
           *lat = json_object_get(j, "latency_seconds");
    fprintf(out, "%-10s %10s %8s %12s\n", "request", "count", "failed", "mean");
    const char *kind;
    json_t *v;
    json_int_t total = 0;
    json_object_foreach(req, kind, v)
    {
        json_int_t n = json_integer_value(v);
        total += n;
        if (n == 0)
            continue;
        double sum = json_real_value(json_object_get(json_object_get(lat, kind), "sum"));
        fprintf(out, "%-10s %10lld %8lld %9.1f ms\n", kind, (long long)n,
                (long long)num(failed, kind), 1000 * sum / (double)n);
    }
    fprintf(out, "%-10s %10lld\n", "all", (long long)total);
    char in[32], sent[32];
    human_bytes(in, sizeof(in), num(j, "bytes_in"));
    human_bytes(sent, sizeof(sent), num(j, "bytes_out"));
    fprintf(out, "retries %lld, re-signs %lld; received %s, sent %s\n",
            (long long)num(j, "retries"), (long long)num(j, "resigns"), in, sent);
    json_t *u = json_object_get(j, "urlcache");
    fprintf(out, "url cache: %lld hits, %lld misses, %lld refreshes, %lld evictions\n",
            (long long)num(u, "hits"), (long long)num(u, "misses"), (long long)num(u, "refreshes"),
            (long long)num(u, "evictions"));
    json_t *up = json_object_get(j, "uploads");
    if (json_is_object(up)) {
        char staged[32];
        human_bytes(staged, sizeof(staged), num(up, "staged_bytes"));
        fprintf(out, "uploads: %lld pending, %lld queued, %lld in flight, %lld failed; %s staged\n",
                (long long)num(up, "pending"), (long long)num(up, "queued"),
                (long long)num(up, "in_flight"), (long long)num(up, "failed"), staged);
    }
    json_t *dc = json_object_get(j, "data_cache");
    if (json_is_object(dc)) {
        char hit[32], used[32];
        human_bytes(hit, sizeof(hit), num(dc, "hit_bytes"));
        human_bytes(used, sizeof(used), num(dc, "bytes"));
        fprintf(out,
                "data cache: %lld hits (%s), %lld misses, %lld corrupt, %lld evictions; %s "
                "used\n",
                (long long)num(dc, "hits"), hit, (long long)num(dc, "misses"),
                (long long)num(dc, "corrupt"), (long long)num(dc, "evictions"), used);
    }
    fprintf(out, "fuse:");
    json_object_foreach(json_object_get(j, "fuse"), kind, v)
    {
        if (json_integer_value(v))
            fprintf(out, " %s %lld", kind, (long long)json_integer_value(v));
    }
    fprintf(out, "\n");
}

int pfs_cli_stats(int argc, char **argv, FILE *out, FILE *err)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    bool as_json = false;
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'j') {
            as_json = true;
        } else if (c == 'h') {
            fprintf(out, "Usage: presignfs stats [--json] MOUNTPOINT\n");
            return PFS_EXIT_OK;
        } else {
            fprintf(err, "presignfs stats: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return PFS_EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        fprintf(err, "presignfs stats: expected MOUNTPOINT (see --help)\n");
        return PFS_EXIT_USAGE;
    }
    const char *mp = argv[optind];
    char resolved[PATH_MAX], type[64];
    if (realpath(mp, resolved)) {
        int t = mount_type(resolved, type, sizeof(type));
        if (t == 0) {
            fprintf(err, "presignfs stats: %s is not a mount point\n", mp);
            return PFS_EXIT_USAGE;
        }
        if (t > 0 && strcmp(type, "fuse.presignfs") != 0) {
            fprintf(err, "presignfs stats: %s is not a presignfs mount (it is %s)\n", mp, type);
            return PFS_EXIT_USAGE;
        }
    } else if (errno != ENOTCONN) { /* ENOTCONN: a FUSE mount whose daemon is gone */
        fprintf(err, "presignfs stats: %s: %s\n", mp, strerror(errno));
        return PFS_EXIT_USAGE;
    }
    char sock[PATH_MAX];
    int rc = pfs_runtime_socket_path(mp, sock, sizeof(sock));
    if (rc) {
        fprintf(err, "presignfs stats: the control socket of %s: %s\n", mp, strerror(-rc));
        return PFS_EXIT_FAILURE;
    }
    struct pfs_buf b;
    pfs_buf_init(&b);
    rc = pfs_control_fetch(sock, &b, STATS_TIMEOUT_MS);
    json_t *j = NULL;
    if (rc == 0) {
        json_error_t jerr;
        j = json_loadb(b.data ? b.data : "", b.len, 0, &jerr);
        if (!json_is_object(j) || !json_is_object(json_object_get(j, "requests")))
            rc = -EPROTO;
    }
    int status = PFS_EXIT_OK;
    if (rc == -ENOENT || rc == -ECONNREFUSED) {
        fprintf(err,
                "presignfs stats: the daemon of %s does not answer: %s %s (it is not running, "
                "or it runs as another user or with another runtime directory)\n",
                mp, rc == -ENOENT ? "no control socket" : "nobody listens on", sock);
        status = PFS_EXIT_FAILURE;
    } else if (rc) {
        fprintf(err, "presignfs stats: the daemon of %s does not answer on %s: %s\n", mp, sock,
                rc == -ETIMEDOUT ? "no answer within 5 s"
                : rc == -EPROTO  ? "not a stats answer"
                                 : strerror(-rc));
        status = PFS_EXIT_FAILURE;
    } else if (as_json) {
        fwrite(b.data, 1, b.len, out);
    } else {
        print_table(out, j);
    }
    json_decref(j);
    pfs_buf_cleanup(&b);
    return status;
}
