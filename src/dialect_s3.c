/* The S3 dialect's XML bodies, parsed with expat (see dialect.h). A small
 * path-tracking walker turns the SAX stream into (path, text) events with hard
 * limits on depth, name and text length; DOCTYPEs and entity declarations are
 * refused, so entity expansion attacks never start. */
#include <errno.h>
#include <expat.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dialect.h"
#include "timefmt.h"

#define XML_MAX_DEPTH 16
#define XML_MAX_PATH 256
#define XML_MAX_TEXT (16 * 1024)

struct xml_walk {
    XML_Parser parser;
    char path[XML_MAX_PATH];
    size_t path_len;
    size_t saved_len[XML_MAX_DEPTH + 1];
    int depth;
    struct pfs_buf text;
    int error;
    /* Called at every element start and end with the full path
     * ("/ListBucketResult/Contents/Key"); text is the element's own text. */
    void (*on_start)(struct xml_walk *w, const char *path);
    void (*on_end)(struct xml_walk *w, const char *path, const char *text);
    void *user;
};

static void walk_fail(struct xml_walk *w, int err)
{
    if (!w->error)
        w->error = err;
    XML_StopParser(w->parser, XML_FALSE);
}

static void XMLCALL start_el(void *u, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    struct xml_walk *w = u;
    size_t n = strlen(name);
    if (w->depth >= XML_MAX_DEPTH || w->path_len + n + 2 > sizeof(w->path)) {
        walk_fail(w, -EPROTO);
        return;
    }
    w->saved_len[w->depth++] = w->path_len;
    w->path[w->path_len++] = '/';
    memcpy(w->path + w->path_len, name, n + 1);
    w->path_len += n;
    pfs_buf_reset(&w->text);
    if (w->on_start)
        w->on_start(w, w->path);
}

static void XMLCALL end_el(void *u, const XML_Char *name)
{
    (void)name;
    struct xml_walk *w = u;
    /* A start refused (too deep, a name too long) stops the parser, but
     * expat still ends an empty element (<a/>) it was part of: nothing was
     * pushed for it, and the walk has failed already. */
    if (w->error || w->depth == 0)
        return;
    if (pfs_buf_status(&w->text)) {
        walk_fail(w, -ENOMEM);
        return;
    }
    w->on_end(w, w->path, w->text.data ? w->text.data : "");
    pfs_buf_reset(&w->text);
    w->path_len = w->saved_len[--w->depth];
    w->path[w->path_len] = '\0';
}

static void XMLCALL chars(void *u, const XML_Char *s, int len)
{
    struct xml_walk *w = u;
    if (w->text.len + (size_t)len > XML_MAX_TEXT) {
        walk_fail(w, -EPROTO);
        return;
    }
    pfs_buf_append(&w->text, s, (size_t)len);
}

static void XMLCALL refuse_doctype(void *u, const XML_Char *name, const XML_Char *sysid,
                                   const XML_Char *pubid, int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    walk_fail(u, -EPROTO);
}

static void XMLCALL refuse_entity(void *u, const XML_Char *name, int is_param,
                                  const XML_Char *value, int value_len, const XML_Char *base,
                                  const XML_Char *sysid, const XML_Char *pubid,
                                  const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_len, (void)base, (void)sysid;
    (void)pubid, (void)notation;
    walk_fail(u, -EPROTO);
}

/* Runs the walker over a complete body. Returns 0 or -errno. */
static int walk_xml(struct xml_walk *w, const char *body, size_t len)
{
    if (len > INT32_MAX)
        return -EPROTO;
    w->parser = XML_ParserCreate("UTF-8");
    if (!w->parser)
        return -ENOMEM;
    pfs_buf_init(&w->text);
    XML_SetUserData(w->parser, w);
    XML_SetElementHandler(w->parser, start_el, end_el);
    XML_SetCharacterDataHandler(w->parser, chars);
    XML_SetStartDoctypeDeclHandler(w->parser, refuse_doctype);
    XML_SetEntityDeclHandler(w->parser, refuse_entity);
    enum XML_Status s = XML_Parse(w->parser, body, (int)len, XML_TRUE);
    int rc = w->error;
    if (!rc && s != XML_STATUS_OK)
        rc = -EPROTO;
    if (!rc && w->depth != 0)
        rc = -EPROTO;
    XML_ParserFree(w->parser);
    pfs_buf_cleanup(&w->text);
    return rc;
}

