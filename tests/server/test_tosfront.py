#!/usr/bin/python3
"""Checks the TOS front (tosfront.js) itself; run by test_tosfront.sh under
with-server.sh --tos.

1. Known answers: every tos row of tests/data/presign-vectors.tsv (and every
   row of the JS SDK's quirk vectors) is sent as the SDK wrote it, at the
   row's time: the front must accept it (no authentication error), accept it
   at its last valid second, refuse it one second later (403 AccessDenied
   "Request has expired"), and refuse it with one signature byte changed
   (403 SignatureDoesNotMatch).
2. The dialect: JSON bodies and errors, x-tos-hash-crc64ecma on PUT, part,
   complete, GET and HEAD, x-tos-meta-* kept, listings with fetch-meta and
   encoding-type=url, copy, batch delete, the out-of-order multipart mode.
3. Streaming: a PFS_FRONT_BIG_MIB (default 1024) MiB object goes up and down
   while the front stays under 200 MiB of resident memory.
"""
import base64
import datetime
import hashlib
import http.client
import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tos_sign  # noqa: E402

DATA = sys.argv[1]
ENDPOINT = os.environ["PFS_TEST_ENDPOINT"]
CONTROL = os.environ["PFS_TEST_CONTROL"]
AK, SK, REGION = os.environ["TOS_ACCESS_KEY"], os.environ["TOS_SECRET_KEY"], os.environ["PFS_TEST_REGION"]
BUCKET = "tfront"
PASS = FAIL = 0
AUTH_CODES = {"SignatureDoesNotMatch", "AccessDenied", "InvalidAccessKeyId", "InvalidToken",
              "AuthorizationQueryParametersError", "RequestTimeTooSkewed"}
EC_SIGNATURE = "0002-00000001"
EC_ACCESS = "0003-00000001"


def ok(what, cond, detail=""):
    global PASS, FAIL
    if cond:
        PASS += 1
    else:
        FAIL += 1
        print(f"FAIL: {what}" + (f": {detail}" if detail else ""))
    return cond


def hostport(u):
    p = urllib.parse.urlsplit(u)
    return p.hostname, p.port


def send(method, target, host=None, body=None, headers=None):
    """One request to the front; target is path?query as the URL has it."""
    h, p = hostport(ENDPOINT)
    conn = http.client.HTTPConnection(h, p, timeout=120)
    hdrs = dict(headers or {})
    conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", host or f"{h}:{p}")
    for n, v in hdrs.items():
        conn.putheader(n, v)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    if body is not None:
        conn.send(body)
    r = conn.getresponse()
    data = r.read()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    conn.close()
    return out


def control(method, path):
    h, p = hostport(CONTROL)
    conn = http.client.HTTPConnection(h, p, timeout=30)
    conn.request(method, path)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return json.loads(data or b"{}")


def error_code(status, headers, body):
    if body:
        try:
            return json.loads(body).get("Code", "")
        except ValueError:
            return "<not json>"
    return ""


def rows(path, dialects):
    for line in open(path, encoding="ascii"):
        if line.startswith("#") or line.startswith("dialect\t") or not line.strip():
            continue
        f = line.rstrip("\n").split("\t")
        if f[0] in dialects:
            yield dict(zip(["dialect", "method", "endpoint", "region", "addressing", "bucket", "key",
                            "query", "expires", "date", "ak", "sk", "token", "url"], f))


def amz(ts):
    return ts.strftime("%Y%m%dT%H%M%SZ")


