/* The signing service's JSON (see signer_json.h and doc/SIGNER.md). */
#include "signer_json.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "uri.h"

static int whyf(char *why, size_t why_len, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int whyf(char *why, size_t why_len, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    return rc;
}

void pfs_signer_batch_cleanup(struct pfs_signer_batch *b)
{
    for (size_t i = 0; i < b->n_extras; i++)
        free(b->extras[i]);
    free(b->extras);
    free(b->items);
    if (b->doc)
        json_decref((json_t *)b->doc);
    memset(b, 0, sizeof(*b));
}

static void *keep(struct pfs_signer_batch *b, void *p)
{
    if (!p)
        return NULL;
    b->extras[b->n_extras++] = p; /* room reserved by the caller */
    return p;
}

/* [["name","value"], ["valueless", null], ...]; headers need string values. */
static int parse_pairs(struct pfs_signer_batch *b, const struct pfs_kv **out, size_t *n_out,
                       json_t *arr, bool values_required, const char *what, size_t item, char *why,
                       size_t why_len)
{
    *out = NULL;
    *n_out = 0;
    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return whyf(why, why_len, -EINVAL, "requests[%zu].%s must be an array of pairs", item,
                    what);
    size_t n = json_array_size(arr);
    if (n > PFS_SIGNER_MAX_PAIRS)
        return whyf(why, why_len, -E2BIG, "requests[%zu].%s: more than %d pairs", item, what,
                    PFS_SIGNER_MAX_PAIRS);
    if (n == 0)
        return 0;
    struct pfs_kv *kv = keep(b, calloc(n, sizeof(*kv)));
    if (!kv)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *pair = json_array_get(arr, i);
        json_t *name = json_array_get(pair, 0), *value = json_array_get(pair, 1);
        if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_string(name) ||
            !(json_is_string(value) || (!values_required && json_is_null(value))))
            return whyf(why, why_len, -EINVAL, "requests[%zu].%s[%zu] must be [\"name\", %s]", item,
                        what, i, values_required ? "\"value\"" : "\"value\" or null");
        if (strlen(json_string_value(name)) != json_string_length(name) ||
            (json_is_string(value) &&
             strlen(json_string_value(value)) != json_string_length(value)))
            return whyf(why, why_len, -EINVAL, "requests[%zu].%s[%zu] holds a NUL byte", item, what,
                        i);
        kv[i].name = json_string_value(name);
        kv[i].value = json_is_string(value) ? json_string_value(value) : NULL;
    }
    *out = kv;
    *n_out = n;
    return 0;
}

static int parse_item(struct pfs_signer_batch *b, struct pfs_signer_item *it, json_t *obj, size_t i,
                      char *why, size_t why_len)
{
    if (!json_is_object(obj))
        return whyf(why, why_len, -EINVAL, "requests[%zu] must be an object", i);
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        static const char *const known[] = {"method", "bucket",  "key",    "key_hex",
                                            "query",  "headers", "expires"};
        bool ok = false;
        for (size_t j = 0; j < sizeof(known) / sizeof(known[0]); j++)
            ok = ok || strcmp(k, known[j]) == 0;
        if (!ok)
            return whyf(why, why_len, -EINVAL, "requests[%zu]: unknown field '%.40s'", i, k);
    }
    json_t *method = json_object_get(obj, "method"), *bucket = json_object_get(obj, "bucket");
    json_t *key = json_object_get(obj, "key"), *key_hex = json_object_get(obj, "key_hex");
    json_t *expires = json_object_get(obj, "expires");
    if (!json_is_string(method) || !json_is_string(bucket))
        return whyf(why, why_len, -EINVAL, "requests[%zu] needs \"method\" and \"bucket\" strings",
                    i);
    if (strlen(json_string_value(bucket)) != json_string_length(bucket) ||
        strlen(json_string_value(method)) != json_string_length(method))
        return whyf(why, why_len, -EINVAL, "requests[%zu]: NUL byte in method or bucket", i);
    it->req.method = json_string_value(method);
    it->req.bucket = json_string_value(bucket);
    if (key && key_hex)
        return whyf(why, why_len, -EINVAL, "requests[%zu]: \"key\" and \"key_hex\" both given", i);
    if (key) {
        if (!json_is_string(key))
            return whyf(why, why_len, -EINVAL, "requests[%zu].key must be a string", i);
        it->req.key = json_string_value(key);
        it->req.key_len = json_string_length(key);
    } else if (key_hex) {
        const char *hex = json_is_string(key_hex) ? json_string_value(key_hex) : NULL;
        size_t hl = hex ? json_string_length(key_hex) : 1;
        if (!hex || hl % 2)
            return whyf(why, why_len, -EINVAL, "requests[%zu].key_hex must be hex digits", i);
        char *raw = keep(b, malloc(hl / 2 + 1));
        if (!raw)
            return -ENOMEM;
        for (size_t j = 0; j < hl / 2; j++) {
            int hi = pfs_uri_hexval(hex[2 * j]), lo = pfs_uri_hexval(hex[2 * j + 1]);
            if (hi < 0 || lo < 0)
                return whyf(why, why_len, -EINVAL, "requests[%zu].key_hex must be hex digits", i);
            raw[j] = (char)(hi * 16 + lo);
        }
        raw[hl / 2] = '\0';
        it->req.key = raw;
        it->req.key_len = hl / 2;
    } else {
        it->req.key = "";
        it->req.key_len = 0;
    }
    if (expires) {
        if (!json_is_integer(expires) || json_integer_value(expires) < PFS_EXPIRES_MIN ||
            json_integer_value(expires) > PFS_EXPIRES_MAX)
            return whyf(why, why_len, -EINVAL,
                        "requests[%zu].expires must be whole seconds, 1..604800", i);
        it->expires = json_integer_value(expires);
    }
    int rc = parse_pairs(b, &it->req.query, &it->req.n_query, json_object_get(obj, "query"), false,
                         "query", i, why, why_len);
    if (rc == 0)
        rc = parse_pairs(b, &it->req.headers, &it->req.n_headers, json_object_get(obj, "headers"),
                         true, "headers", i, why, why_len);
    return rc;
}

