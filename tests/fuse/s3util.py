#!/usr/bin/python3
"""The S3 API directly (boto3 against the local test server), for tests that
need objects made without the mount or a look at the bucket behind it.

  s3util.py put-many PREFIX COUNT [SIZE]   objects PREFIX00000..., SIZE bytes each
  s3util.py put KEY [TEXT]                 one object (TEXT, or stdin)
  s3util.py put-meta KEY TEXT NAME=VALUE... one object with user metadata
  s3util.py get KEY                        the object to stdout
  s3util.py exists KEY                     exit 0 if the key exists, 1 if not
  s3util.py keys [PREFIX]                  every key, one per line
  s3util.py head KEY                       the object's headers, one "name: value" a line
  s3util.py put-ct KEY TEXT TYPE           one object with Content-Type TYPE
  s3util.py ctype KEY                      the object's Content-Type

With PFS_TEST_DIALECT=tos (with-server.sh --tos) it speaks TOS to the TOS front
instead, through presigned URLs of tests/server/tos_sign.py.
"""
import concurrent.futures
import json
import os
import sys
import urllib.error
import urllib.request

import boto3
from botocore.config import Config


def client():
    return boto3.client(
        "s3", endpoint_url=os.environ["PFS_TEST_ENDPOINT"], region_name="us-east-1",
        aws_access_key_id="S3RVER", aws_secret_access_key="S3RVER",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3},
                      max_pool_connections=16))


class Tos:
    """The few calls the tests need, in the TOS dialect."""

    def __init__(self, bucket):
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
        import tos_sign
        self.sign = tos_sign.presign
        self.bucket = bucket

    def request(self, method, key, data=None, query=(), headers=()):
        url = self.sign(method, os.environ["PFS_TEST_ENDPOINT"], os.environ["PFS_TEST_REGION"],
                        self.bucket, key, os.environ["TOS_ACCESS_KEY"],
                        os.environ["TOS_SECRET_KEY"], query=query, headers=headers)
        req = urllib.request.Request(url, data=data, method=method, headers=dict(headers))
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()

    def put(self, key, data, meta=None, ctype=None):
        self.request("PUT", key, data,
                     headers=tuple(("x-tos-meta-" + n, v) for n, v in (meta or {}).items())
                     + ((("content-type", ctype),) if ctype else ()))

    def get(self, key):
        return self.request("GET", key)[2]

    def head(self, key):
        return self.request("HEAD", key)[1]

    def exists(self, key):
        try:
            self.request("HEAD", key)
            return True
        except urllib.error.HTTPError:
            return False

    def keys(self, prefix):
        token = None
        while True:
            q = [("list-type", "2"), ("prefix", prefix)]
            if token:
                q.append(("continuation-token", token))
            page = json.loads(self.request("GET", None, query=q)[2])
            for o in page.get("Contents", []):
                yield o["Key"]
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]


# For tests' inline snippets, in either dialect.
def _tos():
    return os.environ.get("PFS_TEST_DIALECT") == "tos"


def exists(bucket, key):
    if _tos():
        return Tos(bucket).exists(key)
    c = client()
    try:
        c.head_object(Bucket=bucket, Key=key)
        return True
    except c.exceptions.ClientError:
        return False


def get_or_none(bucket, key):
    """The object's bytes, or None when it does not exist."""
    if _tos():
        try:
            return Tos(bucket).get(key)
        except urllib.error.HTTPError:
            return None
    c = client()
    try:
        return c.get_object(Bucket=bucket, Key=key)["Body"].read()
    except c.exceptions.ClientError:
        return None


def user_meta(bucket, key):
    """The object's user metadata (names lower-case, without the prefix)."""
    if _tos():
        return {n[len("x-tos-meta-"):]: v for n, v in
                ((n.lower(), v) for n, v in Tos(bucket).head(key).items())
                if n.startswith("x-tos-meta-")}
    return client().head_object(Bucket=bucket, Key=key)["Metadata"]


def main_tos(bucket, cmd, args):
    t = Tos(bucket)
    if cmd == "put-many":
        prefix, n = args[0], int(args[1])
        body = b"x" * (int(args[2]) if len(args) > 2 else 16)
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: t.put(f"{prefix}{i:05d}", body), range(n)))
    elif cmd == "put":
        t.put(args[0], args[1].encode() if len(args) > 1 else sys.stdin.buffer.read())
    elif cmd == "put-meta":
        t.put(args[0], args[1].encode(), dict(a.split("=", 1) for a in args[2:]))
    elif cmd == "put-ct":
        t.put(args[0], args[1].encode(), ctype=args[2])
    elif cmd == "ctype":
        print({n.lower(): v for n, v in t.head(args[0]).items()}.get("content-type", ""))
    elif cmd == "get":
        sys.stdout.buffer.write(t.get(args[0]))
    elif cmd == "exists":
        return 0 if t.exists(args[0]) else 1
    elif cmd == "head":
        for n, v in t.head(args[0]).items():
            print(f"{n.lower()}: {v}")
    elif cmd == "keys":
        for k in t.keys(args[0] if args else ""):
            print(k)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


def main():
    bucket = os.environ.get("BUCKET", "ftest")
    if os.environ.get("PFS_TEST_DIALECT") == "tos":
        return main_tos(bucket, sys.argv[1], sys.argv[2:])
    c = client()
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "put-many":
        prefix, n = args[0], int(args[1])
        size = int(args[2]) if len(args) > 2 else 16
        body = b"x" * size
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: c.put_object(Bucket=bucket, Key=f"{prefix}{i:05d}", Body=body),
                          range(n)))
    elif cmd == "put":
        data = args[1].encode() if len(args) > 1 else sys.stdin.buffer.read()
        c.put_object(Bucket=bucket, Key=args[0], Body=data)
    elif cmd == "put-meta":
        c.put_object(Bucket=bucket, Key=args[0], Body=args[1].encode(),
                     Metadata=dict(a.split("=", 1) for a in args[2:]))
    elif cmd == "put-ct":
        c.put_object(Bucket=bucket, Key=args[0], Body=args[1].encode(), ContentType=args[2])
    elif cmd == "ctype":
        print(c.head_object(Bucket=bucket, Key=args[0]).get("ContentType", ""))
    elif cmd == "get":
        sys.stdout.buffer.write(c.get_object(Bucket=bucket, Key=args[0])["Body"].read())
    elif cmd == "exists":
        try:
            c.head_object(Bucket=bucket, Key=args[0])
        except c.exceptions.ClientError:
            return 1
    elif cmd == "head":
        h = c.head_object(Bucket=bucket, Key=args[0])["ResponseMetadata"]["HTTPHeaders"]
        for n, v in h.items():
            print(f"{n.lower()}: {v}")
    elif cmd == "keys":
        pages = c.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=args[0] if args else "")
        for page in pages:
            for o in page.get("Contents", []):
                print(o["Key"])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
