#!/usr/bin/python3
"""Cross-checks presignfs's signed extra headers against botocore.

The known-answer vectors only sign 'host'. Here presignfs signs x-amz-meta-*,
x-amz-copy-source and content-type, and botocore's S3SigV4QueryAuth (the signer
behind generate_presigned_url) signs the same request at the same pinned time;
the URLs must agree (path byte-equal, query as a multiset, same signature).
Usage: botocore_headers.py PATH_TO_PRESIGNFS.  Exit 77 (skipped) without botocore.
"""
import datetime
import os
import subprocess
import sys
import tempfile
from unittest import mock
from urllib.parse import quote, urlsplit, unquote

try:
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError:
    print("botocore is not installed (apt-get install python3-boto3): skipped")
    sys.exit(77)

AK, SK = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
WHEN = datetime.datetime(2024, 1, 15, 8, 30, 0)

CASES = [
    # method, endpoint, addressing, bucket, key, headers, token, query
    ("PUT", "http://127.0.0.1:9000", "path", "bkt", "photos/a b.jpg",
     {"x-amz-meta-mode": "0100644", "x-amz-meta-mtime": "1700000000"}, None, []),
    ("PUT", "https://s3.amazonaws.com", "virtual", "examplebucket", "dst/new key+1.txt",
     {"x-amz-copy-source": "examplebucket/src/old%20key.txt",
      "x-amz-metadata-directive": "REPLACE", "x-amz-meta-uid": "1000"}, None, []),
    ("PUT", "https://s3.eu-west-1.amazonaws.com", "virtual", "examplebucket", "\u4e2d/\u6587.txt",
     {"Content-Type": "text/plain; charset=utf-8", "X-Amz-Meta-Gid": "  100  "},
     "STSv2/Token+With/Special==Chars", []),
    ("POST", "http://127.0.0.1:9000", "path", "bkt", "big/file.iso",
     {"content-type": "application/octet-stream", "x-amz-meta-mode": "0100600"}, None,
     [("uploads", None)]),
    ("GET", "https://minio.example.net:9443", "path", "bkt", "x",
     {"x-amz-meta-a": "multiple   inner   spaces"}, None, [("response-content-type", "text/csv")]),
]


def botocore_url(method, endpoint, addressing, bucket, key, headers, token, query):
    ep = urlsplit(endpoint)
    path = "/" + quote(key, safe="/~")
    if addressing == "path":
        url = f"{ep.scheme}://{ep.netloc}/{bucket}{path}"
    else:
        url = f"{ep.scheme}://{bucket}.{ep.netloc}{path}"
    params = {n: (v if v is not None else "") for n, v in query}
    req = AWSRequest(method=method, url=url, headers=dict(headers), params=params)
    region = "eu-west-1" if "eu-west-1" in endpoint else "us-east-1"
    auth = S3SigV4QueryAuth(Credentials(AK, SK, token), "s3", region, expires=900)
    with mock.patch("botocore.auth.datetime") as dt:
        dt.datetime.utcnow.return_value = WHEN
        auth.add_auth(req)
    return req.url, region


def presignfs_url(binary, method, endpoint, addressing, bucket, key, headers, token, query,
                  region):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TOS_"))}
    env.update(AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK, HOME=tempfile.gettempdir() + "/none")
    env.pop("PRESIGNFS_CONFIG", None)
    if token:
        env["AWS_SESSION_TOKEN"] = token
    argv = [binary, "presign", "-o",
            f"dialect=s3,endpoint={endpoint},region={region},addressing={addressing}",
            "-X", method, "--expires", "900", "--at", WHEN.strftime("%Y%m%dT%H%M%SZ")]
    for name, value in headers.items():
        argv += ["--header", f"{name}: {value}"]
    for name, value in query:
        argv += ["--query", name if value is None else f"{name}={value}"]
    argv += [bucket, key]
    out = subprocess.run(argv, env=env, capture_output=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"presignfs failed: {out.stderr.decode()}")
    return out.stdout.decode().strip()


def parts(url):
    u = urlsplit(url)
    pairs = []
    for item in u.query.split("&"):
        name, _, value = item.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return u.scheme, u.netloc.lower(), u.path or "/", sorted(pairs)


def main():
    binary = sys.argv[1]
    failures = 0
    for case in CASES:
        want, region = botocore_url(*case)
        got = presignfs_url(binary, *case, region)
        if parts(got) != parts(want):
            failures += 1
            print(f"MISMATCH for {case}:\n  presignfs: {got}\n  botocore:  {want}")
        else:
            signed = dict(parts(got)[3])["X-Amz-SignedHeaders"]
            print(f"ok  {case[0]} {case[4]!r} SignedHeaders={signed}")
    print(f"{len(CASES) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
