/* TOS JSON bodies: the example bodies of tos-api.md, then truncated and
 * hostile bodies, each of which must end in a clean error. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "dialect.h"
#include "dialect_hostile.h"

static const struct pfs_dialect_ops *D = &pfs_dialect_tos;

/* tos-api.md section 5. */
static const char LIST[] =
    "{\n  \"Name\": \"examplebucket\",\n  \"Prefix\": \"photos/\",\n  \"ContinuationToken\": "
    "\"\",\n"
    "  \"KeyCount\": 3,\n  \"MaxKeys\": 2,\n  \"Delimiter\": \"/\",\n  \"IsTruncated\": true,\n"
    "  \"EncodingType\": \"\",\n  \"NextContinuationToken\": \"cGhvdG9zLzIwMjQvYi5qcGc=\",\n"
    "  \"CommonPrefixes\": [\n    { \"Prefix\": \"photos/2024/\" }\n  ],\n  \"Contents\": [\n"
    "    {\n      \"Key\": \"photos/a.jpg\",\n      \"LastModified\": "
    "\"2024-01-15T08:30:00.000Z\",\n"
    "      \"ETag\": \"\\\"9b2cf535f27731c974343645a3985328\\\"\",\n      \"Size\": 10240,\n"
    "      \"Owner\": { \"ID\": \"2100000001\", \"DisplayName\": \"2100000001\" },\n"
    "      \"StorageClass\": \"STANDARD\",\n      \"Type\": \"Normal\",\n"
    "      \"HashCrc64Ecma\": \"5981764153023615706\"\n    },\n    {\n"
    "      \"Key\": \"photos/b.jpg\",\n      \"LastModified\": \"2024-01-15T08:31:00.000Z\",\n"
    "      \"ETag\": \"\\\"0f343b0931126a20f133d67c2b018a3b-2\\\"\",\n      \"Size\": 10485760,\n"
    "      \"StorageClass\": \"STANDARD\",\n      \"HashCrc64Ecma\": \"1234567890123456789\",\n"
    "      \"UserMeta\": [ { \"Key\": \"mode\", \"Value\": \"0100644\" }, { \"Key\": "
    "\"%E5%90%8D\", "
    "\"Value\": \"%E5%80%BC\" }, { \"Key\": \"Raw\", \"Value\": \"100%\" } ]\n    }\n  ]\n}";

static void test_list(void **state)
{
    (void)state;
    struct pfs_list_page p;
    assert_int_equal(D->parse_list(LIST, strlen(LIST), &p), 0);
    assert_int_equal(p.n_entries, 2);
    assert_string_equal(p.entries[0].key, "photos/a.jpg");
    assert_int_equal(p.entries[0].size, 10240);
    assert_int_equal(p.entries[0].mtime, 1705307400);
    assert_string_equal(p.entries[0].etag, "\"9b2cf535f27731c974343645a3985328\"");
    assert_int_equal(p.entries[0].n_meta, 0);
    assert_int_equal(p.entries[1].size, 10485760);
    assert_int_equal(p.entries[1].n_meta, 3);
    assert_string_equal(p.entries[1].meta[0].name, "mode");
    assert_string_equal(p.entries[1].meta[0].value, "0100644");
    assert_string_equal(p.entries[1].meta[1].name, "\xe5\x90\x8d"); /* percent-decoded */
    assert_string_equal(p.entries[1].meta[1].value, "\xe5\x80\xbc");
    assert_string_equal(p.entries[1].meta[2].name, "raw");   /* lower-cased */
    assert_string_equal(p.entries[1].meta[2].value, "100%"); /* undecodable: kept raw */
    assert_int_equal(p.n_prefixes, 1);
    assert_string_equal(p.prefixes[0], "photos/2024/");
    assert_true(p.truncated);
    assert_string_equal(p.next_token, "cGhvdG9zLzIwMjQvYi5qcGc=");
    pfs_list_page_cleanup(&p);

    /* omitempty: every field may be missing. */
    assert_int_equal(D->parse_list("{}", 2, &p), 0);
    assert_int_equal(p.n_entries + p.n_prefixes, 0);
    assert_false(p.truncated);
    pfs_list_page_cleanup(&p);
    const char enc[] =
        "{\"EncodingType\":\"url\",\"Contents\":[{\"Key\":\"a%20b%2Fc\",\"Size\":0}],"
        "\"CommonPrefixes\":[{\"Prefix\":\"d%25/\"}]}";
    assert_int_equal(D->parse_list(enc, strlen(enc), &p), 0);
    assert_string_equal(p.entries[0].key, "a b/c");
    assert_string_equal(p.prefixes[0], "d%/");
    pfs_list_page_cleanup(&p);
}

