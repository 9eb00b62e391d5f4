/* The client over a scripted fake transport: every retry and re-sign path,
 * and for the TOS dialect (which has no local server) the exact request each
 * operation sends and how its response is handled. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "datacache.h"
#include "prefetch.h"
#include "testutil.h"
#include "stats.h"
#include "crc64.h"
#include "crypto.h"
#include "fake_http.h"
#include "log.h"
#include "client_fx.h"
#include "pattern_fx.h"

static const char *S3_503 = "<Error><Code>SlowDown</Code><Message>Reduce your request rate."
                            "</Message><RequestId>R503</RequestId></Error>";
static const char *S3_403_SIG = "<Error><Code>SignatureDoesNotMatch</Code><Message>The request "
                                "signature we calculated does not match</Message><RequestId>R403"
                                "</RequestId></Error>";

/* Content-Type travels in the metadata array under PFS_META_CONTENT_TYPE and
 * goes out as a signed Content-Type header, never as user metadata. */
static void test_put_content_type(void **state)
{
    (void)state;
    for (int d = 0; d < 2; d++) {
        struct fx *f = make(d ? PFS_DIALECT_TOS : PFS_DIALECT_S3, 0);
        fake_http_push(f->fake, 200, NULL, (const char *[]){"ETag: \"e1\"", NULL});
        fake_http_push(f->fake, 200,
                       d ? "{\"ETag\":\"\\\"e2\\\"\"}"
                         : "<CopyObjectResult><ETag>\"e2\"</ETag></CopyObjectResult>",
                       NULL);
        struct pfs_status st;
        struct pfs_http_body body = {.data = "%PDF", .len = 4, .fd = -1};
        struct pfs_kv meta[] = {{"mode", "33188"}, {PFS_META_CONTENT_TYPE, "application/pdf"}};
        assert_int_equal(pfs_client_put(f->c, "r.pdf", &body, meta, 2, NULL, &st), 0);
        assert_int_equal(pfs_client_copy(f->c, "r.pdf", "r.pdf", true, meta, 2, &st), 0);
        for (size_t i = 0; i < 2; i++) {
            assert_string_equal(fake_http_header(f->fake, i, "Content-Type"), "application/pdf");
            assert_string_equal(
                fake_http_header(f->fake, i, d ? "x-tos-meta-mode" : "x-amz-meta-mode"), "33188");
            assert_null(fake_http_header(
                f->fake, i, d ? "x-tos-meta-:content-type" : "x-amz-meta-:content-type"));
            assert_non_null(strstr(url_of(f, i), "content-type"));
        }
        destroy(f);
    }
}

/* ---- retries and back-off ---- */

static void test_retry_then_success(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_S3, 5);
    fake_http_push(f->fake, 503, S3_503, NULL);
    fake_http_push_error(f->fake, -ECONNRESET);
    fake_http_push(f->fake, 500, "<Error><Code>InternalError</Code><Message>m</Message></Error>",
                   NULL);
    fake_http_push(f->fake, 206, "hello", (const char *[]){"Content-Range: bytes 0-4/5", NULL});
    char buf[8];
    size_t got;
    struct pfs_status st;
    assert_int_equal(pfs_client_get_range(f->c, buf, 5, 0, &got, "k", &st), 0);
    assert_int_equal(got, 5);
    assert_int_equal(st.attempts, 4);
    assert_int_equal(f->n_sleeps, 3);
    /* Equal jitter: each wait lies in [d/2, d] with d = 100, 200, 400 (the cap). */
    unsigned nominal[] = {100, 200, 400};
    for (int i = 0; i < 3; i++)
        assert_true(f->sleeps[i] >= nominal[i] / 2 && f->sleeps[i] <= nominal[i]);
    /* Every attempt asked for the same range. */
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(fake_http_header(f->fake, i, "Range"), "bytes=0-4");
    destroy(f);
}

static void test_retries_exhausted(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_S3, 3);
    for (int i = 0; i < 4; i++)
        fake_http_push(f->fake, 503, S3_503, (const char *[]){"x-amz-request-id: R503", NULL});
    struct pfs_object_info info;
    struct pfs_status st;
    assert_int_equal(pfs_client_head(f->c, &info, "k", &st), -1);
    assert_int_equal(pfs_status_errno(&st), EIO);
    assert_int_equal(st.attempts, 4);
    assert_int_equal(st.http_status, 503);
    assert_string_equal(st.request_id, "R503");
    assert_int_equal(f->n_sleeps, 3);
    for (size_t i = 0; i < f->n_sleeps; i++)
        assert_true(f->sleeps[i] <= 400); /* capped */
    destroy(f);

    f = make(PFS_DIALECT_S3, 2);
    for (int i = 0; i < 3; i++)
        fake_http_push_error(f->fake, -ETIMEDOUT);
    assert_int_equal(pfs_client_head(f->c, &info, "k", &st), -1);
    assert_int_equal(pfs_status_errno(&st), EIO);
    assert_int_equal(st.attempts, 3);
    assert_int_equal(st.http_status, 0);
    destroy(f);
}

static void test_no_retry_on_other_4xx(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_S3, 5);
    fake_http_push(f->fake, 404, "<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>",
                   NULL);
    fake_http_push(f->fake, 400, "<Error><Code>InvalidArgument</Code><Message>no</Message></Error>",
                   NULL);
    fake_http_push(f->fake, 400,
                   "<Error><Code>KeyTooLongError</Code><Message>long</Message></Error>", NULL);
    fake_http_push(f->fake, 429, "junk that is not XML", NULL);
    fake_http_push(f->fake, 204, NULL, NULL);
    char buf[4];
    size_t got;
    struct pfs_status st;
    assert_int_equal(pfs_client_get_range(f->c, buf, 4, 0, &got, "k", &st), -1);
    assert_int_equal(pfs_status_errno(&st), ENOENT);
    assert_string_equal(st.service_code, "NoSuchKey");
    assert_int_equal(st.attempts, 1);
    assert_int_equal(pfs_client_get_range(f->c, buf, 4, 0, &got, "k", &st), -1);
    assert_int_equal(pfs_status_errno(&st), EIO);
    assert_int_equal(st.attempts, 1);
    assert_int_equal(pfs_client_get_range(f->c, buf, 4, 0, &got, "k", &st), -1);
    assert_int_equal(pfs_status_errno(&st), ENAMETOOLONG);
    /* 429 is retried even when its body is unreadable. */
    assert_int_equal(pfs_client_delete(f->c, "k", &st), 0);
    assert_int_equal(st.attempts, 2);
    assert_int_equal(f->n_sleeps, 1);
    destroy(f);
}