static bool path_is(const char *path, const char *want)
{
    return strcmp(path, want) == 0;
}

static int parse_u64(uint64_t *out, const char *s)
{
    if (*s < '0' || *s > '9')
        return -EPROTO;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -EPROTO;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (*s)
        return -EPROTO;
    *out = v;
    return 0;
}

/* ---- Error ---- */

struct error_state {
    struct pfs_status *st;
    bool is_error;
};

static void error_start(struct xml_walk *w, const char *path)
{
    struct error_state *e = w->user;
    if (path_is(path, "/Error"))
        e->is_error = true;
}

static void error_field(struct pfs_status *st, const char *path, const char *text)
{
    if (path_is(path, "/Error/Code"))
        pfs_status_set(st, text, NULL, NULL);
    else if (path_is(path, "/Error/Message"))
        pfs_status_set(st, NULL, text, NULL);
    else if (path_is(path, "/Error/RequestId"))
        pfs_status_set(st, NULL, NULL, text);
    else if (path_is(path, "/Error/Region")) /* a wrong region: the one it wants */
        pfs_status_set_region(st, text);
    else if (path_is(path, "/Error/Endpoint")) /* PermanentRedirect, TemporaryRedirect */
        pfs_status_set_endpoint(st, text);
}

static void error_end(struct xml_walk *w, const char *path, const char *text)
{
    struct error_state *e = w->user;
    error_field(e->st, path, text);
}

static int s3_parse_error(const char *body, size_t len, struct pfs_status *st)
{
    struct error_state e = {st, false};
    struct xml_walk w = {.on_start = error_start, .on_end = error_end, .user = &e};
    int rc = walk_xml(&w, body, len);
    if (rc)
        return rc;
    return e.is_error ? 0 : -EPROTO;
}

/* ---- ListBucketResult ---- */

struct list_state {
    struct pfs_list_page *page;
    size_t cap_entries, cap_prefixes;
    bool root_ok, url_encoded, in_entry;
};

static void list_start(struct xml_walk *w, const char *path)
{
    struct list_state *l = w->user;
    struct pfs_list_page *p = l->page;
    if (w->depth == 1) {
        l->root_ok = path_is(path, "/ListBucketResult");
        if (!l->root_ok)
            walk_fail(w, -EPROTO);
        return;
    }
    if (!path_is(path, "/ListBucketResult/Contents"))
        return;
    if (p->n_entries + p->n_prefixes >= PFS_LIST_MAX_ITEMS) {
        walk_fail(w, -EPROTO);
        return;
    }
    if (p->n_entries == l->cap_entries) {
        size_t cap = l->cap_entries ? l->cap_entries * 2 : 64;
        void *n = realloc(p->entries, cap * sizeof(*p->entries));
        if (!n) {
            walk_fail(w, -ENOMEM);
            return;
        }
        p->entries = n;
        l->cap_entries = cap;
    }
    memset(&p->entries[p->n_entries++], 0, sizeof(*p->entries));
    l->in_entry = true;
}

static int add_prefix(struct list_state *l, const char *text)
{
    struct pfs_list_page *p = l->page;
    if (p->n_entries + p->n_prefixes >= PFS_LIST_MAX_ITEMS)
        return -EPROTO;
    if (p->n_prefixes == l->cap_prefixes) {
        size_t cap = l->cap_prefixes ? l->cap_prefixes * 2 : 16;
        void *n = realloc(p->prefixes, cap * sizeof(*p->prefixes));
        if (!n)
            return -ENOMEM;
        p->prefixes = n;
        l->cap_prefixes = cap;
    }
    char *s = strdup(text);
    if (!s)
        return -ENOMEM;
    p->prefixes[p->n_prefixes++] = s;
    return 0;
}