def check_vectors():
    control("POST", "/region?name=")  # rows of every region (and the JS SDK's endpoint-scopes)
    control("POST", "/bucket?name=examplebucket")
    n = 0
    for row in list(rows(os.path.join(DATA, "presign-vectors.tsv"), {"tos"})) + \
            list(rows(os.path.join(DATA, "tos-jssdk-quirk-vectors.tsv"), {"tos-jssdk"})):
        n += 1
        tok = "" if row["token"] == "-" else "&token=" + urllib.parse.quote(row["token"], safe="")
        control("POST", "/cred?ak=%s&sk=%s%s" % (urllib.parse.quote(row["ak"], safe=""),
                                                 urllib.parse.quote(row["sk"], safe=""), tok))
        u = urllib.parse.urlsplit(row["url"])
        target = (u.path or "/") + "?" + u.query
        host = u.netloc
        body = b"x" if row["method"] in ("PUT", "POST") else None
        signed = datetime.datetime.strptime(row["date"], "%Y%m%dT%H%M%SZ")
        last = signed + datetime.timedelta(seconds=int(row["expires"]))
        name = f"{row['dialect']} {row['method']} {row['url'][:90]}"
        for at, label in ((signed, "at its time"), (last, "at its last valid second")):
            control("POST", "/clock?at=" + amz(at))
            st, hd, bd = send(row["method"], target, host, body)
            code = error_code(st, hd, bd)
            ok(f"{name} is accepted {label}", st != 403 and code not in AUTH_CODES,
               f"{st} {code} {bd[:200]!r}")
        control("POST", "/clock?at=" + amz(last + datetime.timedelta(seconds=1)))
        st, hd, bd = send(row["method"], target, host, body)
        if row["method"] == "HEAD":
            ok(f"{name} is refused once expired", st == 403 and hd.get("x-tos-ec") == EC_ACCESS and not bd,
               f"{st} {hd.get('x-tos-ec')}")
        else:
            doc = json.loads(bd or b"{}")
            ok(f"{name} is refused once expired",
               st == 403 and doc.get("Code") == "AccessDenied" and doc.get("Message") == "Request has expired"
               and doc.get("EC") == EC_ACCESS and doc.get("RequestId") == hd.get("x-tos-request-id"),
               f"{st} {bd[:200]!r}")
        control("POST", "/clock?at=" + row["date"])
        i = target.index("X-Tos-Signature=") + len("X-Tos-Signature=")
        for pos in (i, i + 63):
            bad = target[:pos] + ("0" if target[pos] != "0" else "1") + target[pos + 1:]
            st, hd, bd = send(row["method"], bad, host, body)
            if row["method"] == "HEAD":
                good = st == 403 and hd.get("x-tos-ec") == EC_SIGNATURE and not bd
            else:
                doc = json.loads(bd or b"{}")
                good = (st == 403 and doc.get("Code") == "SignatureDoesNotMatch" and doc.get("Message")
                        and doc.get("RequestId") and doc.get("EC") == EC_SIGNATURE)
            ok(f"{name} is refused with signature byte {pos - i} changed", good, f"{st} {bd[:200]!r}")
    ok("all 28 tos rows and the JS SDK rows were checked", n >= 28 + 20, str(n))
    # What else the signature covers: the path, a query value, the method, the host.
    row = next(rows(os.path.join(DATA, "presign-vectors.tsv"), {"tos"}))
    u = urllib.parse.urlsplit(row["url"])
    control("POST", "/clock?at=" + row["date"])
    for what, method, target, host in (
            ("the path", "GET", u.path + "x?" + u.query, u.netloc),
            ("X-Tos-Expires", "GET", u.path + "?" + u.query.replace("X-Tos-Expires=900", "X-Tos-Expires=901"), u.netloc),
            ("the method", "DELETE", u.path + "?" + u.query, u.netloc),
            ("the host", "GET", u.path + "?" + u.query, "other." + u.netloc)):
        st, hd, bd = send(method, target, host)
        ok(f"changing {what} breaks the signature", st == 403 and error_code(st, hd, bd) in ("SignatureDoesNotMatch", ""),
           f"{st} {bd[:120]!r}")
    st, hd, bd = send("GET", u.path + "?" + u.query.replace("X-Tos-Expires=900", "X-Tos-Expires=604801"), u.netloc)
    ok("Expires past 604800 is 400 AuthorizationQueryParametersError",
       st == 400 and error_code(st, hd, bd) == "AuthorizationQueryParametersError", f"{st} {bd[:120]!r}")
    control("POST", "/clock")
    control("POST", "/region?name=" + REGION)