/* ---- re-signing ---- */

static void test_resign_once_after_403(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_S3, 5);
    fake_http_push(f->fake, 403, S3_403_SIG, NULL);
    fake_http_push(f->fake, 200, "", (const char *[]){"Content-Length: 3", NULL});
    struct pfs_object_info info;
    struct pfs_status st;
    assert_int_equal(pfs_client_head(f->c, &info, "k", &st), 0);
    assert_int_equal(info.size, 3);
    assert_int_equal(st.attempts, 2);
    assert_int_equal(f->n_sleeps, 0); /* a re-sign is not a back-off */
    struct pfs_urlcache_stats s;
    pfs_urlcache_stats(f->urls, &s);
    assert_int_equal(s.invalidations, 1);
    assert_int_equal(s.misses, 2); /* signed, dropped, signed again */
    pfs_object_info_cleanup(&info);

    /* A second 403 is final: an access error carrying the service's message. */
    fake_http_push(f->fake, 403, S3_403_SIG, NULL);
    fake_http_push(f->fake, 403,
                   "<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
                   "<RequestId>R2</RequestId></Error>",
                   NULL);
    char buf[4];
    size_t got;
    assert_int_equal(pfs_client_get_range(f->c, buf, 4, 0, &got, "k", &st), -1);
    assert_int_equal(pfs_status_errno(&st), EACCES);
    assert_int_equal(st.attempts, 2);
    assert_string_equal(st.service_code, "AccessDenied");
    assert_string_equal(st.message, "Access Denied");
    assert_string_equal(st.request_id, "R2");

    /* HEAD has no body: a bare 403 is re-signed too. */
    fake_http_push(f->fake, 403, NULL, NULL);
    fake_http_push(f->fake, 403, NULL, NULL);
    assert_int_equal(pfs_client_head(f->c, &info, "k", &st), -1);
    assert_int_equal(pfs_status_errno(&st), EACCES);
    assert_int_equal(st.attempts, 2);
    /* An expired STS token (400 ExpiredToken) is re-signed once as well. */
    fake_http_push(f->fake, 400,
                   "<Error><Code>ExpiredToken</Code><Message>expired</Message></Error>", NULL);
    fake_http_push(f->fake, 204, NULL, NULL);
    assert_int_equal(pfs_client_delete(f->c, "k", &st), 0);
    assert_int_equal(st.attempts, 2);
    destroy(f);
}

/* A URL the store calls expired again and again (a proxy, a store's clock
 * step): up to `retries` fresh URLs, with back-off after the first; a
 * signature the store refuses after a re-sign is final. */
static void test_resign_again_while_the_url_is_expired(void **state)
{
    (void)state;
    static const char expired[] = "<Error><Code>AccessDenied</Code><Message>Request has "
                                  "expired</Message></Error>";
    struct fx *f = make(PFS_DIALECT_S3, 5);
    fake_http_push(f->fake, 403, expired, NULL);
    fake_http_push(f->fake, 403, expired, NULL);
    fake_http_push(f->fake, 204, NULL, NULL);
    struct pfs_status st;
    assert_int_equal(pfs_client_delete(f->c, "k", &st), 0);
    assert_int_equal(st.attempts, 3);
    assert_int_equal(f->n_sleeps, 1); /* none before the first re-sign */
    /* Bounded by `retries` (5 here): five re-signs, then EACCES. */
    for (int i = 0; i < 6; i++)
        fake_http_push(f->fake, 403, expired, NULL);
    assert_int_equal(pfs_client_delete(f->c, "k", &st), -1);
    assert_int_equal(pfs_status_errno(&st), EACCES);
    assert_int_equal(st.attempts, 6);
    /* Expired, re-signed, then a refused signature: final at once. */
    fake_http_push(f->fake, 403, expired, NULL);
    fake_http_push(f->fake, 403, S3_403_SIG, NULL);
    assert_int_equal(pfs_client_delete(f->c, "k", &st), -1);
    assert_int_equal(st.attempts, 2);
    assert_int_equal(fake_http_pending(f->fake), 0);
    destroy(f);
}

static void test_resign_then_retry_combined(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_S3, 5);
    fake_http_push(f->fake, 503, S3_503, NULL);
    fake_http_push(f->fake, 403, S3_403_SIG, NULL);
    fake_http_push(f->fake, 503, S3_503, NULL);
    fake_http_push(f->fake, 204, NULL, NULL);
    struct pfs_status st;
    assert_int_equal(pfs_client_delete(f->c, "k", &st), 0);
    assert_int_equal(st.attempts, 4);
    assert_int_equal(f->n_sleeps, 2);
    destroy(f);
}

/* ---- uploads ---- */

/* A create whose answer was lost (the connection reset after the store began
 * the upload) is retried; the unknown upload it left is found by listing the
 * key's uploads and aborted, and neither ours, an older one nor another key's
 * is touched. */
