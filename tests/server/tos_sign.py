"""A small TOS4-HMAC-SHA256 query presigner for the tests (written from the
project's presign spec, independent of src/sign.c), so that tests can reach
the TOS front without the mount: s3util.py in TOS mode and test_tosfront.py."""
import datetime
import hashlib
import hmac
import urllib.parse

UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"


def enc(data, keep_slash=False):
    if isinstance(data, str):
        data = data.encode()
    out = []
    for b in data:
        if b in UNRESERVED or (keep_slash and b == 0x2F):
            out.append(chr(b))
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def presign(method, endpoint, region, bucket, key, ak, sk, query=(), headers=(),
            expires=900, now=None, token=None):
    """Path-style URL (endpoint http://IP:PORT). query: (name, value) pairs;
    headers: (name, value) pairs to sign (they must then be sent)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    date = now.strftime("%Y%m%dT%H%M%SZ")
    host = urllib.parse.urlsplit(endpoint).netloc
    path = "/" + enc(bucket) + ("/" + enc(key, True) if key else "")
    hdrs = sorted([("host", host)] + [(n.lower(), " ".join(str(v).split())) for n, v in headers])
    signed = ";".join(n for n, _ in hdrs)
    params = list(query) + [
        ("X-Tos-Algorithm", "TOS4-HMAC-SHA256"),
        ("X-Tos-Credential", f"{ak}/{date[:8]}/{region}/tos/request"),
        ("X-Tos-Date", date),
        ("X-Tos-Expires", str(expires)),
        ("X-Tos-SignedHeaders", signed),
    ]
    if token:
        params.append(("X-Tos-Security-Token", token))
    cq = "&".join(f"{n}={v}" for n, v in sorted((enc(n), enc(v)) for n, v in params))
    canon = "\n".join([method, path, cq, "".join(f"{n}:{v}\n" for n, v in hdrs), signed,
                       "UNSIGNED-PAYLOAD"])
    sts = "\n".join(["TOS4-HMAC-SHA256", date, f"{date[:8]}/{region}/tos/request",
                     hashlib.sha256(canon.encode()).hexdigest()])
    k = sk.encode()
    for part in (date[:8], region, "tos", "request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    return f"{endpoint}{path}?{cq}&X-Tos-Signature={sig}"