def signed(method, key, query=(), headers=(), bucket=BUCKET, region=REGION, sk=SK, expires=900, now=None):
    url = tos_sign.presign(method, ENDPOINT, region, bucket, key, AK, sk, query=query, headers=headers,
                           expires=expires, now=now)
    u = urllib.parse.urlsplit(url)
    return u.path + "?" + u.query


def crc64(data):
    crc = 0xFFFFFFFFFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0xC96C5795D7870F42 if crc & 1 else 0)
    return str(crc ^ 0xFFFFFFFFFFFFFFFF)


def check_dialect():
    # Region and secret: the front's own configuration is enforced.
    st, hd, bd = send("GET", signed("GET", "nothing", region="us-east-1"))
    ok("a scope for another region is refused", st == 403 and error_code(st, hd, bd) == "SignatureDoesNotMatch", f"{st} {bd!r}")
    st, hd, bd = send("GET", signed("GET", "nothing", sk="wrong"))
    ok("a wrong secret is refused", st == 403 and error_code(st, hd, bd) == "SignatureDoesNotMatch", f"{st}")
    st, hd, bd = send("GET", "/" + BUCKET + "/nothing")
    ok("an anonymous request is refused", st == 403 and error_code(st, hd, bd) == "AccessDenied", f"{st}")
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=120)
    st, hd, bd = send("GET", signed("GET", "nothing", expires=60, now=old))
    ok("an expired URL is refused", st == 403 and json.loads(bd).get("Message") == "Request has expired", f"{st} {bd!r}")

    # Unsigned x-tos-* headers are refused (the SDKs sign them all).
    st, hd, bd = send("PUT", signed("PUT", "m"), body=b"1", headers={"x-tos-meta-mode": "0100644"})
    ok("an unsigned x-tos-meta header is refused", st == 403 and error_code(st, hd, bd) == "SignatureDoesNotMatch", f"{st}")

    # PUT, GET, HEAD: CRC-64 and metadata.
    body = b"hello, tos\n" * 1000
    meta = (("x-tos-meta-mode", "0100644"), ("x-tos-meta-note", "a%20b"))
    st, hd, bd = send("PUT", signed("PUT", "dir/a b+c.txt", headers=meta), body=body, headers=dict(meta))
    ok("PUT answers 200 with the stored CRC-64", st == 200 and hd.get("x-tos-hash-crc64ecma") == crc64(body),
       f"{st} {hd.get('x-tos-hash-crc64ecma')} {crc64(body)}")
    ok("PUT answers the MD5 ETag", hd.get("etag") == '"%s"' % hashlib.md5(body).hexdigest(), hd.get("etag"))
    st, hd, bd = send("GET", signed("GET", "dir/a b+c.txt"))
    ok("GET returns the bytes, CRC-64 and metadata",
       st == 200 and bd == body and hd.get("x-tos-hash-crc64ecma") == crc64(body)
       and hd.get("x-tos-meta-mode") == "0100644" and hd.get("x-tos-meta-note") == "a%20b", f"{st} {hd}")
    st, hd, bd = send("GET", signed("GET", "dir/a b+c.txt"), headers={"Range": "bytes=5-9"})
    ok("a ranged GET is 206 with the whole object's CRC",
       st == 206 and bd == body[5:10] and hd.get("content-range") == f"bytes 5-9/{len(body)}"
       and hd.get("x-tos-hash-crc64ecma") == crc64(body), f"{st} {hd.get('content-range')}")
    st, hd, bd = send("GET", signed("GET", "dir/a b+c.txt"), headers={"Range": f"bytes={len(body)}-"})
    ok("a range past the end is 416 InvalidRange", st == 416 and error_code(st, hd, bd) == "InvalidRange", f"{st}")
    st, hd, bd = send("HEAD", signed("HEAD", "dir/a b+c.txt"))
    ok("HEAD has size, CRC-64, metadata and no body",
       st == 200 and hd.get("content-length") == str(len(body)) and not bd
       and hd.get("x-tos-hash-crc64ecma") == crc64(body) and hd.get("x-tos-meta-mode") == "0100644", f"{st}")
    st, hd, bd = send("HEAD", signed("HEAD", "missing"))
    ok("HEAD of a missing key is 404 without a body, with x-tos-ec",
       st == 404 and not bd and hd.get("x-tos-ec") and hd.get("x-tos-request-id"), f"{st} {hd}")
    st, hd, bd = send("GET", signed("GET", "missing"))
    doc = json.loads(bd)
    ok("GET of a missing key is a TOS JSON NoSuchKey",
       st == 404 and doc.get("Code") == "NoSuchKey" and doc.get("Message") and doc.get("RequestId") == hd.get("x-tos-request-id")
       and doc.get("EC") == hd.get("x-tos-ec") and hd.get("content-type") == "application/json", f"{st} {bd!r}")
    md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    st, hd, bd = send("PUT", signed("PUT", "bad-md5"), body=b"data", headers={"Content-MD5": md5})
    ok("a wrong Content-MD5 is 400 BadDigest", st == 400 and error_code(st, hd, bd) == "BadDigest", f"{st}")

    # Listing: JSON, fetch-meta, encoding-type=url (space as '+', '+' as %2B), delimiter, pages.
    for k in ("dir/x/1", "dir/x/2", "dir/y", "dir/z%", "dir/\u00e9\u4e2d"):
        send("PUT", signed("PUT", k), body=b"v")
    q = [("list-type", "2"), ("prefix", "dir/"), ("delimiter", "/"), ("encoding-type", "url"), ("fetch-meta", "true")]
    st, hd, bd = send("GET", signed("GET", None, query=q))
    doc = json.loads(bd)
    keys = [c["Key"] for c in doc.get("Contents", [])]
    ok("a listing is TOS JSON with encoded names", st == 200 and doc.get("EncodingType") == "url"
       and keys == ["dir/a+b%2Bc.txt", "dir/y", "dir/z%25", "dir/%C3%A9%E4%B8%AD"]
       and [p["Prefix"] for p in doc.get("CommonPrefixes", [])] == ["dir/x/"], f"{st} {keys} {doc.get('CommonPrefixes')}")
    first = doc["Contents"][0]
    ok("fetch-meta lists user metadata, with HashCrc64Ecma as a string",
       {"Key": "mode", "Value": "0100644"} in first.get("UserMeta", []) and first.get("HashCrc64Ecma") == crc64(body)
       and isinstance(first.get("Size"), int) and first.get("LastModified", "").endswith("Z"), f"{first}")
    st, hd, bd = send("GET", signed("GET", None, query=[("list-type", "2"), ("prefix", "dir/")]))
    ok("without encoding-type names are raw", json.loads(bd)["Contents"][0]["Key"] == "dir/a b+c.txt", bd[:200])
    seen, token, pages = [], None, 0
    while True:
        q = [("list-type", "2"), ("prefix", "dir/"), ("delimiter", "/"), ("max-keys", "2")]
        if token:
            q.append(("continuation-token", token))
        doc = json.loads(send("GET", signed("GET", None, query=q))[2])
        pages += 1
        seen += [c["Key"] for c in doc.get("Contents", [])] + [p["Prefix"] for p in doc.get("CommonPrefixes", [])]
        if not doc.get("IsTruncated"):
            break
        token = doc["NextContinuationToken"]
    ok("max-keys pages with continuation tokens cover every name once",
       sorted(seen) == sorted(["dir/a b+c.txt", "dir/x/", "dir/y", "dir/z%", "dir/\u00e9\u4e2d"]) and pages == 3,
       f"{pages} {seen}")

    # Copy (REPLACE and COPY) and its JSON result.
    src = "/" + BUCKET + "/" + tos_sign.enc("dir/a b+c.txt")
    hdrs = (("x-tos-copy-source", src), ("x-tos-metadata-directive", "REPLACE"), ("x-tos-meta-mode", "0100600"))
    st, hd, bd = send("PUT", signed("PUT", "copy", headers=hdrs), headers=dict(hdrs))
    ok("copy answers JSON with an ETag", st == 200 and json.loads(bd).get("ETag") == '"%s"' % hashlib.md5(body).hexdigest(), f"{st} {bd!r}")
    st, hd, bd = send("HEAD", signed("HEAD", "copy"))
    ok("REPLACE gives the copy new metadata", hd.get("x-tos-meta-mode") == "0100600" and "x-tos-meta-note" not in hd, f"{hd}")
    hdrs = (("x-tos-copy-source", "/" + BUCKET + "/dir/a+b%2Bc.txt"),)  # the Go SDK's form: '+' a space
    st, hd, bd = send("PUT", signed("PUT", "copy2", headers=hdrs), headers=dict(hdrs))
    st, hd, bd = send("HEAD", signed("HEAD", "copy2"))
    ok("COPY keeps the metadata (Go-style copy source)", st == 200 and hd.get("x-tos-meta-note") == "a%20b", f"{st} {hd}")

    # Batch delete: JSON, Content-MD5 required.
    req = json.dumps({"Objects": [{"Key": "copy"}, {"Key": "copy2"}], "Quiet": False}).encode()
    md5 = base64.b64encode(hashlib.md5(req).digest()).decode()
    st, hd, bd = send("POST", signed("POST", None, query=[("delete", "")]), body=req)
    ok("a batch delete without Content-MD5 is refused", st == 400 and error_code(st, hd, bd) == "MissingContentMD5", f"{st}")
    st, hd, bd = send("POST", signed("POST", None, query=[("delete", "")], headers=(("content-md5", md5),)),
                      body=req, headers={"Content-MD5": md5})
    ok("a batch delete answers JSON Deleted", st == 200 and json.loads(bd).get("Deleted") == [{"Key": "copy"}, {"Key": "copy2"}], f"{st} {bd!r}")
    st, hd, bd = send("HEAD", signed("HEAD", "copy"))
    ok("... and the keys are gone", st == 404, f"{st}")

    # Multipart: JSON bodies, CRC of each part and of the whole object.
    for misorder in (False, True):
        control("POST", "/misorder?on=%d" % misorder)
        key = "mp-%d" % misorder
        st, hd, bd = send("POST", signed("POST", key, query=[("uploads", "")]), body=b"")
        uid = json.loads(bd).get("UploadId")
        ok("create answers JSON with an UploadId", st == 200 and uid and json.loads(bd).get("Key") == key, f"{st} {bd!r}")
        parts = [os.urandom(5 << 20), os.urandom(5 << 20), b"tail"]
        done = []
        for n, p in enumerate(parts, 1):
            st, hd, bd = send("PUT", signed("PUT", key, query=[("partNumber", str(n)), ("uploadId", uid)]), body=p)
            ok(f"part {n} answers its CRC-64", st == 200 and hd.get("x-tos-hash-crc64ecma") == crc64(p) if n == 3 else st == 200,
               f"{st}")
            done.append({"PartNumber": n, "ETag": hd.get("etag")})
        st, hd, bd = send("GET", signed("GET", key, query=[("uploadId", uid)]))
        ok("list parts answers JSON", [p["PartNumber"] for p in json.loads(bd).get("Parts", [])] == [1, 2, 3], f"{bd[:200]!r}")
        st, hd, bd = send("POST", signed("POST", key, query=[("uploadId", uid)]), body=json.dumps({"Parts": done}).encode())
        doc = json.loads(bd)
        whole = parts[1] + parts[0] + parts[2] if misorder else b"".join(parts)
        whole_crc = crc64_fast(whole)
        ok("complete answers JSON and the stored object's CRC-64" + (" (misordered)" if misorder else ""),
           st == 200 and doc.get("ETag", "").endswith('-3"') and hd.get("x-tos-hash-crc64ecma") == whole_crc,
           f"{st} {bd!r}")
        st, hd, bd = send("GET", signed("GET", key))
        ok("the stored bytes are " + ("misordered" if misorder else "in order"), bd == whole and
           hd.get("x-tos-hash-crc64ecma") == whole_crc, f"{len(bd)}")
        uploads = [u for u in control("GET", "/uploads")["uploads"] if u["bucket"] == BUCKET]
        ok("no upload is left open", uploads == [], f"{uploads}")
    control("POST", "/misorder?on=0")
    st, hd, bd = send("POST", signed("POST", "small", query=[("uploads", "")]), body=b"")
    uid = json.loads(bd)["UploadId"]
    st, hd, bd = send("PUT", signed("PUT", "small", query=[("partNumber", "1"), ("uploadId", uid)]), body=b"a")
    e1 = hd.get("etag")
    st, hd, bd = send("PUT", signed("PUT", "small", query=[("partNumber", "2"), ("uploadId", uid)]), body=b"b")
    st, hd, bd = send("POST", signed("POST", "small", query=[("uploadId", uid)]),
                      body=json.dumps({"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": hd.get("etag")}]}).encode())
    ok("a part under 5 MiB that is not the last is EntityTooSmall", st == 400 and error_code(st, hd, bd) == "EntityTooSmall", f"{st}")
    st, hd, bd = send("DELETE", signed("DELETE", "small", query=[("uploadId", uid)]))
    ok("abort is 204", st == 204, f"{st}")
    st, hd, bd = send("DELETE", signed("DELETE", "small", query=[("uploadId", uid)]))
    ok("abort of an unknown upload is 404 NoSuchUpload", st == 404 and error_code(st, hd, bd) == "NoSuchUpload", f"{st}")


