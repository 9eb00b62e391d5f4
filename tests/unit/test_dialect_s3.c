/* S3 XML bodies: the documented shapes, then truncated and hostile bodies,
 * each of which must end in a clean error. */
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

static const struct pfs_dialect_ops *D = &pfs_dialect_s3;

static const char LIST[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>examplebucket</Name><Prefix>photos/</Prefix><KeyCount>3</KeyCount>"
    "<MaxKeys>2</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>"
    "<EncodingType>url</EncodingType>"
    "<Contents><Key>photos/a%20b.jpg</Key><LastModified>2024-01-15T08:30:00.000Z</LastModified>"
    "<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>10240</Size>"
    "<StorageClass>STANDARD</StorageClass><Owner><ID>1</ID><DisplayName>x</DisplayName></Owner>"
    "</Contents>"
    "<Contents><Key>photos/%E4%B8%AD.jpg</Key><LastModified>2024-01-15T08:31:00.000Z</LastModified>"
    "<ETag>\"0f343b0931126a20f133d67c2b018a3b-2\"</ETag><Size>10485760</Size></Contents>"
    "<CommonPrefixes><Prefix>photos/2024%2F/</Prefix></CommonPrefixes>"
    "<NextContinuationToken>cGhvdG9zLzIwMjQvYi5qcGc=</NextContinuationToken>"
    "</ListBucketResult>";

/* AWS encodes listing names as a form does with encoding-type=url (a space
 * as '+', '+' as %2B, says <EncodingType>url</EncodingType>); without it, a
 * '+' is a '+' (issue 11). */
static void test_list_form_encoding(void **state)
{
    (void)state;
    struct pfs_list_page p;
    const char enc[] = "<ListBucketResult><EncodingType>url</EncodingType>"
                       "<Contents><Key>a+b.txt</Key><Size>1</Size></Contents>"
                       "<Contents><Key>a%2Bb.txt</Key><Size>2</Size></Contents>"
                       "<Contents><Key>%25+%F0%9F%98%80%7F</Key><Size>3</Size></Contents>"
                       "<CommonPrefixes><Prefix>sp+ace/</Prefix></CommonPrefixes>"
                       "</ListBucketResult>";
    assert_int_equal(D->parse_list(enc, strlen(enc), &p), 0);
    assert_int_equal(p.n_entries, 3);
    assert_string_equal(p.entries[0].key, "a b.txt");
    assert_string_equal(p.entries[1].key, "a+b.txt");
    assert_string_equal(p.entries[2].key, "% \xf0\x9f\x98\x80\x7f");
    assert_string_equal(p.prefixes[0], "sp ace/");
    pfs_list_page_cleanup(&p);
    const char raw[] = "<ListBucketResult><Contents><Key>a+b.txt</Key><Size>1</Size></Contents>"
                       "</ListBucketResult>";
    assert_int_equal(D->parse_list(raw, strlen(raw), &p), 0);
    assert_string_equal(p.entries[0].key, "a+b.txt");
    pfs_list_page_cleanup(&p);
}

static void test_list(void **state)
{
    (void)state;
    struct pfs_list_page p;
    assert_int_equal(D->parse_list(LIST, strlen(LIST), &p), 0);
    assert_int_equal(p.n_entries, 2);
    assert_string_equal(p.entries[0].key, "photos/a b.jpg");
    assert_int_equal(p.entries[0].size, 10240);
    assert_int_equal(p.entries[0].mtime, 1705307400);
    assert_string_equal(p.entries[0].etag, "\"9b2cf535f27731c974343645a3985328\"");
    assert_string_equal(p.entries[1].key, "photos/\xe4\xb8\xad.jpg");
    assert_int_equal(p.entries[1].size, 10485760);
    assert_int_equal(p.n_prefixes, 1);
    assert_string_equal(p.prefixes[0], "photos/2024//");
    assert_true(p.truncated);
    assert_string_equal(p.next_token, "cGhvdG9zLzIwMjQvYi5qcGc=");
    pfs_list_page_cleanup(&p);

    /* Without EncodingType the keys are taken literally ('%' included). */
    const char raw[] = "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>100%done"
                       "</Key><Size>0</Size></Contents></ListBucketResult>";
    assert_int_equal(D->parse_list(raw, strlen(raw), &p), 0);
    assert_string_equal(p.entries[0].key, "100%done");
    assert_false(p.truncated);
    assert_null(p.next_token);
    pfs_list_page_cleanup(&p);
    const char empty[] = "<ListBucketResult><KeyCount>0</KeyCount></ListBucketResult>";
    assert_int_equal(D->parse_list(empty, strlen(empty), &p), 0);
    assert_int_equal(p.n_entries + p.n_prefixes, 0);
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
    assert_null(p.entries); /* cleaned up */
}

static void test_list_malformed(void **state)
{
    (void)state;
    /* Every strict prefix of a valid body is refused. */
    for (size_t n = 0; n < strlen(LIST); n++)
        expect_bad_list(LIST, n);
    const char *bad[] = {
        "<Error><Code>x</Code></Error>",
        "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>99999999999999999999999</Size></Contents>"
        "</ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>1</Size><LastModified>yesterday"
        "</LastModified></Contents></ListBucketResult>",
        "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
        "<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
        "<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>bad%zz</Key><Size>1"
        "</Size></Contents></ListBucketResult>",
        "<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>nul%00byte</Key>"
        "<Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>\xff\xfe</Key><Size>1</Size></Contents>"
        "</ListBucketResult>",
        "<ListBucketResult></ListBucketResult><ListBucketResult/>",
        "<ListBucketResult><Contents><Key>k</Key><Size>1</Size></Contents>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_bad_list(bad[i], strlen(bad[i]));
}

static void test_hostile(void **state)
{
    (void)state;
    /* Entity expansion ("billion laughs") never starts: DOCTYPEs are refused. */
    const char laughs[] =
        "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\">"
        "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;\">]>"
        "<ListBucketResult><Contents><Key>&c;</Key><Size>1</Size></Contents></ListBucketResult>";
    expect_bad_list(laughs, strlen(laughs));
    const char external[] = "<!DOCTYPE x SYSTEM \"file:///etc/passwd\"><ListBucketResult/>";
    expect_bad_list(external, strlen(external));

    char *deep = nested("<a>", "</a>", 100000);
    expect_bad_list(deep, strlen(deep));
    free(deep);

    char *noise = junk(10 << 20);
    expect_bad_list(noise, 10 << 20);
    struct pfs_status st;
    pfs_status_clear(&st);
    assert_int_equal(D->parse_error(noise, 10 << 20, &st), -EPROTO);
    free(noise);

    /* A text node larger than any real field. */
    struct pfs_buf b;
    pfs_buf_init(&b);
    pfs_buf_puts(&b, "<ListBucketResult><Contents><Key>");
    for (int i = 0; i < 100000; i++)
        pfs_buf_puts(&b, "k");
    pfs_buf_puts(&b, "</Key><Size>1</Size></Contents></ListBucketResult>");
    expect_bad_list(b.data, b.len);

    /* More entries than any page may hold. */
    pfs_buf_reset(&b);
    pfs_buf_puts(&b, "<ListBucketResult>");
    for (int i = 0; i < PFS_LIST_MAX_ITEMS + 5; i++)
        pfs_buf_printf(&b, "<Contents><Key>k%d</Key><Size>1</Size></Contents>", i);
    pfs_buf_puts(&b, "</ListBucketResult>");
    expect_bad_list(b.data, b.len);
    pfs_buf_cleanup(&b);
}

static void test_error(void **state)
{
    (void)state;
    const char body[] =
        "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The "
        "specified key does not exist.</Message><Key>a</Key><RequestId>4442587FB7D0A2F9"
        "</RequestId><HostId>h</HostId></Error>";
    struct pfs_status st;
    pfs_status_clear(&st);
    assert_int_equal(D->parse_error(body, strlen(body), &st), 0);
    assert_string_equal(st.service_code, "NoSuchKey");
    assert_string_equal(st.message, "The specified key does not exist.");
    assert_string_equal(st.request_id, "4442587FB7D0A2F9");
    assert_int_equal(D->parse_error("<Other/>", 8, &st), -EPROTO);
    assert_int_equal(D->parse_error("", 0, &st), -EPROTO);
    /* An empty element whose name is longer than any path: its start is
     * refused, and its end must not pop what was never pushed (found by
     * fuzz.error_body in CI; UBSan: index -1). */
    char empty[400] = "<";
    memset(empty + 1, 'E', 300);
    strcpy(empty + 301, "/>");
    assert_int_equal(D->parse_error(empty, strlen(empty), &st), -EPROTO);
    char nested_long[400] = "<Error><";
    memset(nested_long + 8, 'E', 300);
    strcpy(nested_long + 308, "/></Error>");
    assert_int_equal(D->parse_error(nested_long, strlen(nested_long), &st), -EPROTO);
}

static void test_results(void **state)
{
    (void)state;
    char *id;
    const char init[] = "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>"
                        "VXBsb2FkSUQ</UploadId></InitiateMultipartUploadResult>";
    assert_int_equal(D->parse_upload_id(init, strlen(init), &id), 0);
    assert_string_equal(id, "VXBsb2FkSUQ");
    free(id);
    const char no_id[] = "<InitiateMultipartUploadResult><Bucket>b</Bucket>"
                         "</InitiateMultipartUploadResult>";
    assert_int_equal(D->parse_upload_id(no_id, strlen(no_id), &id), -EPROTO);
    assert_null(id);

    char etag[80];
    struct pfs_status st;
    pfs_status_clear(&st);
    const char copy[] = "<CopyObjectResult><LastModified>2024-01-15T08:30:00.000Z</LastModified>"
                        "<ETag>\"abc\"</ETag></CopyObjectResult>";
    assert_int_equal(D->parse_etag_result(copy, strlen(copy), etag, &st), 0);
    assert_string_equal(etag, "\"abc\"");
    const char complete[] = "<CompleteMultipartUploadResult><Location>l</Location><ETag>&quot;x-2"
                            "&quot;</ETag></CompleteMultipartUploadResult>";
    assert_int_equal(D->parse_etag_result(complete, strlen(complete), etag, &st), 0);
    assert_string_equal(etag, "\"x-2\"");
    /* The trap: a 200 that carries an error. */
    const char err200[] = "<Error><Code>InternalError</Code><Message>We encountered an internal "
                          "error.</Message><RequestId>R</RequestId></Error>";
    assert_int_equal(D->parse_etag_result(err200, strlen(err200), etag, &st), -EIO);
    assert_string_equal(st.service_code, "InternalError");
    const char no_etag[] = "<CopyObjectResult></CopyObjectResult>";
    assert_int_equal(D->parse_etag_result(no_etag, strlen(no_etag), etag, &st), -EPROTO);

    struct pfs_delete_result r;
    const char del[] = "<DeleteResult><Deleted><Key>a</Key></Deleted><Deleted><Key>b</Key>"
                       "</Deleted><Error><Key>c</Key><Code>AccessDenied</Code><Message>Access "
                       "Denied</Message></Error></DeleteResult>";
    assert_int_equal(D->parse_delete_result(del, strlen(del), &r), 0);
    assert_int_equal(r.n_deleted, 2);
    assert_int_equal(r.n_errors, 1);
    assert_string_equal(r.errors[0].key, "c");
    assert_string_equal(r.errors[0].code, "AccessDenied");
    pfs_delete_result_cleanup(&r);
    const char del_bad[] = "<DeleteResult><Error><Code>X</Code></Error></DeleteResult>";
    assert_int_equal(D->parse_delete_result(del_bad, strlen(del_bad), &r), -EPROTO);
}

static void test_builders(void **state)
{
    (void)state;
    struct pfs_buf b;
    pfs_buf_init(&b);
    struct pfs_part parts[] = {{.number = 1, .etag = "\"a\""}, {.number = 2, .etag = "\"b&c\""}};
    assert_int_equal(D->build_complete(&b, parts, 2), 0);
    assert_string_equal(b.data, "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"
                                "&quot;a&quot;</ETag></Part><Part><PartNumber>2</PartNumber><ETag>"
                                "&quot;b&amp;c&quot;</ETag></Part></CompleteMultipartUpload>");
    pfs_buf_reset(&b);
    const char *keys[] = {"a<b>", "tab\there", "x'\"y"};
    assert_int_equal(D->build_delete(&b, keys, 3), 0);
    assert_string_equal(b.data, "<Delete><Quiet>true</Quiet><Object><Key>a&lt;b&gt;</Key></Object>"
                                "<Object><Key>tab&#9;here</Key></Object><Object><Key>x&apos;&quot;"
                                "y</Key></Object></Delete>");
    pfs_buf_reset(&b);
    const char *ctl[] = {"bell\x07"};
    assert_int_equal(D->build_delete(&b, ctl, 1), -EINVAL);
    pfs_buf_cleanup(&b);
}

static void test_uploads(void **state)
{
    (void)state;
    const char body[] =
        "<ListMultipartUploadsResult><Bucket>b</Bucket><IsTruncated>false</IsTruncated>"
        "<Upload><Key>big</Key><UploadId>U1</UploadId>"
        "<Initiated>2026-12-03T10:00:00.000Z</Initiated></Upload>"
        "<Upload><Key>big2</Key><UploadId>U2</UploadId></Upload>"
        "</ListMultipartUploadsResult>";
    struct pfs_upload_list l;
    assert_int_equal(D->parse_uploads(body, strlen(body), &l), 0);
    assert_int_equal(l.n, 2);
    assert_false(l.truncated);
    assert_string_equal(l.v[0].key, "big");
    assert_string_equal(l.v[0].upload_id, "U1");
    assert_int_equal(l.v[0].initiated, 1796292000);
    assert_int_equal(l.v[1].initiated, 0);
    pfs_upload_list_cleanup(&l);
    const char none[] =
        "<ListMultipartUploadsResult><Bucket>b</Bucket></ListMultipartUploadsResult>";
    assert_int_equal(D->parse_uploads(none, strlen(none), &l), 0);
    assert_int_equal(l.n, 0);
    pfs_upload_list_cleanup(&l);
    const char no_id[] = "<ListMultipartUploadsResult><Upload><Key>k</Key></Upload>"
                         "</ListMultipartUploadsResult>";
    assert_int_equal(D->parse_uploads(no_id, strlen(no_id), &l), -EPROTO);
    assert_null(l.v);
    const char wrong[] = "<ListBucketResult></ListBucketResult>";
    assert_int_equal(D->parse_uploads(wrong, strlen(wrong), &l), -EPROTO);
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