static void test_mpu_create_aborts_upload_of_lost_answer(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_S3, 5);
    char now[32], list[1024];
    time_t t = time(NULL);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%S.000Z", gmtime(&t));
    snprintf(list, sizeof(list),
             "<ListMultipartUploadsResult>"
             "<Upload><Key>big</Key><UploadId>LOST</UploadId><Initiated>%s</Initiated></Upload>"
             "<Upload><Key>big</Key><UploadId>NEW</UploadId><Initiated>%s</Initiated></Upload>"
             "<Upload><Key>big</Key><UploadId>OLDER</UploadId>"
             "<Initiated>2020-01-01T00:00:00.000Z</Initiated></Upload>"
             "<Upload><Key>bigger</Key><UploadId>OTHERKEY</UploadId><Initiated>%s</Initiated>"
             "</Upload></ListMultipartUploadsResult>",
             now, now, now);
    fake_http_push_error(f->fake, -ECONNRESET);
    fake_http_push(f->fake, 200,
                   "<InitiateMultipartUploadResult><Bucket>bkt</Bucket><Key>big</Key>"
                   "<UploadId>NEW</UploadId></InitiateMultipartUploadResult>",
                   NULL);
    fake_http_push(f->fake, 200, list, NULL);
    fake_http_push(f->fake, 204, "", NULL);
    char *id = NULL;
    struct pfs_status st;
    assert_int_equal(pfs_client_mpu_create(f->c, &id, "big", NULL, 0, &st), 0);
    assert_string_equal(id, "NEW");
    free(id);
    assert_int_equal(fake_http_count(f->fake), 4);
    assert_string_equal(fake_http_request(f->fake, 2)->method, "GET");
    assert_non_null(strstr(url_of(f, 2), "uploads="));
    assert_string_equal(fake_http_request(f->fake, 3)->method, "DELETE");
    assert_non_null(strstr(url_of(f, 3), "uploadId=LOST"));
    /* A create that succeeds at once lists nothing. */
    fake_http_push(f->fake, 200,
                   "<InitiateMultipartUploadResult><UploadId>U2</UploadId>"
                   "</InitiateMultipartUploadResult>",
                   NULL);
    assert_int_equal(pfs_client_mpu_create(f->c, &id, "big", NULL, 0, &st), 0);
    free(id);
    assert_int_equal(fake_http_count(f->fake), 5);
    destroy(f);
}

static void test_put_resends_whole_body(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_S3, 5);
    char path[] = "/tmp/pfs-client-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    const char text[] = "0123456789abcdefghij";
    assert_int_equal(write(fd, text, 20), 20);
    fake_http_push_error(f->fake, -ECONNRESET);
    fake_http_push(f->fake, 200, NULL, (const char *[]){"ETag: \"e1\"", NULL});
    struct pfs_http_body body = {.fd = fd, .offset = 5, .len = 10};
    struct pfs_status st;
    char etag[80];
    assert_int_equal(pfs_client_put(f->c, "obj", &body, NULL, 0, etag, &st), 0);
    assert_string_equal(etag, "\"e1\"");
    for (size_t i = 0; i < 2; i++) {
        const struct fake_request *r = fake_http_request(f->fake, i);
        assert_string_equal(r->method, "PUT");
        assert_int_equal(r->body_len, 10);
        assert_memory_equal(r->body, "56789abcde", 10);
        /* S3: Content-MD5 of exactly those bytes. */
        uint8_t d[16];
        char b64[32];
        pfs_crypto_md5(d, "56789abcde", 10);
        pfs_crypto_base64(b64, d, 16);
        assert_string_equal(fake_http_header(f->fake, i, "Content-MD5"), b64);
    }
    assert_non_null(strstr(url_of(f, 0), "http://127.0.0.1:9000/bkt/obj?X-Amz-"));
    assert_null(fake_http_header(f->fake, 0, "Authorization"));
    close(fd);
    destroy(f);
}

static void test_tos_put_crc(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_TOS, 5);
    const char data[] = "some object bytes";
    char crc_header[64];
    snprintf(crc_header, sizeof(crc_header), "x-tos-hash-crc64ecma: %" PRIu64,
             pfs_crc64_update(0, data, strlen(data)));
    struct pfs_http_body body = {.data = data, .fd = -1, .len = strlen(data)};
    struct pfs_kv meta[] = {{"mode", "0100644"}, {"mtime", "1700000000"}};
    fake_http_push(f->fake, 200, NULL, (const char *[]){crc_header, "ETag: \"x\"", NULL});
    struct pfs_status st;
    assert_int_equal(pfs_client_put(f->c, "dir/a b.txt", &body, meta, 2, NULL, &st), 0);
    const char *u = url_of(f, 0);
    assert_true(strncmp(u, "https://bkt.tos-cn-beijing.volces.com/dir/a%20b.txt?X-Tos-", 58) == 0);
    assert_non_null(strstr(u, "X-Tos-SignedHeaders=host%3Bx-tos-meta-mode%3Bx-tos-meta-mtime&"));
    assert_string_equal(fake_http_header(f->fake, 0, "x-tos-meta-mode"), "0100644");
    assert_null(fake_http_header(f->fake, 0, "Content-MD5")); /* TOS checks the CRC instead */

    /* A CRC that disagrees means the bytes were damaged on the way: retried,
     * and after the retries an error, never a silent success. */
    fake_http_push(f->fake, 200, NULL, (const char *[]){"x-tos-hash-crc64ecma: 12345", NULL});
    fake_http_push(f->fake, 200, NULL, (const char *[]){crc_header, NULL});
    assert_int_equal(pfs_client_put(f->c, "k", &body, NULL, 0, NULL, &st), 0);
    assert_int_equal(st.attempts, 2);
    for (int i = 0; i < 6; i++)
        fake_http_push(f->fake, 200, NULL, (const char *[]){"x-tos-hash-crc64ecma: 1", NULL});
    assert_int_equal(pfs_client_put(f->c, "k", &body, NULL, 0, NULL, &st), -1);
    assert_int_equal(pfs_status_errno(&st), EIO);
    assert_string_equal(st.service_code, "CRCMismatch");
    destroy(f);
}

/* ---- the TOS dialect, request by request ---- */

