/* The signing service's request handling (see signer.h, doc/SIGNER.md). The
 * policy and credentials sit behind a read-write lock so SIGHUP can swap them
 * while requests are served; the rate buckets live apart from the policy so a
 * reload does not refill them. */
#include "signer.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "sign.h"
#include "signer_json.h"
#include "signer_policy.h"
#include "uri.h"

struct rate_entry {
    char *name;
    struct pfs_signer_rate rate;
    struct rate_entry *next;
};

struct pfs_signer {
    const struct pfs_config *cfg;
    char *clients_path;
    pthread_rwlock_t lock; /* guards policy and cred */
    struct pfs_signer_policy *policy;
    struct pfs_cred *cred;
    pthread_mutex_t rate_lock;
    struct rate_entry *rates;
};

void pfs_signer_reply_init(struct pfs_signer_reply *r)
{
    memset(r, 0, sizeof(*r));
    pfs_buf_init(&r->body);
}

void pfs_signer_reply_cleanup(struct pfs_signer_reply *r)
{
    pfs_buf_cleanup(&r->body);
}

int pfs_signer_new(struct pfs_signer **out, const struct pfs_config *cfg, struct pfs_cred *cred,
                   const char *clients_path, struct pfs_config_error *err)
{
    *out = NULL;
    struct pfs_signer *s = calloc(1, sizeof(*s));
    if (!s || !(s->clients_path = strdup(clients_path))) {
        free(s);
        pfs_cred_free(cred);
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        return -1;
    }
    s->cfg = cfg;
    s->cred = cred;
    pthread_rwlock_init(&s->lock, NULL);
    pthread_mutex_init(&s->rate_lock, NULL);
    if (pfs_signer_policy_load(&s->policy, clients_path, err) != 0) {
        pfs_signer_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void pfs_signer_free(struct pfs_signer *s)
{
    if (!s)
        return;
    pfs_signer_policy_free(s->policy);
    pfs_cred_free(s->cred);
    for (struct rate_entry *e = s->rates, *next; e; e = next) {
        next = e->next;
        free(e->name);
        free(e);
    }
    pthread_rwlock_destroy(&s->lock);
    pthread_mutex_destroy(&s->rate_lock);
    free(s->clients_path);
    free(s);
}

int pfs_signer_reload(struct pfs_signer *s, struct pfs_config_error *err)
{
    struct pfs_signer_policy *policy = NULL;
    struct pfs_cred *cred = NULL;
    if (pfs_signer_policy_load(&policy, s->clients_path, err) != 0)
        return -1;
    if (s->cfg->credentials && pfs_config_load_credentials(&cred, s->cfg, err) != 0) {
        pfs_signer_policy_free(policy);
        return -1;
    }
    pthread_rwlock_wrlock(&s->lock);
    struct pfs_signer_policy *old_policy = s->policy;
    struct pfs_cred *old_cred = NULL;
    s->policy = policy;
    if (cred) {
        old_cred = s->cred;
        s->cred = cred;
    }
    pthread_rwlock_unlock(&s->lock);
    pfs_signer_policy_free(old_policy);
    pfs_cred_free(old_cred);
    return 0;
}

static void reply_error(struct pfs_signer_reply *out, int status, const char *code,
                        const char *message)
{
    out->status = status;
    pfs_buf_reset(&out->body);
    if (pfs_signer_json_encode_error(&out->body, code, message) != 0)
        out->status = 500;
}

/* The token of "Bearer TOKEN", or NULL. */
static const char *bearer(const char *authorization, size_t *len_out)
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return NULL;
    const char *t = authorization + 7;
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n > 0 && t[n - 1] == ' ')
        n--;
    if (n == 0 || n > PFS_SIGNER_TOKEN_MAX)
        return NULL;
    *len_out = n;
    return t;
}

/* Takes cost from the client's bucket. */
static bool rate_take(struct pfs_signer *s, const struct pfs_signer_client *c, double mono,
                      double cost, double *retry_after)
{
    pthread_mutex_lock(&s->rate_lock);
    struct rate_entry *e = s->rates;
    while (e && strcmp(e->name, c->name) != 0)
        e = e->next;
    if (!e && (e = calloc(1, sizeof(*e))) != NULL) {
        e->name = strdup(c->name);
        if (!e->name) {
            free(e);
            e = NULL;
        } else {
            e->next = s->rates;
            s->rates = e;
        }
    }
    bool ok =
        e ? pfs_signer_rate_take(&e->rate, c->rate, c->burst, mono, cost, retry_after) : false;
    pthread_mutex_unlock(&s->rate_lock);
    return ok;
}