static void list_end(struct xml_walk *w, const char *path, const char *text)
{
    struct list_state *l = w->user;
    struct pfs_list_page *p = l->page;
    struct pfs_list_entry *e = p->n_entries ? &p->entries[p->n_entries - 1] : NULL;
    int rc = 0;
    if (l->in_entry && strncmp(path, "/ListBucketResult/Contents/", 27) == 0) {
        const char *field = path + 27;
        if (strcmp(field, "Key") == 0) {
            free(e->key);
            e->key = strdup(text);
            rc = e->key ? 0 : -ENOMEM;
        } else if (strcmp(field, "Size") == 0) {
            rc = parse_u64(&e->size, text);
        } else if (strcmp(field, "LastModified") == 0) {
            rc = pfs_time_parse_iso8601(&e->mtime, text) ? -EPROTO : 0;
        } else if (strcmp(field, "ETag") == 0) {
            snprintf(e->etag, sizeof(e->etag), "%s", text);
        }
    } else if (path_is(path, "/ListBucketResult/Contents")) {
        l->in_entry = false;
        if (!e->key || !*e->key)
            rc = -EPROTO;
    } else if (path_is(path, "/ListBucketResult/CommonPrefixes/Prefix")) {
        rc = add_prefix(l, text);
    } else if (path_is(path, "/ListBucketResult/IsTruncated")) {
        if (strcmp(text, "true") == 0)
            p->truncated = true;
        else if (strcmp(text, "false") == 0)
            p->truncated = false;
        else
            rc = -EPROTO;
    } else if (path_is(path, "/ListBucketResult/NextContinuationToken")) {
        free(p->next_token);
        p->next_token = strdup(text);
        rc = p->next_token ? 0 : -ENOMEM;
    } else if (path_is(path, "/ListBucketResult/EncodingType")) {
        l->url_encoded = strcmp(text, "url") == 0;
    }
    if (rc)
        walk_fail(w, rc);
}

static int s3_parse_list(const char *body, size_t len, struct pfs_list_page *out)
{
    memset(out, 0, sizeof(*out));
    struct list_state l = {.page = out};
    struct xml_walk w = {.on_start = list_start, .on_end = list_end, .user = &l};
    int rc = walk_xml(&w, body, len);
    if (!rc && !l.root_ok)
        rc = -EPROTO;
    if (!rc && out->truncated && (!out->next_token || !*out->next_token))
        rc = -EPROTO; /* a truncated page we could never continue */
    if (!rc && l.url_encoded)
        rc = pfs_list_page_url_decode(out);
    if (rc)
        pfs_list_page_cleanup(out);
    return rc;
}

/* ---- ListMultipartUploadsResult ---- */

struct uploads_state {
    struct pfs_upload_list *l;
    size_t cap;
    bool root_ok, in_upload;
};

static void uploads_start(struct xml_walk *w, const char *path)
{
    struct uploads_state *u = w->user;
    if (w->depth == 1) {
        u->root_ok = path_is(path, "/ListMultipartUploadsResult");
        if (!u->root_ok)
            walk_fail(w, -EPROTO);
        return;
    }
    if (!path_is(path, "/ListMultipartUploadsResult/Upload"))
        return;
    if (u->l->n >= PFS_LIST_MAX_ITEMS) {
        walk_fail(w, -EPROTO);
        return;
    }
    if (u->l->n == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 16;
        void *n = realloc(u->l->v, cap * sizeof(*u->l->v));
        if (!n) {
            walk_fail(w, -ENOMEM);
            return;
        }
        u->l->v = n;
        u->cap = cap;
    }
    memset(&u->l->v[u->l->n++], 0, sizeof(*u->l->v));
    u->in_upload = true;
}

static void uploads_end(struct xml_walk *w, const char *path, const char *text)
{
    struct uploads_state *u = w->user;
    struct pfs_upload_info *e = u->l->n ? &u->l->v[u->l->n - 1] : NULL;
    int rc = 0;
    if (u->in_upload && strncmp(path, "/ListMultipartUploadsResult/Upload/", 35) == 0) {
        const char *field = path + 35;
        char **dst = strcmp(field, "Key") == 0        ? &e->key
                     : strcmp(field, "UploadId") == 0 ? &e->upload_id
                                                      : NULL;
        if (dst) {
            free(*dst);
            *dst = strdup(text);
            rc = *dst ? 0 : -ENOMEM;
        } else if (strcmp(field, "Initiated") == 0) {
            rc = pfs_time_parse_iso8601(&e->initiated, text) ? -EPROTO : 0;
        }
    } else if (path_is(path, "/ListMultipartUploadsResult/Upload")) {
        u->in_upload = false;
        if (!e->key || !*e->key || !e->upload_id || !*e->upload_id)
            rc = -EPROTO;
    } else if (path_is(path, "/ListMultipartUploadsResult/IsTruncated")) {
        u->l->truncated = strcmp(text, "true") == 0;
    }
    if (rc)
        walk_fail(w, rc);
}