static void test_tos_requests(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_TOS, 2);
    struct pfs_status st;

    /* HEAD: metadata from x-tos-meta-*, 404 without a body is ENOENT. */
    fake_http_push(f->fake, 200, NULL,
                   (const char *[]){"Content-Length: 42",
                                    "Last-Modified: Mon, 15 Jan 2024 "
                                    "08:30:00 GMT",
                                    "ETag: \"abc\"", "x-tos-meta-mode: 0100600",
                                    "x-tos-request-id: T1", NULL});
    struct pfs_object_info info;
    assert_int_equal(pfs_client_head(f->c, &info, "a/b", &st), 0);
    assert_int_equal(info.size, 42);
    assert_int_equal(info.mtime, 1705307400);
    assert_string_equal(pfs_object_info_meta(&info, "mode"), "0100600");
    pfs_object_info_cleanup(&info);
    assert_string_equal(fake_http_request(f->fake, 0)->method, "HEAD");
    fake_http_push(f->fake, 404, NULL,
                   (const char *[]){"x-tos-ec: 0017-00000003", "x-tos-request-id: T2", NULL});
    assert_int_equal(pfs_client_head(f->c, &info, "missing", &st), -1);
    assert_int_equal(pfs_status_errno(&st), ENOENT);
    assert_string_equal(st.request_id, "T2");

    /* LIST: bucket-level GET with the V2 parameters and fetch-meta. */
    fake_http_push(f->fake, 200,
                   "{\"IsTruncated\":true,\"NextContinuationToken\":\"tok\",\"EncodingType\":"
                   "\"url\",\"Contents\":[{\"Key\":\"p/a%20b\",\"Size\":5,\"LastModified\":"
                   "\"2024-01-15T08:30:00.000Z\",\"ETag\":\"\\\"e\\\"\",\"UserMeta\":[{\"Key\":"
                   "\"mode\",\"Value\":\"0100644\"}]}],\"CommonPrefixes\":[{\"Prefix\":\"p/d/\"}]}",
                   NULL);
    struct pfs_list_page page;
    struct pfs_list_params lp = {.prefix = "p/",
                                 .delimiter = "/",
                                 .max_keys = 1000,
                                 .continuation_token = "prev",
                                 .fetch_meta = true};
    assert_int_equal(pfs_client_list(f->c, &page, &lp, &st), 0);
    const char *u = url_of(f, 2);
    assert_true(strncmp(u, "https://bkt.tos-cn-beijing.volces.com/?", 39) == 0);
    assert_non_null(strstr(u, "&list-type=2"));
    assert_non_null(strstr(u, "&encoding-type=url"));
    assert_non_null(strstr(u, "&fetch-meta=true"));
    assert_non_null(strstr(u, "&prefix=p%2F"));
    assert_non_null(strstr(u, "&delimiter=%2F"));
    assert_non_null(strstr(u, "&continuation-token=prev"));
    assert_non_null(strstr(u, "&max-keys=1000"));
    assert_string_equal(page.entries[0].key, "p/a b");
    assert_string_equal(page.entries[0].meta[0].value, "0100644");
    assert_string_equal(page.prefixes[0], "p/d/");
    assert_string_equal(page.next_token, "tok");
    pfs_list_page_cleanup(&page);

    /* COPY: signed x-tos-copy-source "/bucket/" + fully escaped key. */
    fake_http_push(f->fake, 200, "{\"ETag\":\"\\\"c\\\"\",\"LastModified\":\"x\"}", NULL);
    struct pfs_kv meta[] = {{"mode", "0100600"}};
    assert_int_equal(pfs_client_copy(f->c, "dst", "src/a b+c", true, meta, 1, &st), 0);
    u = url_of(f, 3);
    assert_non_null(strstr(u, "X-Tos-SignedHeaders=host%3Bx-tos-copy-source%3Bx-tos-meta-mode%3B"
                              "x-tos-metadata-directive&"));
    assert_string_equal(fake_http_header(f->fake, 3, "x-tos-copy-source"), "/bkt/src%2Fa%20b%2Bc");
    assert_string_equal(fake_http_header(f->fake, 3, "x-tos-metadata-directive"), "REPLACE");
    /* The 200-with-error trap. */
    fake_http_push(f->fake, 200,
                   "{\"Code\":\"InternalError\",\"Message\":\"m\",\"RequestId\":\"r\"}", NULL);
    assert_int_equal(pfs_client_copy(f->c, "dst", "src", false, NULL, 0, &st), -1);
    assert_int_equal(pfs_status_errno(&st), EIO);
    assert_string_equal(st.service_code, "InternalError");

    /* Multipart: create, part, complete, abort. */
    fake_http_push(f->fake, 200, "{\"Bucket\":\"bkt\",\"Key\":\"big\",\"UploadId\":\"U1\"}", NULL);
    char *upload_id;
    assert_int_equal(pfs_client_mpu_create(f->c, &upload_id, "big", NULL, 0, &st), 0);
    assert_string_equal(upload_id, "U1");
    assert_string_equal(fake_http_request(f->fake, 5)->method, "POST");
    assert_non_null(strstr(url_of(f, 5), "/big?X-Tos-"));
    assert_non_null(strstr(url_of(f, 5), "&uploads=&"));
    char crc[64];
    snprintf(crc, sizeof(crc), "x-tos-hash-crc64ecma: %" PRIu64, pfs_crc64_update(0, "part", 4));
    fake_http_push(f->fake, 200, NULL, (const char *[]){"ETag: \"p1\"", crc, NULL});
    struct pfs_part part;
    struct pfs_http_body pb = {.data = "part", .fd = -1, .len = 4};
    assert_int_equal(pfs_client_mpu_upload_part(f->c, &part, "big", "U1", 1, &pb, &st), 0);
    assert_string_equal(part.etag, "\"p1\"");
    assert_non_null(strstr(url_of(f, 6), "&partNumber=1&uploadId=U1&"));
    fake_http_push(f->fake, 200, "{\"ETag\":\"\\\"final-1\\\"\"}", NULL);
    assert_int_equal(pfs_client_mpu_complete(f->c, "big", "U1", &part, 1, NULL, &st), 0);
    const struct fake_request *r = fake_http_request(f->fake, 7);
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->body, "{\"Parts\":[{\"PartNumber\":1,\"ETag\":\"\\\"p1\\\"\"}]}");
    assert_string_equal(fake_http_header(f->fake, 7, "Content-Type"), "application/json");
    fake_http_push(f->fake, 204, NULL, NULL);
    assert_int_equal(pfs_client_mpu_abort(f->c, "big", "U1", &st), 0);
    assert_string_equal(fake_http_request(f->fake, 8)->method, "DELETE");
    assert_non_null(strstr(url_of(f, 8), "uploadId=U1"));
    free(upload_id);

    /* UploadPartCopy: signed copy source and range. */
    fake_http_push(f->fake, 200, "{\"ETag\":\"\\\"cp1\\\"\",\"LastModified\":\"x\"}", NULL);
    struct pfs_part cpart;
    assert_int_equal(
        pfs_client_mpu_copy_part(f->c, &cpart, "big", "U1", 2, "src key", 100, 199, &st), 0);
    assert_string_equal(cpart.etag, "\"cp1\"");
    assert_int_equal(cpart.number, 2);
    assert_string_equal(fake_http_header(f->fake, 9, "x-tos-copy-source-range"), "bytes=100-199");
    assert_string_equal(fake_http_header(f->fake, 9, "x-tos-copy-source"), "/bkt/src%20key");
    assert_non_null(strstr(url_of(f, 9), "x-tos-copy-source%3Bx-tos-copy-source-range&"));
    assert_non_null(strstr(url_of(f, 9), "&partNumber=2&uploadId=U1&"));

    /* Bulk delete: POST /?delete with a signed Content-MD5 of the JSON body. */
    fake_http_push(f->fake, 200,
                   "{\"Deleted\":[{\"Key\":\"a\"}],\"Error\":[{\"Key\":\"b\",\"Code\":"
                   "\"AccessDenied\",\"Message\":\"no\"}]}",
                   NULL);
    const char *keys[] = {"a", "b"};
    struct pfs_delete_result dr;
    assert_int_equal(pfs_client_delete_many(f->c, keys, 2, &dr, &st), 0);
    assert_int_equal(dr.n_deleted, 1);
    assert_int_equal(dr.n_errors, 1);
    pfs_delete_result_cleanup(&dr);
    r = fake_http_request(f->fake, 10);
    assert_string_equal(r->body, "{\"Objects\":[{\"Key\":\"a\"},{\"Key\":\"b\"}],\"Quiet\":true}");
    uint8_t d[16];
    char b64[32];
    pfs_crypto_md5(d, r->body, r->body_len);
    pfs_crypto_base64(b64, d, 16);
    assert_string_equal(fake_http_header(f->fake, 10, "content-md5"), b64);
    assert_non_null(strstr(r->url, "X-Tos-SignedHeaders=content-md5%3Bhost&"));
    assert_non_null(strstr(r->url, "&delete=&"));

    /* DELETE of a key that is already gone succeeds. */
    fake_http_push(f->fake, 404, NULL, NULL);
    assert_int_equal(pfs_client_delete(f->c, "gone", &st), 0);
    destroy(f);
}

