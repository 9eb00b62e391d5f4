/* Content types from extensions (see mime.h). The table is a sorted array of
 * (extension, type) pairs searched with bsearch. mime.types lines are
 * "type ext ext ..."; '#' starts a comment. Debian's media-types package
 * installs it; no Debian library maps extensions to types without pulling in
 * GLib, so it is parsed here as s3fs parses it. */
#include "mime.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct mime_entry {
    char *ext; /* lower-case */
    char *type;
    size_t order; /* line order: the first line naming an extension wins */
};

struct pfs_mime {
    struct mime_entry *e;
    size_t n, cap;
    char *fallback; /* NULL: none */
};

/* Used when the system has no mime.types: the types a browser is asked to show. */
static const char *const builtin[][2] = {
    {"application/gzip", "gz"},   {"application/json", "json"}, {"application/pdf", "pdf"},
    {"application/x-tar", "tar"}, {"application/xml", "xml"},   {"application/zip", "zip"},
    {"audio/mpeg", "mp3"},        {"image/gif", "gif"},         {"image/jpeg", "jpg"},
    {"image/jpeg", "jpeg"},       {"image/png", "png"},         {"image/svg+xml", "svg"},
    {"image/webp", "webp"},       {"text/css", "css"},          {"text/csv", "csv"},
    {"text/html", "html"},        {"text/html", "htm"},         {"text/javascript", "js"},
    {"text/plain", "txt"},        {"text/markdown", "md"},      {"video/mp4", "mp4"},
    {"video/webm", "webm"},
};

static int add(struct pfs_mime *m, const char *ext, size_t elen, const char *type, size_t tlen)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        struct mime_entry *e = realloc(m->e, cap * sizeof(*e));
        if (!e)
            return -ENOMEM;
        m->e = e;
        m->cap = cap;
    }
    char *x = strndup(ext, elen), *t = strndup(type, tlen);
    if (!x || !t) {
        free(x);
        free(t);
        return -ENOMEM;
    }
    for (char *p = x; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    m->e[m->n] = (struct mime_entry){x, t, m->n};
    m->n++;
    return 0;
}

static int cmp_ext(const void *a, const void *b)
{
    const struct mime_entry *x = a, *y = b;
    return strcmp(x->ext, y->ext);
}

static int cmp_entry(const void *a, const void *b)
{
    const struct mime_entry *x = a, *y = b;
    int c = strcmp(x->ext, y->ext);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

/* One line of mime.types; malformed lines are skipped. */
static int parse_line(struct pfs_mime *m, char *line)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    const char *sep = " \t\r\n";
    char *save = NULL;
    char *type = strtok_r(line, sep, &save);
    if (!type || !strchr(type, '/') || strlen(type) > 127)
        return 0;
    for (char *ext; (ext = strtok_r(NULL, sep, &save)) != NULL;)
        if (strlen(ext) <= 32) {
            int rc = add(m, ext, strlen(ext), type, strlen(type));
            if (rc)
                return rc;
        }
    return 0;
}

int pfs_mime_new(struct pfs_mime **out, const char *path, const char *fallback)
{
    *out = NULL;
    struct pfs_mime *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    int rc = 0;
    if (fallback && *fallback && !(m->fallback = strdup(fallback)))
        rc = -ENOMEM;
    FILE *f = rc ? NULL : fopen(path ? path : "/etc/mime.types", "re");
    if (f) {
        char line[1024];
        while (rc == 0 && fgets(line, sizeof(line), f))
            rc = parse_line(m, line);
        fclose(f);
    }
    bool use_builtin = m->n == 0;
    for (size_t i = 0; rc == 0 && use_builtin && i < sizeof(builtin) / sizeof(builtin[0]); i++)
        rc = add(m, builtin[i][1], strlen(builtin[i][1]), builtin[i][0], strlen(builtin[i][0]));
    if (rc) {
        pfs_mime_free(m);
        return rc;
    }
    if (m->n)
        qsort(m->e, m->n, sizeof(*m->e), cmp_entry);
    size_t w = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (w && strcmp(m->e[w - 1].ext, m->e[i].ext) == 0) {
            free(m->e[i].ext);
            free(m->e[i].type);
            continue;
        }
        m->e[w++] = m->e[i];
    }
    m->n = w;
    *out = m;
    return 0;
}

void pfs_mime_free(struct pfs_mime *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].ext);
        free(m->e[i].type);
    }
    free(m->e);
    free(m->fallback);
    free(m);
}

const char *pfs_mime_for_key(const struct pfs_mime *m, const char *key)
{
    if (!m)
        return NULL;
    const char *slash = strrchr(key, '/');
    const char *name = slash ? slash + 1 : key;
    const char *dot = strrchr(name, '.');
    char ext[33];
    size_t elen = dot ? strlen(dot + 1) : 0;
    if (dot && dot != name && elen > 0 && elen < sizeof(ext)) {
        for (size_t i = 0; i <= elen; i++)
            ext[i] = (char)tolower((unsigned char)dot[1 + i]);
        struct mime_entry k = {ext, NULL, 0};
        const struct mime_entry *e = bsearch(&k, m->e, m->n, sizeof(*m->e), cmp_ext);
        if (e)
            return e->type;
    }
    return m->fallback;
}

size_t pfs_mime_count(const struct pfs_mime *m)
{
    return m ? m->n : 0;
}