/* One audit line: who, what, for how long, and the verdict. Keys and query
 * values are percent-encoded so a line stays one printable line; a URL, a
 * signature or a token never appears. */
static void audit(const char *client, const char *peer, const struct pfs_sign_request *r,
                  int64_t expires, const char *verdict)
{
    struct pfs_buf what;
    pfs_buf_init(&what);
    pfs_uri_encode(&what, r->bucket ? r->bucket : "", r->bucket ? strlen(r->bucket) : 0, true);
    if (r->key_len) {
        pfs_buf_putc(&what, '/');
        pfs_uri_encode(&what, r->key, r->key_len, true);
    }
    for (size_t i = 0; i < r->n_query; i++) {
        pfs_buf_putc(&what, i ? '&' : '?');
        pfs_uri_encode(&what, r->query[i].name, strlen(r->query[i].name), false);
        if (r->query[i].value) {
            pfs_buf_putc(&what, '=');
            pfs_uri_encode(&what, r->query[i].value, strlen(r->query[i].value), false);
        }
    }
    char method[12];
    snprintf(method, sizeof(method), "%s", r->method ? r->method : "");
    for (char *p = method; *p; p++)
        if (*p < 'A' || *p > 'Z')
            *p = '?';
    PFS_INFO("audit client=%s peer=%s %s %.1500s expires=%lld %s", client, peer, method,
             what.data ? what.data : "", (long long)expires, verdict);
    pfs_buf_cleanup(&what);
}

static void handle_info(struct pfs_signer *s, struct pfs_signer_reply *out,
                        const struct pfs_signer_client *c)
{
    const struct pfs_config *cfg = s->cfg;
    struct pfs_signer_info info;
    memset(&info, 0, sizeof(info));
    snprintf(info.dialect, sizeof(info.dialect), "%s", pfs_dialect_name(cfg->dialect));
    snprintf(info.endpoint, sizeof(info.endpoint), "%s", cfg->endpoint);
    snprintf(info.region, sizeof(info.region), "%s", cfg->region);
    snprintf(info.addressing, sizeof(info.addressing), "%s",
             cfg->addressing == PFS_ADDRESSING_PATH ? "path" : "virtual");
    snprintf(info.client, sizeof(info.client), "%s", c->name);
    snprintf(info.access, sizeof(info.access), "%s",
             c->access == PFS_SIGNER_WRITE ? "write" : "read");
    info.max_expires = c->max_expires;
    info.max_batch = PFS_SIGNER_MAX_BATCH;
    out->status = pfs_signer_json_encode_info(&out->body, &info) == 0 ? 200 : 500;
}