/* ---- GET edge cases ---- */

/* Issue 11, finding 2: the CRC-64 TOS reports for a completed multipart
 * upload must combine its parts' CRCs in order; a store that assembled the
 * parts otherwise fails the upload with EIO (CRCMismatch). */
static void test_tos_complete_checks_whole_crc(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_TOS, 2);
    struct pfs_status st;
    static const char *const data[3] = {"first part bytes", "second part", "3"};
    struct pfs_part parts[3];
    char hdr[3][64];
    for (int i = 0; i < 3; i++) {
        snprintf(hdr[i], sizeof(hdr[i]), "x-tos-hash-crc64ecma: %" PRIu64,
                 pfs_crc64_update(0, data[i], strlen(data[i])));
        fake_http_push(f->fake, 200, NULL, (const char *[]){"ETag: \"p\"", hdr[i], NULL});
        struct pfs_http_body b = {.data = data[i], .fd = -1, .len = strlen(data[i])};
        assert_int_equal(pfs_client_mpu_upload_part(f->c, &parts[i], "big", "U", i + 1, &b, &st),
                         0);
        assert_true(parts[i].has_crc64);
        assert_int_equal(parts[i].size, strlen(data[i]));
    }
    char whole[128], swapped[128], h_ok[64], h_bad[64];
    snprintf(whole, sizeof(whole), "%s%s%s", data[0], data[1], data[2]);
    snprintf(swapped, sizeof(swapped), "%s%s%s", data[1], data[0], data[2]);
    snprintf(h_ok, sizeof(h_ok), "x-tos-hash-crc64ecma: %" PRIu64,
             pfs_crc64_update(0, whole, strlen(whole)));
    snprintf(h_bad, sizeof(h_bad), "x-tos-hash-crc64ecma: %" PRIu64,
             pfs_crc64_update(0, swapped, strlen(swapped)));
    const char *result = "{\"ETag\":\"\\\"f-3\\\"\"}";
    fake_http_push(f->fake, 200, result, (const char *[]){h_ok, NULL});
    assert_int_equal(pfs_client_mpu_complete(f->c, "big", "U", parts, 3, NULL, &st), 0);
    /* Assembled in another order: EIO, and not retried by the client (the
     * object exists; the caller uploads again). */
    fake_http_push(f->fake, 200, result, (const char *[]){h_bad, "x-tos-request-id: RID7", NULL});
    assert_int_equal(pfs_client_mpu_complete(f->c, "big", "U", parts, 3, NULL, &st), -1);
    assert_int_equal(pfs_status_errno(&st), EIO);
    assert_string_equal(st.service_code, "CRCMismatch");
    assert_string_equal(st.request_id, "RID7");
    assert_false(pfs_status_permanent(&st)); /* the data is kept and retried */
    /* No CRC in the answer, or a part without one: nothing to compare. */
    fake_http_push(f->fake, 200, result, NULL);
    assert_int_equal(pfs_client_mpu_complete(f->c, "big", "U", parts, 3, NULL, &st), 0);
    parts[1].has_crc64 = false;
    fake_http_push(f->fake, 200, result, (const char *[]){h_bad, NULL});
    assert_int_equal(pfs_client_mpu_complete(f->c, "big", "U", parts, 3, NULL, &st), 0);
    destroy(f);
}

