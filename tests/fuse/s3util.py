#!/usr/bin/python3
"""The S3 API directly (boto3 against the local test server), for tests that
need objects made without the mount or a look at the bucket behind it.

  s3util.py put-many PREFIX COUNT [SIZE]   objects PREFIX00000..., SIZE bytes each
  s3util.py put KEY [TEXT]                 one object (TEXT, or stdin)
  s3util.py get KEY                        the object to stdout
  s3util.py exists KEY                     exit 0 if the key exists, 1 if not
  s3util.py keys [PREFIX]                  every key, one per line
"""
import concurrent.futures
import os
import sys

import boto3
from botocore.config import Config


def client():
    return boto3.client(
        "s3", endpoint_url=os.environ["PFS_TEST_ENDPOINT"], region_name="us-east-1",
        aws_access_key_id="S3RVER", aws_secret_access_key="S3RVER",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3},
                      max_pool_connections=16))


def main():
    bucket = os.environ.get("BUCKET", "ftest")
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
    elif cmd == "get":
        sys.stdout.buffer.write(c.get_object(Bucket=bucket, Key=args[0])["Body"].read())
    elif cmd == "exists":
        try:
            c.head_object(Bucket=bucket, Key=args[0])
        except c.exceptions.ClientError:
            return 1
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