int pfs_signer_json_parse_request(struct pfs_signer_batch *out, const char *body, size_t len,
                                  char *why, size_t why_len)
{
    memset(out, 0, sizeof(*out));
    why[0] = '\0';
    if (len > PFS_SIGNER_MAX_BODY)
        return whyf(why, why_len, -E2BIG, "the request body is larger than %d bytes",
                    PFS_SIGNER_MAX_BODY);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!root)
        return whyf(why, why_len, -EINVAL, "not JSON: %s (line %d)", jerr.text, jerr.line);
    out->doc = root;
    json_t *reqs = json_object_get(root, "requests");
    if (!json_is_object(root) || !json_is_array(reqs))
        return whyf(why, why_len, -EINVAL, "expected {\"requests\": [...]}");
    json_t *version = json_object_get(root, "version");
    if (version && (!json_is_integer(version) || json_integer_value(version) != 1))
        return whyf(why, why_len, -EINVAL, "unsupported version (this service speaks 1)");
    size_t n = json_array_size(reqs);
    if (n == 0)
        return whyf(why, why_len, -EINVAL, "\"requests\" is empty");
    if (n > PFS_SIGNER_MAX_BATCH)
        return whyf(why, why_len, -E2BIG, "more than %d requests in one batch",
                    PFS_SIGNER_MAX_BATCH);
    out->items = calloc(n, sizeof(*out->items));
    out->extras = calloc(3 * n, sizeof(*out->extras));
    if (!out->items || !out->extras)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int rc = parse_item(out, &out->items[i], json_array_get(reqs, i), i, why, why_len);
        if (rc)
            return rc;
        out->n_items++;
    }
    return 0;
}

static json_t *pairs_json(const struct pfs_kv *kv, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *pair =
            json_pack("[s, o]", kv[i].name, kv[i].value ? json_string(kv[i].value) : json_null());
        if (!pair || json_array_append_new(arr, pair) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static int dump_into(struct pfs_buf *out, json_t *doc)
{
    if (!doc)
        return -ENOMEM;
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text)
        return -ENOMEM;
    pfs_buf_puts(out, text);
    free(text);
    return pfs_buf_status(out);
}

int pfs_signer_json_encode_request(struct pfs_buf *out, const struct pfs_sign_request *reqs,
                                   const int64_t *expires, size_t n)
{
    json_t *arr = json_array();
    json_t *root = arr ? json_pack("{s:i, s:o}", "version", 1, "requests", arr) : NULL;
    if (!root)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct pfs_sign_request *r = &reqs[i];
        json_t *o = json_pack("{s:s, s:s}", "method", r->method, "bucket", r->bucket);
        if (!o)
            goto oom;
        if (r->key_len) {
            /* JSON strings are UTF-8: any other key travels as hex. */
            json_t *k = json_stringn(r->key, r->key_len);
            if (k) {
                json_object_set_new(o, "key", k);
            } else {
                char *hex = malloc(2 * r->key_len + 1);
                if (!hex) {
                    json_decref(o);
                    goto oom;
                }
                pfs_crypto_hex(hex, (const uint8_t *)r->key, r->key_len);
                json_object_set_new(o, "key_hex", json_string(hex));
                free(hex);
            }
        }
        if (r->n_query)
            json_object_set_new(o, "query", pairs_json(r->query, r->n_query));
        if (r->n_headers)
            json_object_set_new(o, "headers", pairs_json(r->headers, r->n_headers));
        if (expires && expires[i] > 0)
            json_object_set_new(o, "expires", json_integer(expires[i]));
        if (json_array_append_new(arr, o) != 0)
            goto oom;
    }
    return dump_into(out, root);
oom:
    json_decref(root);
    return -ENOMEM;
}