/* Body bytes counted per attempt: an error body is bytes in, a request body
 * counts as sent only when the store answered the attempt. */
static void test_bytes_counted(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_S3, 5);
    struct pfs_stats_snapshot s0, s1;
    pfs_stats_snapshot(&s0);
    fake_http_push_error(f->fake, -ECONNRESET); /* no answer: nothing counted */
    fake_http_push(f->fake, 503, S3_503, NULL); /* answered: 10 out, body in */
    fake_http_push(f->fake, 200, NULL, (const char *[]){"ETag: \"e1\"", NULL}); /* 10 out */
    struct pfs_http_body body = {.data = "0123456789", .len = 10};
    struct pfs_status st;
    char etag[80];
    assert_int_equal(pfs_client_put(f->c, "obj", &body, NULL, 0, etag, &st), 0);
    char buf[16];
    size_t got;
    fake_http_push(f->fake, 206, "hello", (const char *[]){"Content-Range: bytes 0-4/5", NULL});
    assert_int_equal(pfs_client_get_range(f->c, buf, 5, 0, &got, "k", &st), 0);
    assert_int_equal(got, 5);
    pfs_stats_snapshot(&s1);
    assert_int_equal(s1.bytes_out - s0.bytes_out, 20);
    assert_int_equal(s1.bytes_in - s0.bytes_in, strlen(S3_503) + 5);
    destroy(f);
}

static void test_get_edges(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_S3, 1);
    char buf[8];
    size_t got;
    struct pfs_status st;
    fake_http_push(f->fake, 416, "<Error><Code>InvalidRange</Code><Message>m</Message></Error>",
                   NULL);
    assert_int_equal(pfs_client_get_range(f->c, buf, 8, 100, &got, "k", &st), 0);
    assert_int_equal(got, 0);
    fake_http_push(f->fake, 206, "abc", (const char *[]){"Content-Range: bytes 0-2/3", NULL});
    assert_int_equal(pfs_client_get_range(f->c, buf, 8, 5, &got, "k", &st), -1);
    assert_int_equal(pfs_status_errno(&st), EIO);
    fake_http_push(f->fake, 200, "whole!", NULL);
    assert_int_equal(pfs_client_get_range(f->c, buf, 3, 2, &got, "k", &st), -1);
    assert_int_equal(pfs_status_errno(&st), EIO);
    fake_http_push(f->fake, 206, "toolongbody",
                   (const char *[]){"Content-Range: bytes 0-1/2", NULL});
    assert_int_equal(pfs_client_get_range(f->c, buf, 2, 0, &got, "k", &st), -1);
    assert_int_not_equal(pfs_status_errno(&st), 0);
    assert_int_equal(pfs_client_get_range(f->c, buf, 0, 0, &got, "k", &st), 0);
    assert_int_equal(got, 0);
    fake_http_push(f->fake, 200, NULL, (const char *[]){"Content-Length: abc", NULL});
    struct pfs_object_info info;
    assert_int_equal(pfs_client_head(f->c, &info, "k", &st), -1);
    assert_int_equal(pfs_status_errno(&st), EIO);
    destroy(f);
}

/* ---- whole uploads ---- */

static void test_upload_fd_multipart_and_abort(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_S3, 0);
    char path[] = "/tmp/pfs-client-mp-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    const uint64_t size = 11ull << 20; /* 5 + 5 + 1 MiB */
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    fake_http_push(f->fake, 200,
                   "<InitiateMultipartUploadResult><UploadId>U</UploadId>"
                   "</InitiateMultipartUploadResult>",
                   NULL);
    for (int i = 0; i < 3; i++)
        fake_http_push(f->fake, 200, NULL, (const char *[]){"ETag: \"p\"", NULL});
    fake_http_push(f->fake, 200,
                   "<CompleteMultipartUploadResult><ETag>\"f-3\"</ETag>"
                   "</CompleteMultipartUploadResult>",
                   NULL);
    struct pfs_status st;
    assert_int_equal(
        pfs_client_upload_fd(f->c, "big", fd, 0, size, NULL, 0, 5ull << 20, 8ull << 20, NULL, &st),
        0);
    assert_int_equal(fake_http_count(f->fake), 5);
    const struct fake_request *done = fake_http_request(f->fake, 4);
    assert_non_null(strstr(done->body, "<PartNumber>3</PartNumber>"));
    size_t total = 0;
    for (size_t i = 1; i <= 3; i++)
        total += fake_http_request(f->fake, i)->body_len;
    assert_int_equal(total, size);
    destroy(f);

    /* A failing part: the upload is aborted, nothing is completed. */
    f = make(PFS_DIALECT_S3, 0);
    fake_http_push(f->fake, 200,
                   "<InitiateMultipartUploadResult><UploadId>U</UploadId>"
                   "</InitiateMultipartUploadResult>",
                   NULL);
    fake_http_push(f->fake, 200, NULL, (const char *[]){"ETag: \"p\"", NULL});
    fake_http_push(f->fake, 500, "<Error><Code>InternalError</Code><Message>m</Message></Error>",
                   NULL);
    fake_http_push(f->fake, 200, NULL, (const char *[]){"ETag: \"p\"", NULL});
    fake_http_push(f->fake, 204, NULL, NULL);
    assert_int_equal(
        pfs_client_upload_fd(f->c, "big", fd, 0, size, NULL, 0, 5ull << 20, 8ull << 20, NULL, &st),
        -1);
    assert_int_equal(pfs_status_errno(&st), EIO);
    size_t n = fake_http_count(f->fake);
    const struct fake_request *last = fake_http_request(f->fake, n - 1);
    assert_string_equal(last->method, "DELETE");
    assert_non_null(strstr(last->url, "uploadId=U"));
    for (size_t i = 0; i < n; i++)
        assert_false(strcmp(fake_http_request(f->fake, i)->method, "POST") == 0 &&
                     fake_http_request(f->fake, i)->body_len > 0);
    /* Parts not yet started when the failure was seen are skipped: consume
     * whatever responses they left unused. */
    while (fake_http_pending(f->fake) > 0) {
        struct pfs_object_info info;
        pfs_client_head(f->c, &info, "drain", &st);
        pfs_object_info_cleanup(&info);
    }
    close(fd);
    destroy(f);
}