static int s3_parse_uploads(const char *body, size_t len, struct pfs_upload_list *out)
{
    memset(out, 0, sizeof(*out));
    struct uploads_state u = {.l = out};
    struct xml_walk w = {.on_start = uploads_start, .on_end = uploads_end, .user = &u};
    int rc = walk_xml(&w, body, len);
    if (!rc && !u.root_ok)
        rc = -EPROTO;
    if (rc)
        pfs_upload_list_cleanup(out);
    return rc;
}

/* ---- InitiateMultipartUploadResult ---- */

static void upload_id_end(struct xml_walk *w, const char *path, const char *text)
{
    char **id = w->user;
    if (path_is(path, "/InitiateMultipartUploadResult/UploadId")) {
        free(*id);
        *id = strdup(text);
        if (!*id)
            walk_fail(w, -ENOMEM);
    }
}

static int s3_parse_upload_id(const char *body, size_t len, char **upload_id_out)
{
    *upload_id_out = NULL;
    struct xml_walk w = {.on_end = upload_id_end, .user = upload_id_out};
    int rc = walk_xml(&w, body, len);
    if (!rc && (!*upload_id_out || !**upload_id_out))
        rc = -EPROTO;
    if (rc) {
        free(*upload_id_out);
        *upload_id_out = NULL;
    }
    return rc;
}

/* ---- CopyObjectResult / CompleteMultipartUploadResult / Error ---- */

struct etag_state {
    char *etag;
    bool have_etag, is_error, known_root;
    struct pfs_status *st;
};

static void etag_start(struct xml_walk *w, const char *path)
{
    struct etag_state *e = w->user;
    if (w->depth != 1)
        return;
    e->is_error = path_is(path, "/Error");
    e->known_root = e->is_error || path_is(path, "/CopyObjectResult") ||
                    path_is(path, "/CompleteMultipartUploadResult") ||
                    path_is(path, "/CopyPartResult");
}

static void etag_end(struct xml_walk *w, const char *path, const char *text)
{
    struct etag_state *e = w->user;
    if (e->is_error) {
        error_field(e->st, path, text);
    } else if (w->depth == 2 && strcmp(strrchr(path, '/'), "/ETag") == 0) {
        snprintf(e->etag, 80, "%s", text);
        e->have_etag = *text != '\0';
    }
}

static int s3_parse_etag_result(const char *body, size_t len, char etag_out[80],
                                struct pfs_status *st)
{
    etag_out[0] = '\0';
    struct etag_state e = {.etag = etag_out, .st = st};
    struct xml_walk w = {.on_start = etag_start, .on_end = etag_end, .user = &e};
    int rc = walk_xml(&w, body, len);
    if (rc)
        return rc;
    if (e.is_error)
        return -EIO;
    if (!e.known_root || !e.have_etag)
        return -EPROTO;
    return 0;
}

/* ---- DeleteResult ---- */

struct delete_state {
    struct pfs_delete_result *r;
    size_t cap;
    bool root_ok;
};

static void delete_start(struct xml_walk *w, const char *path)
{
    struct delete_state *d = w->user;
    if (w->depth == 1) {
        d->root_ok = path_is(path, "/DeleteResult");
        return;
    }
    if (!path_is(path, "/DeleteResult/Error"))
        return;
    struct pfs_delete_result *r = d->r;
    if (r->n_errors + r->n_deleted >= PFS_LIST_MAX_ITEMS) {
        walk_fail(w, -EPROTO);
        return;
    }
    if (r->n_errors == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        void *n = realloc(r->errors, cap * sizeof(*r->errors));
        if (!n) {
            walk_fail(w, -ENOMEM);
            return;
        }
        r->errors = n;
        d->cap = cap;
    }
    memset(&r->errors[r->n_errors++], 0, sizeof(*r->errors));
}