/* encoding-type=url names come form-encoded (a space as '+', '+' as %2B);
 * without EncodingType a '+' is a '+' (issue 11, finding 1). */
static void test_list_form_encoding(void **state)
{
    (void)state;
    struct pfs_list_page p;
    const char enc[] =
        "{\"EncodingType\":\"url\",\"Contents\":["
        "{\"Key\":\"my+file.txt\",\"Size\":1},{\"Key\":\"my%2Bfile.txt\",\"Size\":2},"
        "{\"Key\":\"100%25+%E4%B8%AD%01\",\"Size\":3}],"
        "\"CommonPrefixes\":[{\"Prefix\":\"a+b%2Bc/\"}]}";
    assert_int_equal(D->parse_list(enc, strlen(enc), &p), 0);
    assert_int_equal(p.n_entries, 3);
    assert_string_equal(p.entries[0].key, "my file.txt");
    assert_string_equal(p.entries[1].key, "my+file.txt");
    assert_string_equal(p.entries[2].key, "100% \xe4\xb8\xad\x01");
    assert_string_equal(p.prefixes[0], "a b+c/");
    pfs_list_page_cleanup(&p);
    const char raw[] = "{\"Contents\":[{\"Key\":\"my+file.txt\",\"Size\":1}]}";
    assert_int_equal(D->parse_list(raw, strlen(raw), &p), 0);
    assert_string_equal(p.entries[0].key, "my+file.txt");
    pfs_list_page_cleanup(&p);
}

static void expect_bad_list(const char *body, size_t len)
{
    struct pfs_list_page p;
    memset(&p, 0x5a, sizeof(p));
    int rc = D->parse_list(body, len, &p);
    if (rc == 0)
        fail_msg("accepted: %.*s", (int)(len > 200 ? 200 : len), body);
    assert_int_equal(rc, -EPROTO);
    assert_null(p.entries);
}