static void handle_presign(struct pfs_signer *s, struct pfs_signer_reply *out,
                           const struct pfs_signer_client *c, const char *body, size_t len,
                           const char *peer, int64_t now, double mono)
{
    struct pfs_signer_batch batch;
    char why[512];
    int rc = pfs_signer_json_parse_request(&batch, body ? body : "", len, why, sizeof(why));
    if (rc) {
        reply_error(out,
                    rc == -E2BIG    ? 413
                    : rc == -ENOMEM ? 500
                                    : 400,
                    rc == -E2BIG ? "too_large" : "bad_request",
                    rc == -ENOMEM ? "out of memory" : why);
        PFS_INFO("audit client=%s peer=%s refused: %s", c->name, peer, why);
        pfs_signer_batch_cleanup(&batch);
        return;
    }
    double retry_after = 0;
    if (!rate_take(s, c, mono, (double)batch.n_items, &retry_after)) {
        char msg[160];
        snprintf(msg, sizeof(msg), "rate limit: %g URLs per second, at most %g at once", c->rate,
                 c->burst);
        reply_error(out, 429, "rate_limited", msg);
        out->retry_after = (int)ceil(retry_after > 0 ? retry_after : 1);
        PFS_INFO("audit client=%s peer=%s refused %zu URL%s: %s", c->name, peer, batch.n_items,
                 batch.n_items == 1 ? "" : "s", msg);
        pfs_signer_batch_cleanup(&batch);
        return;
    }
    struct pfs_signer_result *res = calloc(batch.n_items, sizeof(*res));
    if (!res) {
        reply_error(out, 500, "internal", "out of memory");
        pfs_signer_batch_cleanup(&batch);
        return;
    }
    const struct pfs_config *cfg = s->cfg;
    struct pfs_sign_params params = {
        .dialect = cfg->dialect,
        .endpoint = &cfg->parsed_endpoint,
        .region = cfg->region,
        .addressing = cfg->addressing,
        .access_key = s->cred->access_key,
        .secret_key = s->cred->secret_key,
        .session_token = s->cred->session_token,
    };
    for (size_t i = 0; i < batch.n_items; i++) {
        const struct pfs_signer_item *it = &batch.items[i];
        int64_t expires = pfs_signer_policy_expires(c, it->expires);
        rc = pfs_signer_policy_check(c, cfg->dialect, &it->req, res[i].message,
                                     sizeof(res[i].message));
        if (rc == 0) {
            const char *swhy = "out of memory";
            rc = pfs_sign_presign(&res[i].url, &params, &it->req, now, expires, &swhy);
            if (rc)
                snprintf(res[i].message, sizeof(res[i].message), "%s", swhy);
        }
        res[i].error = rc == 0 ? 0 : rc == -EACCES ? -EACCES : -EINVAL;
        res[i].expires_at = now + expires;
        char verdict[320];
        if (rc == 0)
            snprintf(verdict, sizeof(verdict), "allowed");
        else
            snprintf(verdict, sizeof(verdict), "refused: %s", res[i].message);
        audit(c->name, peer, &it->req, expires, verdict);
    }
    out->status = pfs_signer_json_encode_results(&out->body, res, batch.n_items) == 0 ? 200 : 500;
    for (size_t i = 0; i < batch.n_items; i++)
        pfs_signer_result_cleanup(&res[i]);
    free(res);
    pfs_signer_batch_cleanup(&batch);
}

void pfs_signer_handle(struct pfs_signer *s, struct pfs_signer_reply *out, const char *method,
                       const char *path, const char *authorization, const char *body, size_t len,
                       const char *peer, int64_t now, double mono)
{
    pfs_signer_handle_tls(s, out, method, path, authorization, NULL, body, len, peer, now, mono);
}

void pfs_signer_handle_tls(struct pfs_signer *s, struct pfs_signer_reply *out, const char *method,
                           const char *path, const char *authorization,
                           const struct pfs_signer_peer_cert *cert, const char *body, size_t len,
                           const char *peer, int64_t now, double mono)
{
    pfs_buf_reset(&out->body);
    out->retry_after = 0;
    if (strcmp(path, "/v1/health") == 0) {
        out->status = 200;
        pfs_buf_puts(&out->body, "{\"ok\":true}");
        return;
    }
    bool is_presign = strcmp(path, "/v1/presign") == 0, is_info = strcmp(path, "/v1/info") == 0;
    if (!is_presign && !is_info) {
        reply_error(out, 404, "not_found", "no such endpoint (POST /v1/presign, GET /v1/info)");
        return;
    }
    if ((is_presign && strcmp(method, "POST") != 0) || (is_info && strcmp(method, "GET") != 0)) {
        reply_error(out, 405, "method_not_allowed",
                    is_presign ? "use POST /v1/presign" : "use GET /v1/info");
        return;
    }
    size_t tlen = 0;
    const char *token = bearer(authorization, &tlen);
    pthread_rwlock_rdlock(&s->lock);
    const struct pfs_signer_client *c =
        token ? pfs_signer_policy_find(s->policy, token, tlen) : NULL;
    if (!c) {
        pthread_rwlock_unlock(&s->lock);
        reply_error(out, 401, "unauthorized",
                    token ? "unknown token" : "missing 'Authorization: Bearer TOKEN'");
        PFS_INFO("audit client=- peer=%s %s %s refused: %s", peer, method, path,
                 token ? "unknown token" : "no bearer token");
        return;
    }
    char why[400];
    if (pfs_signer_policy_check_cert(c, cert, why, sizeof(why)) != 0) {
        PFS_INFO("audit client=%s peer=%s %s %s refused: %s", c->name, peer, method, path, why);
        pthread_rwlock_unlock(&s->lock);
        reply_error(out, 401, "unauthorized", why);
        return;
    }
    if (is_info)
        handle_info(s, out, c);
    else
        handle_presign(s, out, c, body, len, peer, now, mono);
    pthread_rwlock_unlock(&s->lock);
}