static void test_debug_log_is_redacted(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_TOS, 1);
    /* A source whose credentials carry a session token. */
    pfs_client_free(f->c);
    pfs_urlcache_free(f->urls);
    pfs_url_source_free(f->src);
    struct pfs_sign_params params = {.dialect = PFS_DIALECT_TOS,
                                     .endpoint = &f->ep,
                                     .region = "cn-beijing",
                                     .addressing = PFS_ADDRESSING_VIRTUAL};
    struct pfs_cred *cred;
    assert_int_equal(pfs_cred_new(&cred, "AKSECRETID", "SK", "TOKENVALUE123"), 0);
    assert_int_equal(pfs_url_source_local_new(&f->src, &params, cred, 3600), 0);
    assert_int_equal(pfs_urlcache_new(&f->urls, f->src, &pfs_clock_realtime, 0, 360), 0);
    assert_int_equal(pfs_client_new(&f->c, fake_http_transport(f->fake), f->urls, NULL,
                                    PFS_DIALECT_TOS, "bkt", NULL),
                     0);
    struct log_capture cap;
    capture_begin(&cap);
    pfs_log_set_level(PFS_LOG_DEBUG);
    fake_http_push(f->fake, 403,
                   "{\"Code\":\"AccessDenied\",\"Message\":\"m\",\"RequestId\":\"r\"}", NULL);
    fake_http_push(f->fake, 403,
                   "{\"Code\":\"AccessDenied\",\"Message\":\"m\",\"RequestId\":\"r\"}", NULL);
    struct pfs_status st;
    assert_int_equal(pfs_client_delete(f->c, "k", &st), -1);
    pfs_log_set_level(PFS_LOG_WARN);
    char log[8192];
    capture_end(&cap, log, sizeof(log));
    assert_non_null(strstr(log, "X-Tos-Signature=REDACTED"));
    assert_non_null(strstr(log, "X-Tos-Security-Token=REDACTED"));
    assert_null(strstr(log, "TOKENVALUE123"));
    assert_null(strstr(log, "AKSECRETID"));
    const char *u = url_of(f, 0);
    const char *sig = strstr(u, "X-Tos-Signature=") + strlen("X-Tos-Signature=");
    assert_null(strstr(log, sig));
    destroy(f);
}

/* The read path over the client (prefetch.c): reads that jump (no
 * read-ahead, so every request is the read's own and the script is
 * deterministic). */
#define MiB (1u << 20)

static ssize_t read_at(struct pfs_prefetch *p, char *buf, size_t len, uint64_t off)
{
    struct pfs_status st;
    return pfs_prefetch_read(p, buf, len, off, &st);
}

static void test_prefetch_data_cache(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_S3, 0);
    char *dir = tu_mkdtemp(), err[256];
    struct pfs_dcache *dc;
    struct pfs_budget *budget;
    assert_int_equal(pfs_dcache_open(&dc, dir, 0, err, sizeof(err)), 0);
    assert_int_equal(pfs_budget_new(&budget, 64 * MiB, PFS_PREFETCH_MAX_CHUNK), 0);
    const uint64_t size = 10 * MiB + 1000;
    char buf[8192];
    struct pfs_prefetch *p =
        pfs_prefetch_new(f->c, f->pool, budget, dc, "bkt", "k", "\"e1\"", size);
    /* A 4 KiB read in the middle that misses fetches its whole block. */
    fx_push_pattern(f, 5 * MiB, MiB, size, "\"e1\"", NULL);
    assert_int_equal(read_at(p, buf, 4096, 5 * MiB + 100), 4096);
    fx_check_pattern(buf, 5 * MiB + 100, 4096);
    assert_string_equal(fake_http_header(f->fake, 0, "Range"), "bytes=5242880-6291455");
    assert_string_equal(fake_http_header(f->fake, 0, "If-Match"), "\"e1\"");
    /* The object's last block is shorter; the answer's total says so. */
    fx_push_pattern(f, 10 * MiB, 1000, size, "\"e1\"", NULL);
    assert_int_equal(read_at(p, buf, 4096, 10 * MiB + 500), 500);
    fx_check_pattern(buf, 10 * MiB + 500, 500);
    assert_string_equal(fake_http_header(f->fake, 1, "Range"), "bytes=10485760-11534335");
    /* Back to the first block, then another handle: both from the cache. */
    assert_int_equal(read_at(p, buf, 8192, 5 * MiB + 9000), 8192);
    fx_check_pattern(buf, 5 * MiB + 9000, 8192);
    pfs_prefetch_free(p);
    p = pfs_prefetch_new(f->c, f->pool, budget, dc, "bkt", "k", "\"e1\"", size);
    assert_int_equal(read_at(p, buf, 4096, 10 * MiB + 200), 800);
    fx_check_pattern(buf, 10 * MiB + 200, 800);
    assert_int_equal(read_at(p, buf, 4096, 5 * MiB + 3), 4096);
    fx_check_pattern(buf, 5 * MiB + 3, 4096);
    assert_int_equal(fake_http_count(f->fake), 2); /* no request since */
    pfs_prefetch_free(p);
    /* Another version (a new ETag) never reads the old blocks. */
    p = pfs_prefetch_new(f->c, f->pool, budget, dc, "bkt", "k", "\"e2\"", size);
    fx_push_pattern(f, 5 * MiB, MiB, size, "\"e2\"", NULL);
    assert_int_equal(read_at(p, buf, 4096, 5 * MiB + 100), 4096);
    assert_int_equal(fake_http_count(f->fake), 3);
    assert_string_equal(fake_http_header(f->fake, 2, "If-Match"), "\"e2\"");
    /* A read across a missing block and a cached one fetches the missing
     * one alone, and a store failure fails the read, never a short count.
     * (Each read jumps, so no read-ahead runs.) */
    fx_push_pattern(f, 3 * MiB, MiB, size, "\"e2\"", NULL);
    assert_int_equal(read_at(p, buf, 4096, 3 * MiB), 4096);
    fx_push_pattern(f, 4 * MiB, MiB, size, "\"e2\"", NULL);
    assert_int_equal(read_at(p, buf, 8192, 5 * MiB - 4096), 8192);
    fx_check_pattern(buf, 5 * MiB - 4096, 8192);
    assert_string_equal(fake_http_header(f->fake, 4, "Range"), "bytes=4194304-5242879");
    fake_http_push(f->fake, 404, "<Error><Code>NoSuchKey</Code></Error>", NULL);
    assert_int_equal(read_at(p, buf, 8192, 8 * MiB - 4096), -1);
    assert_int_equal(fake_http_count(f->fake), 6);
    pfs_prefetch_free(p);
    pfs_budget_free(budget);
    pfs_dcache_close(dc);
    tu_rmtree(dir);
    destroy(f);
}

