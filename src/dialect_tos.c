/* The TOS dialect's JSON bodies, parsed with jansson (see dialect.h). jansson
 * rejects invalid UTF-8 and bounds nesting depth itself; every field is
 * type-checked before use, and absent fields take the empty value the TOS
 * SDKs' omitempty tags imply. jansson rather than json-c: strict UTF-8 checks,
 * JSON_REJECT_DUPLICATES and exact 64-bit integers come built in. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#include "dialect.h"
#include "timefmt.h"
#include "uri.h"

static json_t *load(const char *body, size_t len)
{
    json_error_t err;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    if (root && !json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* The string at key, "" when absent; NULL when present with another type. */
static const char *str_field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return "";
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int tos_parse_error(const char *body, size_t len, struct pfs_status *st)
{
    json_t *root = load(body, len);
    if (!root)
        return -EPROTO;
    const char *code = str_field(root, "Code"), *msg = str_field(root, "Message"),
               *rid = str_field(root, "RequestId");
    int rc = (!code || !*code || !msg || !rid) ? -EPROTO : 0;
    if (!rc)
        pfs_status_set(st, code, msg, rid);
    json_decref(root);
    return rc;
}

static int parse_size(uint64_t *out, json_t *v)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0)
            return -EPROTO;
        *out = (uint64_t)i;
        return 0;
    }
    return -EPROTO;
}

/* Metadata names and values arrive percent-encoded when not plain ASCII; the
 * SDKs fall back to the raw text when decoding fails, and so do we. */
static char *meta_text(const char *s, bool lower)
{
    struct pfs_buf b;
    pfs_buf_init(&b);
    if (pfs_uri_decode(&b, s, strlen(s)) != 0 || (b.len && memchr(b.data, '\0', b.len))) {
        pfs_buf_reset(&b);
        pfs_buf_puts(&b, s);
    }
    char *r = pfs_buf_detach(&b);
    if (r && lower)
        for (char *p = r; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    return r;
}

static int parse_user_meta(struct pfs_list_entry *e, json_t *arr)
{
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr) || json_array_size(arr) > 256)
        return -EPROTO;
    size_t n = json_array_size(arr);
    if (n == 0)
        return 0;
    e->meta = calloc(n, sizeof(*e->meta));
    if (!e->meta)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(arr, i);
        const char *k = json_is_object(m) ? str_field(m, "Key") : NULL;
        const char *v = json_is_object(m) ? str_field(m, "Value") : NULL;
        if (!k || !*k || !v)
            return -EPROTO;
        e->meta[i].name = meta_text(k, true);
        e->meta[i].value = meta_text(v, false);
        e->n_meta = i + 1;
        if (!e->meta[i].name || !e->meta[i].value)
            return -ENOMEM;
    }
    return 0;
}

static int parse_contents(struct pfs_list_page *p, json_t *arr)
{
    size_t n = json_array_size(arr);
    if (n == 0)
        return 0;
    p->entries = calloc(n, sizeof(*p->entries));
    if (!p->entries)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        if (!json_is_object(o))
            return -EPROTO;
        struct pfs_list_entry *e = &p->entries[i];
        p->n_entries = i + 1;
        const char *key = str_field(o, "Key"), *lm = str_field(o, "LastModified"),
                   *etag = str_field(o, "ETag");
        if (!key || !*key || !lm || !etag)
            return -EPROTO;
        e->key = strdup(key);
        if (!e->key)
            return -ENOMEM;
        json_t *size = json_object_get(o, "Size");
        if (!size || parse_size(&e->size, size) != 0)
            return -EPROTO;
        if (*lm && pfs_time_parse_iso8601(&e->mtime, lm) != 0)
            return -EPROTO;
        snprintf(e->etag, sizeof(e->etag), "%s", etag);
        int rc = parse_user_meta(e, json_object_get(o, "UserMeta"));
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_prefixes(struct pfs_list_page *p, json_t *arr)
{
    size_t n = json_array_size(arr);
    if (n == 0)
        return 0;
    p->prefixes = calloc(n, sizeof(*p->prefixes));
    if (!p->prefixes)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        const char *prefix = json_is_object(o) ? str_field(o, "Prefix") : NULL;
        if (!prefix || !*prefix)
            return -EPROTO;
        p->prefixes[i] = strdup(prefix);
        if (!p->prefixes[i])
            return -ENOMEM;
        p->n_prefixes = i + 1;
    }
    return 0;
}