static void test_list_malformed(void **state)
{
    (void)state;
    for (size_t n = 0; n < strlen(LIST); n++)
        expect_bad_list(LIST, n);
    const char *bad[] = {
        "[]",
        "\"string\"",
        "{\"Contents\":{}}",
        "{\"Contents\":[{\"Size\":1}]}",
        "{\"Contents\":[{\"Key\":\"k\"}]}",
        "{\"Contents\":[{\"Key\":\"k\",\"Size\":-1}]}",
        "{\"Contents\":[{\"Key\":\"k\",\"Size\":\"12\"}]}",
        "{\"Contents\":[{\"Key\":7,\"Size\":1}]}",
        "{\"Contents\":[{\"Key\":\"k\",\"Size\":1,\"LastModified\":\"never\"}]}",
        "{\"Contents\":[{\"Key\":\"k\",\"Size\":1,\"UserMeta\":{}}]}",
        "{\"Contents\":[{\"Key\":\"k\",\"Size\":1,\"UserMeta\":[{\"Value\":\"v\"}]}]}",
        "{\"CommonPrefixes\":[{\"Prefix\":\"\"}]}",
        "{\"IsTruncated\":\"yes\"}",
        "{\"IsTruncated\":true}",
        "{\"Contents\":[],\"Contents\":[]}",
        "{\"EncodingType\":\"url\",\"Contents\":[{\"Key\":\"%zz\",\"Size\":1}]}",
        "{\"Contents\":[{\"Key\":\"\xff\xfe\",\"Size\":1}]}",
        "{\"Contents\":[{\"Key\":\"k\",\"Size\":1}]} trailing",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_bad_list(bad[i], strlen(bad[i]));
}

static void test_hostile(void **state)
{
    (void)state;
    char *deep = nested("[", "]", 100000);
    expect_bad_list(deep, strlen(deep));
    free(deep);
    char *deep_obj = nested("{\"a\":", "}", 100000);
    expect_bad_list(deep_obj, strlen(deep_obj));
    free(deep_obj);
    char *noise = junk(10 << 20);
    expect_bad_list(noise, 10 << 20);
    struct pfs_status st;
    pfs_status_clear(&st);
    assert_int_equal(D->parse_error(noise, 10 << 20, &st), -EPROTO);
    free(noise);
    struct pfs_buf b;
    pfs_buf_init(&b);
    pfs_buf_puts(&b, "{\"Contents\":[");
    for (int i = 0; i < PFS_LIST_MAX_ITEMS + 5; i++)
        pfs_buf_printf(&b, "%s{\"Key\":\"k%d\",\"Size\":1}", i ? "," : "", i);
    pfs_buf_puts(&b, "]}");
    expect_bad_list(b.data, b.len);
    pfs_buf_cleanup(&b);
}

static void test_error(void **state)
{
    (void)state;
    /* tos-api.md section 9. */
    const char body[] = "{ \"Code\": \"SignatureDoesNotMatch\",\n  \"Message\": \"The request "
                        "signature we calculated does not match the signature you provided.\",\n"
                        "  \"RequestId\": \"674ea1b2c3d4e5f600000001\",\n  \"HostId\": "
                        "\"examplehostid\",\n  \"Resource\": \"/big/file.iso\",\n  \"EC\": "
                        "\"0002-00000016\" }";
    struct pfs_status st;
    pfs_status_clear(&st);
    assert_int_equal(D->parse_error(body, strlen(body), &st), 0);
    assert_string_equal(st.service_code, "SignatureDoesNotMatch");
    assert_string_equal(st.request_id, "674ea1b2c3d4e5f600000001");
    assert_non_null(strstr(st.message, "does not match"));
    assert_int_equal(D->parse_error("{}", 2, &st), -EPROTO);
    assert_int_equal(D->parse_error("{\"Code\":1}", 10, &st), -EPROTO);
    assert_int_equal(D->parse_error("<Error/>", 8, &st), -EPROTO);
}

static void test_results(void **state)
{
    (void)state;
    char *id;
    const char init[] = "{ \"Bucket\": \"examplebucket\", \"Key\": \"big/file.iso\", \"UploadId\": "
                        "\"5a1c7d0e2c6b4f7e9a3b8d1c0f2e4a6b\" }";
    assert_int_equal(D->parse_upload_id(init, strlen(init), &id), 0);
    assert_string_equal(id, "5a1c7d0e2c6b4f7e9a3b8d1c0f2e4a6b");
    free(id);
    assert_int_equal(D->parse_upload_id("{\"UploadID\":\"x\"}", 16, &id), -EPROTO);

    char etag[80];
    struct pfs_status st;
    pfs_status_clear(&st);
    const char complete[] = "{ \"Bucket\": \"examplebucket\", \"Key\": \"big/file.iso\",\n"
                            "  \"ETag\": \"\\\"3858f62230ac3c915f300c664312c11f-2\\\"\",\n"
                            "  \"Location\": \"https://examplebucket.tos-cn-beijing.volces.com/"
                            "big/file.iso\" }";
    assert_int_equal(D->parse_etag_result(complete, strlen(complete), etag, &st), 0);
    assert_string_equal(etag, "\"3858f62230ac3c915f300c664312c11f-2\"");
    const char err200[] = "{\"Code\":\"InternalError\",\"Message\":\"boom\",\"RequestId\":\"r1\","
                          "\"EC\":\"0005-00000001\"}";
    assert_int_equal(D->parse_etag_result(err200, strlen(err200), etag, &st), -EIO);
    assert_string_equal(st.service_code, "InternalError");
    assert_int_equal(D->parse_etag_result("{}", 2, etag, &st), -EPROTO);

    struct pfs_delete_result r;
    const char del[] =
        "{ \"Deleted\": [ { \"Key\": \"tmp/a.txt\" } ],\n  \"Error\":   [ { \"Key\": "
        "\"tmp/b.txt\", \"Code\": \"AccessDenied\", \"Message\": \"Access Denied\" "
        "} ] }";
    assert_int_equal(D->parse_delete_result(del, strlen(del), &r), 0);
    assert_int_equal(r.n_deleted, 1);
    assert_int_equal(r.n_errors, 1);
    assert_string_equal(r.errors[0].key, "tmp/b.txt");
    assert_string_equal(r.errors[0].code, "AccessDenied");
    pfs_delete_result_cleanup(&r);
    assert_int_equal(D->parse_delete_result("{\"Error\":[{\"Code\":\"X\"}]}", 24, &r), -EPROTO);
    assert_int_equal(D->parse_delete_result("{}", 2, &r), 0);
    pfs_delete_result_cleanup(&r);
}

static void test_builders(void **state)
{
    (void)state;
    struct pfs_buf b;
    pfs_buf_init(&b);
    struct pfs_part parts[] = {{.number = 1, .etag = "\"a54357aff0632cce46d942af68356b38\""},
                               {.number = 2, .etag = "\"0c78\""}};
    assert_int_equal(D->build_complete(&b, parts, 2), 0);
    assert_string_equal(b.data, "{\"Parts\":[{\"PartNumber\":1,\"ETag\":"
                                "\"\\\"a54357aff0632cce46d942af68356b38\\\"\"},{\"PartNumber\":2,"
                                "\"ETag\":\"\\\"0c78\\\"\"}]}");
    pfs_buf_reset(&b);
    const char *keys[] = {"tmp/a.txt", "quote\"and\\back"};
    assert_int_equal(D->build_delete(&b, keys, 2), 0);
    assert_string_equal(b.data, "{\"Objects\":[{\"Key\":\"tmp/a.txt\"},{\"Key\":\"quote\\\"and\\\\"
                                "back\"}],\"Quiet\":true}");
    pfs_buf_reset(&b);
    const char *bad_utf8[] = {"\xff"};
    assert_int_equal(D->build_delete(&b, bad_utf8, 1), -EINVAL);
    pfs_buf_cleanup(&b);
}

static void test_uploads(void **state)
{
    (void)state;
    const char body[] = "{\"Bucket\":\"b\",\"IsTruncated\":false,\"Uploads\":["
                        "{\"Key\":\"big\",\"UploadId\":\"U1\",\"Initiated\":"
                        "\"2026-12-03T10:00:00.000Z\"},{\"Key\":\"b2\",\"UploadId\":\"U2\"}]}";
    struct pfs_upload_list l;
    assert_int_equal(D->parse_uploads(body, strlen(body), &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0].key, "big");
    assert_string_equal(l.v[1].upload_id, "U2");
    assert_int_equal(l.v[0].initiated, 1796292000);
    pfs_upload_list_cleanup(&l);
    assert_int_equal(D->parse_uploads("{}", 2, &l), 0);
    assert_int_equal(l.n, 0);
    pfs_upload_list_cleanup(&l);
    const char bad[] = "{\"Uploads\":[{\"Key\":\"k\"}]}";
    assert_int_equal(D->parse_uploads(bad, strlen(bad), &l), -EPROTO);
    assert_null(l.v);
    assert_int_equal(D->parse_uploads("{\"Uploads\":7}", 13, &l), -EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list),           cmocka_unit_test(test_list_form_encoding),
        cmocka_unit_test(test_list_malformed), cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_error),          cmocka_unit_test(test_results),
        cmocka_unit_test(test_builders),       cmocka_unit_test(test_uploads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