/* TOS: the whole object's CRC-64 against the bytes a handle returned. */
static void test_prefetch_whole_crc(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_TOS, 0);
    struct pfs_budget *budget;
    assert_int_equal(pfs_budget_new(&budget, 64 * MiB, PFS_PREFETCH_MAX_CHUNK), 0);
    const uint64_t size = 3 * MiB;
    char *want = malloc(size), *buf = malloc(size);
    for (uint64_t i = 0; i < size; i++)
        want[i] = fx_pattern_at(i);
    char good[80], bad[80];
    uint64_t crc = pfs_crc64_update(0, want, size);
    snprintf(good, sizeof(good), "x-tos-hash-crc64ecma: %" PRIu64, crc);
    snprintf(bad, sizeof(bad), "x-tos-hash-crc64ecma: %" PRIu64, crc ^ 1);
    for (int round = 0; round < 2; round++) {
        const char *h = round == 0 ? good : bad;
        struct pfs_prefetch *p =
            pfs_prefetch_new(f->c, f->pool, budget, NULL, "bkt", "k", "\"v\"", size);
        /* Out of order: the end, then the middle, then the start. 1 MiB
         * reads arrive in any order within 16 MiB (prefetch.c reorder_span):
         * the first one's read-ahead chunk holds the end (and goes once it
         * is read), the others fetch their own ranges. */
        fx_push_pattern(f, 2 * MiB, MiB, size, "\"v\"", h);
        fx_push_pattern(f, MiB + 5, MiB - 5, size, "\"v\"", h);
        fx_push_pattern(f, 0, MiB + 5, size, "\"v\"", h);
        assert_int_equal(read_at(p, buf + 2 * MiB, MiB, 2 * MiB), MiB);
        assert_int_equal(read_at(p, buf + MiB + 5, MiB - 5, MiB + 5), MiB - 5);
        ssize_t n = read_at(p, buf, MiB + 5, 0);
        if (round == 0) {
            assert_int_equal(n, MiB + 5); /* the whole object checks out */
            assert_memory_equal(buf, want, size);
        } else {
            assert_int_equal(n, -1); /* the read that completes it fails */
            /* The end's chunk went once all of it was read: a GET again. */
            fx_push_pattern(f, size - 100, 100, size, "\"v\"", h);
            assert_int_equal(read_at(p, buf, 100, size - 100), -1); /* and its end after */
            fx_push_pattern(f, 4096, 100, size, "\"v\"", h);
            /* and the rest too: the kernel asks again for the pages of a
             * read-ahead that failed in the middle, and must not get them */
            assert_int_equal(read_at(p, buf, 100, 4096), -1);
        }
        assert_int_equal(fake_http_pending(f->fake), 0);
        pfs_prefetch_free(p);
    }
    free(want);
    free(buf);
    pfs_budget_free(budget);
    destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_then_success),
        cmocka_unit_test(test_prefetch_data_cache),
        cmocka_unit_test(test_prefetch_whole_crc),
        cmocka_unit_test(test_put_content_type),
        cmocka_unit_test(test_retries_exhausted),
        cmocka_unit_test(test_no_retry_on_other_4xx),
        cmocka_unit_test(test_resign_once_after_403),
        cmocka_unit_test(test_resign_then_retry_combined),
        cmocka_unit_test(test_resign_again_while_the_url_is_expired),
        cmocka_unit_test(test_mpu_create_aborts_upload_of_lost_answer),
        cmocka_unit_test(test_put_resends_whole_body),
        cmocka_unit_test(test_bytes_counted),
        cmocka_unit_test(test_tos_put_crc),
        cmocka_unit_test(test_tos_complete_checks_whole_crc),
        cmocka_unit_test(test_tos_requests),
        cmocka_unit_test(test_get_edges),
        cmocka_unit_test(test_upload_fd_multipart_and_abort),
        cmocka_unit_test(test_debug_log_is_redacted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