static json_t *array_field(json_t *obj, const char *key, int *rc)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_array(v))
        *rc = -EPROTO;
    return json_is_array(v) ? v : NULL;
}

static int tos_parse_list(const char *body, size_t len, struct pfs_list_page *out)
{
    memset(out, 0, sizeof(*out));
    json_t *root = load(body, len);
    if (!root)
        return -EPROTO;
    int rc = 0;
    json_t *contents = array_field(root, "Contents", &rc);
    json_t *prefixes = array_field(root, "CommonPrefixes", &rc);
    if (!rc && json_array_size(contents) + json_array_size(prefixes) > PFS_LIST_MAX_ITEMS)
        rc = -EPROTO;
    if (!rc)
        rc = parse_contents(out, contents);
    if (!rc)
        rc = parse_prefixes(out, prefixes);
    json_t *trunc = json_object_get(root, "IsTruncated");
    if (!rc && trunc && !json_is_null(trunc)) {
        if (json_is_boolean(trunc))
            out->truncated = json_is_true(trunc);
        else
            rc = -EPROTO;
    }
    const char *token = str_field(root, "NextContinuationToken");
    const char *encoding = str_field(root, "EncodingType");
    if (!rc && (!token || !encoding))
        rc = -EPROTO;
    if (!rc && *token && !(out->next_token = strdup(token)))
        rc = -ENOMEM;
    if (!rc && out->truncated && !out->next_token)
        rc = -EPROTO;
    if (!rc && strcmp(encoding, "url") == 0)
        rc = pfs_list_page_url_decode(out);
    json_decref(root);
    if (rc)
        pfs_list_page_cleanup(out);
    return rc;
}

/* {"Uploads": [{"Key", "UploadId", "Initiated"}], "IsTruncated"} */
static int tos_parse_uploads(const char *body, size_t len, struct pfs_upload_list *out)
{
    memset(out, 0, sizeof(*out));
    json_t *root = load(body, len);
    if (!root)
        return -EPROTO;
    json_t *ups = json_object_get(root, "Uploads");
    int rc = 0;
    if (ups && !json_is_array(ups))
        rc = -EPROTO;
    size_t n = ups ? json_array_size(ups) : 0;
    if (rc == 0 && n > PFS_LIST_MAX_ITEMS)
        rc = -EPROTO;
    if (rc == 0 && n && !(out->v = calloc(n, sizeof(*out->v))))
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *u = json_array_get(ups, i);
        const char *key = json_is_object(u) ? str_field(u, "Key") : NULL;
        const char *id = json_is_object(u) ? str_field(u, "UploadId") : NULL;
        const char *when = json_is_object(u) ? str_field(u, "Initiated") : NULL;
        if (!key || !*key || !id || !*id) {
            rc = -EPROTO;
            break;
        }
        struct pfs_upload_info *e = &out->v[out->n++];
        e->key = strdup(key);
        e->upload_id = strdup(id);
        if (!e->key || !e->upload_id)
            rc = -ENOMEM;
        else if (when && *when && pfs_time_parse_iso8601(&e->initiated, when) != 0)
            rc = -EPROTO;
    }
    json_t *tr = json_object_get(root, "IsTruncated");
    out->truncated = tr && json_is_true(tr);
    json_decref(root);
    if (rc)
        pfs_upload_list_cleanup(out);
    return rc;
}

static int tos_parse_upload_id(const char *body, size_t len, char **upload_id_out)
{
    *upload_id_out = NULL;
    json_t *root = load(body, len);
    if (!root)
        return -EPROTO;
    const char *id = str_field(root, "UploadId");
    int rc = 0;
    if (!id || !*id)
        rc = -EPROTO;
    else if (!(*upload_id_out = strdup(id)))
        rc = -ENOMEM;
    json_decref(root);
    return rc;
}