static void delete_end(struct xml_walk *w, const char *path, const char *text)
{
    struct delete_state *d = w->user;
    struct pfs_delete_result *r = d->r;
    struct pfs_delete_error *e = r->n_errors ? &r->errors[r->n_errors - 1] : NULL;
    if (path_is(path, "/DeleteResult/Deleted")) {
        if (++r->n_deleted >= PFS_LIST_MAX_ITEMS)
            walk_fail(w, -EPROTO);
    } else if (e && path_is(path, "/DeleteResult/Error/Key")) {
        free(e->key);
        e->key = strdup(text);
        if (!e->key)
            walk_fail(w, -ENOMEM);
    } else if (e && path_is(path, "/DeleteResult/Error/Code")) {
        snprintf(e->code, sizeof(e->code), "%s", text);
    } else if (e && path_is(path, "/DeleteResult/Error/Message")) {
        snprintf(e->message, sizeof(e->message), "%s", text);
    }
}

static int s3_parse_delete_result(const char *body, size_t len, struct pfs_delete_result *out)
{
    memset(out, 0, sizeof(*out));
    struct delete_state d = {.r = out};
    struct xml_walk w = {.on_start = delete_start, .on_end = delete_end, .user = &d};
    int rc = walk_xml(&w, body, len);
    if (!rc && !d.root_ok)
        rc = -EPROTO;
    for (size_t i = 0; !rc && i < out->n_errors; i++)
        if (!out->errors[i].key)
            rc = -EPROTO;
    if (rc)
        pfs_delete_result_cleanup(out);
    return rc;
}

/* ---- request bodies ---- */

/* XML 1.0 cannot carry most control characters at all: refuse them. */
static int xml_escape(struct pfs_buf *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&':
            pfs_buf_puts(out, "&amp;");
            break;
        case '<':
            pfs_buf_puts(out, "&lt;");
            break;
        case '>':
            pfs_buf_puts(out, "&gt;");
            break;
        case '"':
            pfs_buf_puts(out, "&quot;");
            break;
        case '\'':
            pfs_buf_puts(out, "&apos;");
            break;
        case '\t':
        case '\n':
        case '\r':
            pfs_buf_printf(out, "&#%d;", c);
            break;
        default:
            if (c < 0x20)
                return -EINVAL;
            pfs_buf_putc(out, (char)c);
        }
    }
    return 0;
}

static int s3_build_complete(struct pfs_buf *out, const struct pfs_part *parts, size_t n)
{
    pfs_buf_puts(out, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < n; i++) {
        pfs_buf_printf(out, "<Part><PartNumber>%d</PartNumber><ETag>", parts[i].number);
        int rc = xml_escape(out, parts[i].etag);
        if (rc)
            return rc;
        pfs_buf_puts(out, "</ETag></Part>");
    }
    pfs_buf_puts(out, "</CompleteMultipartUpload>");
    return pfs_buf_status(out);
}

static int s3_build_delete(struct pfs_buf *out, const char *const *keys, size_t n)
{
    pfs_buf_puts(out, "<Delete><Quiet>true</Quiet>");
    for (size_t i = 0; i < n; i++) {
        pfs_buf_puts(out, "<Object><Key>");
        int rc = xml_escape(out, keys[i]);
        if (rc)
            return rc;
        pfs_buf_puts(out, "</Key></Object>");
    }
    pfs_buf_puts(out, "</Delete>");
    return pfs_buf_status(out);
}

const struct pfs_dialect_ops pfs_dialect_s3 = {
    .id = PFS_DIALECT_S3,
    .header_prefix = "x-amz-",
    .meta_prefix = "x-amz-meta-",
    .body_type = "application/xml",
    .parse_error = s3_parse_error,
    .parse_list = s3_parse_list,
    .parse_upload_id = s3_parse_upload_id,
    .parse_etag_result = s3_parse_etag_result,
    .parse_delete_result = s3_parse_delete_result,
    .parse_uploads = s3_parse_uploads,
    .build_complete = s3_build_complete,
    .build_delete = s3_build_delete,
};