CRC_TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ (0xC96C5795D7870F42 if c & 1 else 0)
    CRC_TABLE.append(c)


def crc64_fast(data):
    crc = 0xFFFFFFFFFFFFFFFF
    t = CRC_TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return str(crc ^ 0xFFFFFFFFFFFFFFFF)


def front_rss_kib():
    pid = control("GET", "/config").get("pid")
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def check_streaming():
    mib = int(os.environ.get("PFS_FRONT_BIG_MIB", "1024"))
    h, p = hostport(ENDPOINT)
    chunk = bytes(range(256)) * 4096  # 1 MiB
    conn = http.client.HTTPConnection(h, p, timeout=600)
    conn.putrequest("PUT", signed("PUT", "big"), skip_accept_encoding=True)
    conn.putheader("Content-Length", str(mib << 20))
    conn.endheaders()
    for _ in range(mib):
        conn.send(chunk)
    r = conn.getresponse()
    r.read()
    ok(f"a {mib} MiB PUT is stored", r.status == 200, f"{r.status}")
    conn.close()
    conn = http.client.HTTPConnection(h, p, timeout=600)
    conn.request("GET", signed("GET", "big"))
    r = conn.getresponse()
    got, md5 = 0, hashlib.md5()
    while True:
        b = r.read(1 << 20)
        if not b:
            break
        got += len(b)
        md5.update(b)
    conn.close()
    want = hashlib.md5()
    for _ in range(mib):
        want.update(chunk)
    ok(f"... and read back whole", got == mib << 20 and md5.digest() == want.digest(), f"{got}")
    rss = front_rss_kib()
    ok(f"the front streamed it (peak RSS {rss // 1024} MiB, under 200)", 0 < rss < 200 * 1024, f"{rss} KiB")


def main():
    control("POST", f"/bucket?name={BUCKET}")
    check_vectors()
    check_dialect()
    check_streaming()
    print(f"{PASS} passed, {FAIL} failed")
    return 0 if FAIL == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