static int tos_parse_etag_result(const char *body, size_t len, char etag_out[80],
                                 struct pfs_status *st)
{
    etag_out[0] = '\0';
    json_t *root = load(body, len);
    if (!root)
        return -EPROTO;
    const char *etag = str_field(root, "ETag");
    int rc;
    if (etag && *etag) {
        snprintf(etag_out, 80, "%s", etag);
        rc = 0;
    } else {
        /* No ETag: the 200 carries an error object. */
        const char *code = str_field(root, "Code");
        if (code && *code) {
            const char *msg = str_field(root, "Message"), *rid = str_field(root, "RequestId");
            pfs_status_set(st, code, msg ? msg : "", rid ? rid : "");
            rc = -EIO;
        } else {
            rc = -EPROTO;
        }
    }
    json_decref(root);
    return rc;
}

static int tos_parse_delete_result(const char *body, size_t len, struct pfs_delete_result *out)
{
    memset(out, 0, sizeof(*out));
    json_t *root = load(body, len);
    if (!root)
        return -EPROTO;
    int rc = 0;
    json_t *deleted = array_field(root, "Deleted", &rc);
    json_t *errors = array_field(root, "Error", &rc);
    size_t n = json_array_size(errors);
    if (!rc && json_array_size(deleted) + n > PFS_LIST_MAX_ITEMS)
        rc = -EPROTO;
    out->n_deleted = rc ? 0 : json_array_size(deleted);
    if (!rc && n && !(out->errors = calloc(n, sizeof(*out->errors))))
        rc = -ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        json_t *o = json_array_get(errors, i);
        const char *key = json_is_object(o) ? str_field(o, "Key") : NULL;
        const char *code = key ? str_field(o, "Code") : NULL;
        const char *msg = code ? str_field(o, "Message") : NULL;
        if (!key || !*key || !code || !msg) {
            rc = -EPROTO;
            break;
        }
        out->n_errors = i + 1;
        if (!(out->errors[i].key = strdup(key)))
            rc = -ENOMEM;
        snprintf(out->errors[i].code, sizeof(out->errors[i].code), "%s", code);
        snprintf(out->errors[i].message, sizeof(out->errors[i].message), "%s", msg);
    }
    json_decref(root);
    if (rc)
        pfs_delete_result_cleanup(out);
    return rc;
}

static int dump_into(struct pfs_buf *out, json_t *doc)
{
    if (!doc)
        return -EINVAL;
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text)
        return -ENOMEM;
    pfs_buf_puts(out, text);
    free(text);
    return pfs_buf_status(out);
}

static int tos_build_complete(struct pfs_buf *out, const struct pfs_part *parts, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *p = json_pack("{s:i, s:s}", "PartNumber", parts[i].number, "ETag", parts[i].etag);
        if (!p || json_array_append_new(arr, p) != 0) {
            json_decref(arr);
            return -EINVAL;
        }
    }
    return dump_into(out, arr ? json_pack("{s:o}", "Parts", arr) : NULL);
}

static int tos_build_delete(struct pfs_buf *out, const char *const *keys, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        /* json_pack refuses keys that are not valid UTF-8. */
        json_t *o = json_pack("{s:s}", "Key", keys[i]);
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return -EINVAL;
        }
    }
    return dump_into(out, arr ? json_pack("{s:o, s:b}", "Objects", arr, "Quiet", 1) : NULL);
}

const struct pfs_dialect_ops pfs_dialect_tos = {
    .id = PFS_DIALECT_TOS,
    .header_prefix = "x-tos-",
    .meta_prefix = "x-tos-meta-",
    .body_type = "application/json",
    .parse_error = tos_parse_error,
    .parse_list = tos_parse_list,
    .parse_upload_id = tos_parse_upload_id,
    .parse_uploads = tos_parse_uploads,
    .parse_etag_result = tos_parse_etag_result,
    .parse_delete_result = tos_parse_delete_result,
    .build_complete = tos_build_complete,
    .build_delete = tos_build_delete,
};