void pfs_signer_result_cleanup(struct pfs_signer_result *r)
{
    free(r->url);
    memset(r, 0, sizeof(*r));
}

static const char *error_code(int error)
{
    return error == -EACCES ? "forbidden" : "invalid";
}

int pfs_signer_json_encode_results(struct pfs_buf *out, const struct pfs_signer_result *r, size_t n)
{
    json_t *arr = json_array();
    json_t *root = arr ? json_pack("{s:o}", "results", arr) : NULL;
    if (!root)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *o = r[i].error == 0 ? json_pack("{s:s, s:I}", "url", r[i].url, "expires_at",
                                                (json_int_t)r[i].expires_at)
                                    : json_pack("{s:s, s:s}", "error", error_code(r[i].error),
                                                "message", r[i].message);
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(root);
            return -ENOMEM;
        }
    }
    return dump_into(out, root);
}

int pfs_signer_json_parse_results(struct pfs_signer_result *out, size_t n, const char *body,
                                  size_t len, char *why, size_t why_len)
{
    memset(out, 0, n * sizeof(*out));
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return whyf(why, why_len, -EINVAL, "the signer's answer is not JSON: %s", jerr.text);
    json_t *arr = json_object_get(root, "results");
    int rc = 0;
    if (!json_is_array(arr) || json_array_size(arr) != n) {
        rc = whyf(why, why_len, -EINVAL, "the signer's answer does not hold %zu results", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        json_t *url = json_object_get(o, "url"), *at = json_object_get(o, "expires_at");
        json_t *err = json_object_get(o, "error"), *msg = json_object_get(o, "message");
        if (json_is_string(url) && json_is_integer(at)) {
            out[i].url = strdup(json_string_value(url));
            out[i].expires_at = json_integer_value(at);
            if (!out[i].url) {
                rc = -ENOMEM;
                goto out;
            }
        } else if (json_is_string(err)) {
            out[i].error = strcmp(json_string_value(err), "forbidden") == 0 ? -EACCES : -EINVAL;
            snprintf(out[i].message, sizeof(out[i].message), "%s",
                     json_is_string(msg) ? json_string_value(msg) : json_string_value(err));
        } else {
            rc = whyf(why, why_len, -EINVAL, "result %zu has neither url nor error", i);
            goto out;
        }
    }
out:
    json_decref(root);
    return rc;
}

int pfs_signer_json_encode_error(struct pfs_buf *out, const char *code, const char *message)
{
    return dump_into(out, json_pack("{s:s, s:s}", "error", code, "message", message));
}

void pfs_signer_json_parse_error(const char *body, size_t len, char *code, size_t code_len,
                                 char *message, size_t message_len)
{
    code[0] = message[0] = '\0';
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *c = json_object_get(root, "error"), *m = json_object_get(root, "message");
    if (json_is_string(c))
        snprintf(code, code_len, "%s", json_string_value(c));
    if (json_is_string(m))
        snprintf(message, message_len, "%s", json_string_value(m));
    json_decref(root);
}

int pfs_signer_json_encode_info(struct pfs_buf *out, const struct pfs_signer_info *info)
{
    return dump_into(out,
                     json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "dialect", info->dialect,
                               "endpoint", info->endpoint, "region", info->region, "addressing",
                               info->addressing, "client", info->client, "access", info->access,
                               "max_expires", (json_int_t)info->max_expires, "max_batch",
                               (json_int_t)info->max_batch));
}

static bool copy_str(char *dst, size_t dst_len, json_t *root, const char *name)
{
    json_t *v = json_object_get(root, name);
    if (!json_is_string(v) || json_string_length(v) >= dst_len)
        return false;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return true;
}

int pfs_signer_json_parse_info(struct pfs_signer_info *out, const char *body, size_t len, char *why,
                               size_t why_len)
{
    memset(out, 0, sizeof(*out));
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *me = json_object_get(root, "max_expires"), *mb = json_object_get(root, "max_batch");
    int rc = 0;
    if (!copy_str(out->dialect, sizeof(out->dialect), root, "dialect") ||
        !copy_str(out->endpoint, sizeof(out->endpoint), root, "endpoint") ||
        !copy_str(out->region, sizeof(out->region), root, "region") ||
        !copy_str(out->addressing, sizeof(out->addressing), root, "addressing") ||
        !copy_str(out->client, sizeof(out->client), root, "client") ||
        !copy_str(out->access, sizeof(out->access), root, "access") || !json_is_integer(me) ||
        !json_is_integer(mb) || json_integer_value(mb) < 1)
        rc = whyf(why, why_len, -EINVAL, "the signer's /v1/info answer is not what it should be");
    else {
        out->max_expires = json_integer_value(me);
        out->max_batch = json_integer_value(mb);
    }
    json_decref(root);
    return rc;
}
