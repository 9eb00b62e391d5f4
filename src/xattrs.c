/* s3fs's xattr encoding (see xattrs.h; s3fs: string_util.cpp parse_xattrs,
 * raw_build_xattrs, and urlEncodePath for the outer encoding). */
#include "xattrs.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "uri.h"

void pfs_xattrs_cleanup(struct pfs_xattrs *x)
{
    for (size_t i = 0; i < x->n; i++) {
        free(x->e[i].name);
        free(x->e[i].value);
    }
    free(x->e);
    x->e = NULL;
    x->n = 0;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64 (padding optional); false on a byte outside the alphabet. */
static bool b64_decode(uint8_t *out, size_t *len_out, const char *s, size_t n)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=')
            break;
        int v = b64val((unsigned char)s[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[len++] = (uint8_t)(acc >> bits);
        }
    }
    *len_out = len;
    return true;
}

static ssize_t find_index(const struct pfs_xattrs *x, const char *name, bool *found)
{
    size_t lo = 0, hi = x->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(x->e[mid].name, name);
        if (c == 0) {
            *found = true;
            return (ssize_t)mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return (ssize_t)lo;
}

const struct pfs_xattr *pfs_xattrs_find(const struct pfs_xattrs *x, const char *name)
{
    bool found;
    ssize_t i = find_index(x, name, &found);
    return found ? &x->e[i] : NULL;
}

static int set_raw(struct pfs_xattrs *x, const char *name, size_t nlen, const void *value,
                   size_t len)
{
    char *nm = strndup(name, nlen);
    uint8_t *v = malloc(len ? len : 1);
    if (!nm || !v) {
        free(nm);
        free(v);
        return -ENOMEM;
    }
    if (len)
        memcpy(v, value, len);
    bool found;
    ssize_t i = find_index(x, nm, &found);
    if (found) {
        free(nm);
        free(x->e[i].value);
        x->e[i].value = v;
        x->e[i].len = len;
        return 0;
    }
    struct pfs_xattr *e = realloc(x->e, (x->n + 1) * sizeof(*e));
    if (!e) {
        free(nm);
        free(v);
        return -ENOMEM;
    }
    x->e = e;
    memmove(&e[i + 1], &e[i], (x->n - (size_t)i) * sizeof(*e));
    e[i] = (struct pfs_xattr){nm, v, len};
    x->n++;
    return 0;
}

int pfs_xattrs_set(struct pfs_xattrs *x, const char *name, const void *value, size_t len)
{
    if (!*name || strpbrk(name, "\","))
        return -EINVAL;
    return set_raw(x, name, strlen(name), value, len);
}

int pfs_xattrs_remove(struct pfs_xattrs *x, const char *name)
{
    bool found;
    ssize_t i = find_index(x, name, &found);
    if (!found)
        return -ENODATA;
    free(x->e[i].name);
    free(x->e[i].value);
    memmove(&x->e[i], &x->e[i + 1], (x->n - (size_t)i - 1) * sizeof(*x->e));
    x->n--;
    return 0;
}

/* s3fs's takeout_str_dquart: what lies between the first and the last '"'. */
static bool unquote(const char **s, size_t *n)
{
    const char *a = memchr(*s, '"', *n);
    if (!a)
        return false;
    size_t rest = *n - (size_t)(a + 1 - *s);
    const char *b = NULL;
    for (size_t i = rest; i > 0; i--)
        if (a[i] == '"') {
            b = a + i;
            break;
        }
    if (!b)
        return false;
    *s = a + 1;
    *n = (size_t)(b - a - 1);
    return true;
}

int pfs_xattrs_parse(struct pfs_xattrs *out, const char *encoded)
{
    memset(out, 0, sizeof(*out));
    if (!encoded || !*encoded)
        return 0;
    struct pfs_buf json;
    pfs_buf_init(&json);
    if (pfs_uri_decode(&json, encoded, strlen(encoded)) != 0) {
        pfs_buf_cleanup(&json);
        return 0; /* not ours to read: nothing */
    }
    if (pfs_buf_status(&json)) {
        pfs_buf_cleanup(&json);
        return -ENOMEM;
    }
    const char *s = json.data ? json.data : "";
    const char *open = memchr(s, '{', json.len), *close = NULL;
    for (size_t i = json.len; open && i > 0; i--)
        if (s[i - 1] == '}') {
            close = s + i - 1;
            break;
        }
    int rc = 0;
    if (open && close && close > open) {
        const char *p = open + 1;
        while (rc == 0 && p < close) {
            const char *comma = memchr(p, ',', (size_t)(close - p));
            const char *end = comma ? comma : close;
            const char *colon = NULL;
            for (const char *q = end; q > p; q--)
                if (q[-1] == ':') {
                    colon = q - 1;
                    break;
                }
            const char *k = p, *v = colon ? colon + 1 : NULL;
            size_t kn = colon ? (size_t)(colon - p) : 0, vn = colon ? (size_t)(end - v) : 0;
            /* A name with a NUL (%00) is no name an xattr call can give:
             * skipped, as s3fs's C strings would cut it to another one. */
            if (colon && unquote(&k, &kn) && unquote(&v, &vn) && kn > 0 && !memchr(k, '\0', kn)) {
                uint8_t *val = malloc(vn + 1);
                size_t len;
                if (!val)
                    rc = -ENOMEM;
                else if (b64_decode(val, &len, v, vn))
                    rc = set_raw(out, k, kn, val, len);
                free(val);
            }
            p = end + 1;
        }
    }
    pfs_buf_cleanup(&json);
    if (rc)
        pfs_xattrs_cleanup(out);
    return rc;
}

char *pfs_xattrs_encode(const struct pfs_xattrs *x, int *err)
{
    *err = 0;
    if (x->n == 0)
        return NULL;
    struct pfs_buf json, out;
    pfs_buf_init(&json);
    pfs_buf_init(&out);
    pfs_buf_putc(&json, '{');
    for (size_t i = 0; i < x->n; i++) {
        char *b64 = malloc(4 * ((x->e[i].len + 2) / 3) + 1);
        if (!b64) {
            *err = -ENOMEM;
            break;
        }
        pfs_crypto_base64(b64, x->e[i].value, x->e[i].len);
        pfs_buf_printf(&json, "%s\"%s\":\"%s\"", i ? "," : "", x->e[i].name, b64);
        free(b64);
    }
    pfs_buf_putc(&json, '}');
    if (*err == 0 && !pfs_buf_status(&json))
        pfs_uri_encode(&out, json.data, json.len, true);
    pfs_buf_putc(&out, '\0');
    char *r = NULL;
    if (*err == 0 && !pfs_buf_status(&json) && !pfs_buf_status(&out))
        r = strdup(out.data);
    if (!r && *err == 0)
        *err = -ENOMEM;
    pfs_buf_cleanup(&json);
    pfs_buf_cleanup(&out);
    return r;
}
