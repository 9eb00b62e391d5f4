// A TOS-native test server for presignfs (issue 11): it speaks the TOS dialect
// as ../doc/TESTING.md and the project's spec describe it, stores the bytes
// itself (on disk, one file per object version) and verifies every request's
// TOS4-HMAC-SHA256 query signature and expiry. Node built-in modules only.
//
//   node tosfront.js --dir DIR --ready FILE [--parent PID] [--bucket NAME]...
//        [--cred AK:SECRET[:TOKEN]]... [--region REGION] [--misorder-parts]
//
// When listening, writes "PORT CONTROL_PORT" to FILE. Without --cred the
// credentials are AK "AKTPFRONTEXAMPLE", secret "front/Secret+Key=0123".
// --region makes the front refuse a credential scope for another region (by
// default it takes the region from the scope, as a server that accepts the
// JS SDK's URLs must, presign.md 7.1). --misorder-parts stores the parts of a
// completed multipart upload in the wrong order (first two swapped) and
// reports the CRC-64 of what it stored, like a broken server would.
//
// What it checks, as presign.md says (sections cited):
//   X-Tos-Algorithm TOS4-HMAC-SHA256; X-Tos-Credential AK/DATE/REGION/tos/request
//   with DATE = the first 8 characters of X-Tos-Date (4.1); X-Tos-Expires in
//   1..604800 (6; else 400 AuthorizationQueryParametersError); the canonical
//   request rebuilt from the decoded path and query (3.2, 4.2, 5.1) with every
//   header of X-Tos-SignedHeaders, host as received; the signing key from the
//   bare secret (5.3); signature mismatch: 403 SignatureDoesNotMatch; the
//   clock past date + expires: 403 AccessDenied "Request has expired"; a date
//   more than 15 minutes ahead: 403 RequestTimeTooSkewed; an unknown access
//   key: 403 InvalidAccessKeyId; a token that differs from the configured one:
//   403 InvalidToken; an x-tos-* request header left out of SignedHeaders:
//   403 SignatureDoesNotMatch (the SDKs sign every x-tos-* header, tos-api.md 3).
// Error bodies are TOS JSON {Code, Message, RequestId, HostId, Resource, EC}
// with x-tos-request-id and x-tos-ec headers; HEAD errors have no body.
//
// The control port answers what server.js's does (GET /counts, POST /reset,
// POST /fail, POST /hold, GET /held, POST /release, GET /uploads), plus:
//   POST /clock?at=YYYYMMDDTHHMMSSZ  stops the front's clock at that time (for
//                                    expiry checks); without at: the real clock
//   POST /cred?ak=A&sk=S[&token=T]    one more credential
//   GET  /file?bucket=B&key=K         {"path": the file holding K's bytes}
//                                    (to corrupt an object behind the front)
//   POST /misorder?on=1|0             the --misorder-parts mode
//   POST /region?name=R               refuse scopes for other regions (empty:
//                                    take the region from the scope)
//   POST /bucket?name=B               one more bucket
//   GET  /config                      {"misorder": bool, "region": ...}
'use strict'
const crypto = require('node:crypto')
const fs = require('node:fs')
const http = require('node:http')
const path = require('node:path')
const { pipeline } = require('node:stream')

const args = process.argv.slice(2)
const opt = (name) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const multi = (name) => args.flatMap((a, i) => (a === name ? [args[i + 1]] : []))
const dir = opt('--dir')
const ready = opt('--ready')
if (!dir || !ready) {
  console.error('usage: tosfront.js --dir DIR --ready FILE [--bucket NAME]... [--cred AK:SK[:TOKEN]]...')
  process.exit(2)
}
let fixedRegion = opt('--region') || ''
let misorder = args.includes('--misorder-parts')
const creds = new Map()
for (const c of multi('--cred')) {
  const [ak, sk, token] = splitCred(c)
  creds.set(ak, { sk, token })
}
if (creds.size === 0) creds.set('AKTPFRONTEXAMPLE', { sk: 'front/Secret+Key=0123', token: undefined })
function splitCred(s) {
  const a = s.indexOf(':')
  const b = s.indexOf(':', a + 1)
  return b < 0 ? [s.slice(0, a), s.slice(a + 1)] : [s.slice(0, a), s.slice(a + 1, b), s.slice(b + 1)]
}

// ---- CRC-64/ECMA-182 (reflected, init and xorout all ones), two 32-bit halves
const POLY_LO = 0xd7870f42
const POLY_HI = 0xc96c5795
const T_LO = []
const T_HI = []
for (let t = 0; t < 8; t++) {
  T_LO.push(new Uint32Array(256))
  T_HI.push(new Uint32Array(256))
}
for (let i = 0; i < 256; i++) {
  let lo = i
  let hi = 0
  for (let k = 0; k < 8; k++) {
    const bit = lo & 1
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0
    hi = hi >>> 1
    if (bit) {
      lo = (lo ^ POLY_LO) >>> 0
      hi = (hi ^ POLY_HI) >>> 0
    }
  }
  T_LO[0][i] = lo
  T_HI[0][i] = hi
}
for (let t = 1; t < 8; t++) {
  for (let i = 0; i < 256; i++) {
    const plo = T_LO[t - 1][i]
    const phi = T_HI[t - 1][i]
    const idx = plo & 0xff
    T_LO[t][i] = (((plo >>> 8) | (phi << 24)) ^ T_LO[0][idx]) >>> 0
    T_HI[t][i] = ((phi >>> 8) ^ T_HI[0][idx]) >>> 0
  }
}
// A running CRC: state is the register (not yet xored out).
class Crc64 {
  constructor() {
    this.lo = 0xffffffff
    this.hi = 0xffffffff
  }
  update(buf) {
    let lo = this.lo
    let hi = this.hi
    let i = 0
    const n = buf.length
    const [L0, L1, L2, L3, L4, L5, L6, L7] = T_LO
    const [H0, H1, H2, H3, H4, H5, H6, H7] = T_HI
    for (; i + 8 <= n; i += 8) {
      const a = (lo ^ (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24))) >>> 0
      const b = (hi ^ (buf[i + 4] | (buf[i + 5] << 8) | (buf[i + 6] << 16) | (buf[i + 7] << 24))) >>> 0
      lo =
        (L7[a & 0xff] ^ L6[(a >>> 8) & 0xff] ^ L5[(a >>> 16) & 0xff] ^ L4[a >>> 24] ^
          L3[b & 0xff] ^ L2[(b >>> 8) & 0xff] ^ L1[(b >>> 16) & 0xff] ^ L0[b >>> 24]) >>> 0
      hi =
        (H7[a & 0xff] ^ H6[(a >>> 8) & 0xff] ^ H5[(a >>> 16) & 0xff] ^ H4[a >>> 24] ^
          H3[b & 0xff] ^ H2[(b >>> 8) & 0xff] ^ H1[(b >>> 16) & 0xff] ^ H0[b >>> 24]) >>> 0
    }
    for (; i < n; i++) {
      const idx = (lo ^ buf[i]) & 0xff
      lo = (((lo >>> 8) | (hi << 24)) ^ L0[idx]) >>> 0
      hi = ((hi >>> 8) ^ H0[idx]) >>> 0
    }
    this.lo = lo
    this.hi = hi
    return this
  }
  digest() {
    // decimal, as x-tos-hash-crc64ecma carries it
    return ((BigInt((this.hi ^ 0xffffffff) >>> 0) << 32n) | BigInt((this.lo ^ 0xffffffff) >>> 0)).toString()
  }
}

// ---- encodings (presign.md 3.2 and 4.2)
const UNRESERVED = new Uint8Array(256)
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~') UNRESERVED[ch.charCodeAt(0)] = 1
function enc(bytes, keepSlash) {
  let out = ''
  for (const b of bytes) {
    if (UNRESERVED[b] || (keepSlash && b === 0x2f)) out += String.fromCharCode(b)
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0')
  }
  return out
}
// Percent-decoding to bytes; plusSpace: '+' is a space (query strings, as the
// Go SDK writes them). null for a malformed escape.
function decodeBytes(s, plusSpace) {
  const out = []
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i)
    if (ch === 0x25) {
      const h = s.slice(i + 1, i + 3)
      if (!/^[0-9A-Fa-f]{2}$/.test(h)) return null
      out.push(parseInt(h, 16))
      i += 2
    } else if (ch === 0x2b && plusSpace) {
      out.push(0x20)
    } else if (ch < 0x80) {
      out.push(ch)
    } else {
      for (const b of Buffer.from(s[i], 'utf8')) out.push(b)
    }
  }
  return Buffer.from(out)
}
// Listing names with encoding-type=url, as the stores write them: form
// encoding (space as '+', '+' as %2B), '/' kept.
function formEncode(s) {
  return enc(Buffer.from(s, 'utf8'), true).replace(/%20/g, '+')
}

// ---- requests and errors
let requestSeq = 0
const EC = {
  SignatureDoesNotMatch: '0002-00000001',
  AccessDenied: '0003-00000001',
  InvalidAccessKeyId: '0002-00000002',
  InvalidToken: '0002-00000003',
  RequestTimeTooSkewed: '0002-00000004',
  AuthorizationQueryParametersError: '0002-00000005',
  NoSuchBucket: '0006-00000001',
  NoSuchKey: '0017-00000003',
  NoSuchUpload: '0016-00000001',
  InvalidPart: '0016-00000002',
  InvalidPartOrder: '0016-00000003',
  EntityTooSmall: '0016-00000004',
  InvalidRange: '0017-00000001',
  BadDigest: '0017-00000002',
  InvalidDigest: '0017-00000004',
  MalformedJSON: '0017-00000005',
  MissingContentMD5: '0017-00000006',
  IncompleteBody: '0017-00000007',
  InternalError: '0005-00000001',
  MethodNotAllowed: '0001-00000001',
  InvalidArgument: '0001-00000002',
  SlowDown: '0005-00000002',
}
function sendError(req, res, status, code, message, extra) {
  const rid = req.tosRequestId
  const headers = {
    'x-tos-request-id': rid,
    'x-tos-ec': EC[code] || '0000-00000000',
    'x-tos-id-2': 'front',
  }
  if (req.method === 'HEAD') {
    res.writeHead(status, headers)
    res.end()
    return
  }
  const body = JSON.stringify({
    Code: code,
    Message: message,
    RequestId: rid,
    HostId: 'tosfront',
    Resource: req.url.split('?')[0],
    EC: headers['x-tos-ec'],
    ...(extra || {}),
  })
  headers['Content-Type'] = 'application/json'
  headers['Content-Length'] = Buffer.byteLength(body)
  res.writeHead(status, headers)
  res.end(body)
}
class TosError extends Error {
  constructor(status, code, message, extra) {
    super(message)
    this.status = status
    this.code = code
    this.extra = extra
  }
}
const fail = (status, code, message, extra) => {
  throw new TosError(status, code, message, extra)
}

// ---- the clock
let clockFixedMs = null // set by POST /clock?at=: the clock stands still there
const nowMs = () => (clockFixedMs === null ? Date.now() : clockFixedMs)
function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '')
  if (!m) return NaN
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])
}

// ---- signature verification
const hmac = (key, msg) => crypto.createHmac('sha256', key).update(msg).digest()
const sha256hex = (s) => crypto.createHash('sha256').update(s).digest('hex')

// Parses the raw request target into the canonical pieces. Returns
// {pathBytes, canonicalUri, params: [[nameBytes, valueBytes]...], query: Map}.
function parseTarget(rawUrl) {
  const q = rawUrl.indexOf('?')
  const rawPath = q >= 0 ? rawUrl.slice(0, q) : rawUrl
  const rawQuery = q >= 0 ? rawUrl.slice(q + 1) : ''
  const pathBytes = decodeBytes(rawPath, false)
  if (!pathBytes) fail(400, 'InvalidArgument', 'malformed escape in the path')
  const params = []
  const query = new Map()
  for (const piece of rawQuery.split('&')) {
    if (piece === '') continue
    const eq = piece.indexOf('=')
    const n = decodeBytes(eq >= 0 ? piece.slice(0, eq) : piece, true)
    const v = decodeBytes(eq >= 0 ? piece.slice(eq + 1) : '', true)
    if (!n || !v) fail(400, 'InvalidArgument', 'malformed escape in the query')
    params.push([n, v])
    query.set(n.toString('utf8'), v.toString('utf8'))
  }
  return { pathBytes, canonicalUri: enc(pathBytes, true), params, query }
}

function verify(req, t) {
  const q = t.query
  const alg = q.get('X-Tos-Algorithm')
  if (alg === undefined && !q.has('X-Tos-Signature')) fail(403, 'AccessDenied', 'Access Denied: anonymous requests are not allowed')
  const need = ['X-Tos-Algorithm', 'X-Tos-Credential', 'X-Tos-Date', 'X-Tos-Expires', 'X-Tos-SignedHeaders', 'X-Tos-Signature']
  for (const n of need) if (!q.has(n)) fail(400, 'AuthorizationQueryParametersError', `missing query parameter ${n}`)
  if (alg !== 'TOS4-HMAC-SHA256') fail(400, 'AuthorizationQueryParametersError', `unsupported algorithm ${alg}`)
  const date = q.get('X-Tos-Date')
  const signedAt = parseAmzDate(date)
  if (Number.isNaN(signedAt)) fail(400, 'AuthorizationQueryParametersError', 'X-Tos-Date must be YYYYMMDDTHHMMSSZ')
  const expiresText = q.get('X-Tos-Expires')
  if (!/^[1-9][0-9]{0,6}$/.test(expiresText) || Number(expiresText) > 604800)
    fail(400, 'AuthorizationQueryParametersError', 'X-Tos-Expires must be a number of seconds in 1..604800')
  const cred = q.get('X-Tos-Credential').split('/')
  if (cred.length !== 5 || cred[3] !== 'tos' || cred[4] !== 'request' || cred[1] !== date.slice(0, 8))
    fail(400, 'AuthorizationQueryParametersError', 'X-Tos-Credential must be AK/YYYYMMDD/REGION/tos/request with the date of X-Tos-Date')
  const [ak, day, region] = cred
  if (fixedRegion && region !== fixedRegion)
    fail(403, 'SignatureDoesNotMatch', `the credential scope names region ${region}; this store is in ${fixedRegion}`)
  const c = creds.get(ak)
  if (!c) fail(403, 'InvalidAccessKeyId', 'The access key ID you provided does not exist in our records.')
  const token = q.get('X-Tos-Security-Token')
  if (c.token !== undefined && token !== c.token) fail(403, 'InvalidToken', 'The provided security token is invalid.')

  const signedHeaders = q.get('X-Tos-SignedHeaders').split(';')
  const sorted = [...signedHeaders].sort()
  if (!signedHeaders.includes('host') || signedHeaders.join(';') !== sorted.join(';') ||
      signedHeaders.some((h) => h !== h.toLowerCase() || h === ''))
    fail(400, 'AuthorizationQueryParametersError', 'X-Tos-SignedHeaders must be sorted lower-case names including host')
  for (const h of Object.keys(req.headers)) {
    if (h.startsWith('x-tos-') && !signedHeaders.includes(h))
      fail(403, 'SignatureDoesNotMatch', `header ${h} is sent but not signed (X-Tos-SignedHeaders)`)
  }
  let headerBlock = ''
  for (const h of signedHeaders) {
    const v = req.headers[h]
    if (v === undefined) fail(403, 'SignatureDoesNotMatch', `signed header ${h} is missing from the request`)
    headerBlock += `${h}:${String(v).trim().replace(/\s+/g, ' ')}\n`
  }
  const pairs = t.params
    .filter(([n]) => n.toString('utf8') !== 'X-Tos-Signature')
    .map(([n, v]) => [enc(n, false), enc(v, false)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
  const canonicalQuery = pairs.map(([n, v]) => `${n}=${v}`).join('&')
  const canonical = [req.method, t.canonicalUri, canonicalQuery, headerBlock, signedHeaders.join(';'), 'UNSIGNED-PAYLOAD'].join('\n')
  const scope = `${day}/${region}/tos/request`
  const stringToSign = ['TOS4-HMAC-SHA256', date, scope, sha256hex(canonical)].join('\n')
  let key = hmac(c.sk, day)
  key = hmac(key, region)
  key = hmac(key, 'tos')
  key = hmac(key, 'request')
  const want = hmac(key, stringToSign).toString('hex')
  const got = q.get('X-Tos-Signature')
  if (got.length !== want.length || !crypto.timingSafeEqual(Buffer.from(got), Buffer.from(want))) {
    console.error(`signature mismatch for ${req.method} ${req.url}\n--- canonical request\n${canonical}\n--- string to sign\n${stringToSign}`)
    fail(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.',
      { StringToSign: stringToSign })
  }
  const now = nowMs()
  if (now > signedAt + Number(expiresText) * 1000) fail(403, 'AccessDenied', 'Request has expired')
  if (signedAt > now + 15 * 60 * 1000) fail(403, 'RequestTimeTooSkewed', 'The difference between the request time and the server time is too large.')
}

// ---- the store: buckets of objects in memory, bytes in files
const buckets = new Map() // name -> {objects: Map key -> obj, sorted: [keys], uploads: Map}
for (const name of multi('--bucket')) addBucket(name)
function addBucket(name) {
  if (!buckets.has(name)) {
    fs.mkdirSync(path.join(dir, name), { recursive: true })
    buckets.set(name, { name, objects: new Map(), sorted: [], uploads: new Map() })
  }
}
let fileSeq = 0
const newFile = (bucket) => path.join(dir, bucket.name, `f${process.pid}-${++fileSeq}`)
function bsearch(arr, key) {
  let lo = 0
  let hi = arr.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (Buffer.compare(Buffer.from(arr[mid]), Buffer.from(key)) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}
function setObject(bucket, key, obj) {
  const old = bucket.objects.get(key)
  bucket.objects.set(key, obj)
  if (old) {
    if (old.file !== obj.file) fs.rm(old.file, { force: true }, () => {})
  } else {
    bucket.sorted.splice(bsearch(bucket.sorted, key), 0, key)
  }
}
function removeObject(bucket, key) {
  const old = bucket.objects.get(key)
  if (!old) return false
  bucket.objects.delete(key)
  const i = bsearch(bucket.sorted, key)
  if (bucket.sorted[i] === key) bucket.sorted.splice(i, 1)
  fs.rm(old.file, { force: true }, () => {})
  return true
}
const httpDate = (ms) => new Date(ms).toUTCString()
const isoDate = (ms) => new Date(ms).toISOString()

function userMeta(req) {
  const meta = {}
  for (const [h, v] of Object.entries(req.headers)) if (h.startsWith('x-tos-meta-')) meta[h.slice(11)] = String(v)
  return meta
}
function objectHeaders(obj) {
  const h = {
    ETag: obj.etag,
    'Last-Modified': httpDate(obj.mtime),
    'Content-Type': obj.contentType || 'application/octet-stream',
    'x-tos-hash-crc64ecma': obj.crc64,
    'x-tos-storage-class': 'STANDARD',
    'Accept-Ranges': 'bytes',
  }
  for (const [k, v] of Object.entries(obj.meta)) h['x-tos-meta-' + k] = v
  return h
}

// Reads a request body into a file, computing MD5 and CRC-64 as it streams.
function receiveToFile(req, file) {
  return new Promise((resolve, reject) => {
    const md5 = crypto.createHash('md5')
    const crc = new Crc64()
    let size = 0
    const out = fs.createWriteStream(file)
    req.on('data', (chunk) => {
      md5.update(chunk)
      crc.update(chunk)
      size += chunk.length
    })
    pipeline(req, out, (err) => {
      if (err) {
        fs.rm(file, { force: true }, () => {})
        reject(err)
        return
      }
      const expected = req.headers['content-length']
      if (expected !== undefined && Number(expected) !== size) {
        fs.rm(file, { force: true }, () => {})
        reject(new TosError(400, 'IncompleteBody', 'the body is shorter than Content-Length'))
        return
      }
      resolve({ size, md5: md5.digest(), crc64: crc.digest() })
    })
  })
}
function readBody(req, cap) {
  return new Promise((resolve, reject) => {
    const chunks = []
    let n = 0
    req.on('data', (c) => {
      n += c.length
      if (n <= cap) chunks.push(c)
    })
    req.on('end', () => (n > cap ? reject(new TosError(400, 'InvalidArgument', 'body too large')) : resolve(Buffer.concat(chunks))))
    req.on('error', reject)
  })
}
function sendJson(res, status, obj, headers) {
  const body = JSON.stringify(obj)
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...(headers || {}) })
  res.end(body)
}
function checkMd5(req, digest) {
  const want = req.headers['content-md5']
  if (want === undefined) return
  if (!/^[A-Za-z0-9+/]{22}==$/.test(want)) fail(400, 'InvalidDigest', 'The Content-MD5 you specified is not valid.')
  if (Buffer.from(want, 'base64').compare(digest) !== 0) fail(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.')
}

// x-tos-copy-source: "[/]bucket/key" with the key percent-encoded ('+' read as
// a space, as the Go SDK writes it), optional ?versionId (tos-api.md 6).
function copySource(req) {
  let v = String(req.headers['x-tos-copy-source'])
  const qi = v.indexOf('?')
  if (qi >= 0) v = v.slice(0, qi)
  if (v.startsWith('/')) v = v.slice(1)
  const slash = v.indexOf('/')
  if (slash <= 0) fail(400, 'InvalidArgument', 'x-tos-copy-source must be /bucket/key')
  const bname = decodeBytes(v.slice(0, slash), true)
  const kbytes = decodeBytes(v.slice(slash + 1), true)
  if (!bname || !kbytes || kbytes.length === 0) fail(400, 'InvalidArgument', 'malformed x-tos-copy-source')
  const b = buckets.get(bname.toString('utf8'))
  if (!b) fail(404, 'NoSuchBucket', 'The specified source bucket does not exist.')
  const obj = b.objects.get(kbytes.toString('utf8'))
  if (!obj) fail(404, 'NoSuchKey', 'The specified source key does not exist.')
  return obj
}
function copyFile(src, dst) {
  return fs.promises.copyFile(src, dst)
}
// CRC-64 and MD5 of a byte range of a file, streamed.
function digestFile(file, start, end) {
  return new Promise((resolve, reject) => {
    const md5 = crypto.createHash('md5')
    const crc = new Crc64()
    const s = end < start ? fs.createReadStream(file, { start: 0, end: -1 }) : fs.createReadStream(file, { start, end })
    if (end < start) {
      s.destroy()
      resolve({ md5: md5.digest(), crc64: crc.digest() })
      return
    }
    s.on('data', (c) => {
      md5.update(c)
      crc.update(c)
    })
    s.on('end', () => resolve({ md5: md5.digest(), crc64: crc.digest() }))
    s.on('error', reject)
  })
}

async function putObject(req, res, bucket, key) {
  if (req.headers['x-tos-forbid-overwrite'] === 'true' && bucket.objects.has(key))
    fail(409, 'ObjectAlreadyExists', 'The object already exists.')
  if (req.headers['x-tos-copy-source'] !== undefined) return copyObject(req, res, bucket, key)
  const file = newFile(bucket)
  const r = await receiveToFile(req, file)
  try {
    checkMd5(req, r.md5)
  } catch (e) {
    fs.rm(file, { force: true }, () => {})
    throw e
  }
  const obj = {
    file,
    size: r.size,
    etag: `"${r.md5.toString('hex')}"`,
    crc64: r.crc64,
    mtime: Math.floor(nowMs() / 1000) * 1000,
    contentType: req.headers['content-type'] || 'application/octet-stream',
    meta: userMeta(req),
  }
  setObject(bucket, key, obj)
  res.writeHead(200, { ETag: obj.etag, 'x-tos-hash-crc64ecma': obj.crc64, 'Content-Length': 0 })
  res.end()
}

async function copyObject(req, res, bucket, key) {
  const src = copySource(req)
  req.resume()
  const directive = String(req.headers['x-tos-metadata-directive'] || 'COPY').toUpperCase()
  if (directive !== 'COPY' && directive !== 'REPLACE') fail(400, 'InvalidArgument', 'x-tos-metadata-directive must be COPY or REPLACE')
  if (src.size > 5 * 1024 ** 3) fail(400, 'InvalidRequest', 'a copy source above 5 GiB needs UploadPartCopy')
  const file = newFile(bucket)
  await copyFile(src.file, file)
  const obj = {
    ...src,
    file,
    mtime: Math.floor(nowMs() / 1000) * 1000,
    meta: directive === 'REPLACE' ? userMeta(req) : { ...src.meta },
    contentType: directive === 'REPLACE' ? req.headers['content-type'] || 'application/octet-stream' : src.contentType,
  }
  setObject(bucket, key, obj)
  sendJson(res, 200, { ETag: obj.etag, LastModified: isoDate(obj.mtime) }, { 'x-tos-hash-crc64ecma': obj.crc64 })
}

function getObject(req, res, bucket, key, q) {
  req.resume()
  const obj = bucket.objects.get(key)
  if (!obj) fail(404, 'NoSuchKey', 'The specified key does not exist.')
  const headers = objectHeaders(obj)
  for (const [p, h] of [
    ['response-content-type', 'Content-Type'],
    ['response-content-disposition', 'Content-Disposition'],
    ['response-cache-control', 'Cache-Control'],
    ['response-content-encoding', 'Content-Encoding'],
    ['response-content-language', 'Content-Language'],
    ['response-expires', 'Expires'],
  ])
    if (q.has(p)) headers[h] = q.get(p)
  const im = req.headers['if-match']
  if (im !== undefined && im !== obj.etag && im !== '*') fail(412, 'PreconditionFailed', 'At least one of the preconditions you specified did not hold.')
  const inm = req.headers['if-none-match']
  if (inm !== undefined && (inm === obj.etag || inm === '*')) {
    res.writeHead(304, headers)
    res.end()
    return
  }
  let start = 0
  let end = obj.size - 1
  let status = 200
  const range = req.headers.range
  if (range !== undefined) {
    const m = /^bytes=(\d*)-(\d*)$/.exec(range)
    if (m && (m[1] !== '' || m[2] !== '')) {
      if (m[1] === '') {
        start = Math.max(0, obj.size - Number(m[2]))
      } else {
        start = Number(m[1])
        if (m[2] !== '') end = Math.min(end, Number(m[2]))
      }
      if (start >= obj.size || start > end) {
        fail(416, 'InvalidRange', 'The requested range is not satisfiable', { ActualObjectSize: obj.size })
      }
      status = 206
      headers['Content-Range'] = `bytes ${start}-${end}/${obj.size}`
    }
  }
  headers['Content-Length'] = obj.size === 0 ? 0 : end - start + 1
  if (req.method === 'HEAD' || obj.size === 0) {
    res.writeHead(status, headers)
    res.end()
    return
  }
  // Opened before answering: an overwrite meanwhile unlinks the file, the
  // open descriptor keeps this version's bytes (as a store serves one version).
  const stream = fs.createReadStream(obj.file, { start, end })
  stream.once('open', () => {
    res.writeHead(status, headers)
    pipeline(stream, res, () => {})
  })
  stream.once('error', (err) => {
    if (!res.headersSent) sendError(req, res, 500, 'InternalError', `cannot read the object: ${err.code}`)
    else res.destroy()
  })
}

function listObjects(req, res, bucket, q) {
  req.resume()
  if (q.get('list-type') !== '2') fail(400, 'InvalidArgument', 'only ListObjectsType2 (list-type=2) is implemented')
  const prefix = q.get('prefix') || ''
  const delimiter = q.get('delimiter') || ''
  const maxKeysText = q.get('max-keys')
  let maxKeys = 1000
  if (maxKeysText !== undefined) {
    if (!/^\d+$/.test(maxKeysText)) fail(400, 'InvalidArgument', 'max-keys must be a number')
    maxKeys = Math.min(1000, Number(maxKeysText))
  }
  const encoding = q.get('encoding-type') || ''
  if (encoding !== '' && encoding !== 'url') fail(400, 'InvalidArgument', 'encoding-type must be url')
  const fetchMeta = q.get('fetch-meta') === 'true'
  let after = q.get('start-after') || ''
  let skipPrefix = ''
  const token = q.get('continuation-token')
  if (token !== undefined && token !== '') {
    let t
    try {
      t = JSON.parse(Buffer.from(token, 'base64').toString('utf8'))
    } catch {
      t = null
    }
    if (!t || typeof t.k !== 'string') fail(400, 'InvalidArgument', 'The continuation token provided is incorrect')
    if (Buffer.compare(Buffer.from(t.k), Buffer.from(after)) > 0) after = t.k
    if (t.p) skipPrefix = t.k
  }
  const show = (s) => (encoding === 'url' ? formEncode(s) : s)
  const contents = []
  const prefixes = []
  let last = null
  let truncated = false
  let i = prefix || after ? bsearch(bucket.sorted, Buffer.compare(Buffer.from(prefix), Buffer.from(after)) > 0 ? prefix : after) : 0
  const seenPrefixes = new Set()
  for (; i < bucket.sorted.length; i++) {
    const key = bucket.sorted[i]
    if (!key.startsWith(prefix)) {
      if (Buffer.compare(Buffer.from(key), Buffer.from(prefix)) > 0) break
      continue
    }
    if (key === after) continue
    if (skipPrefix && key.startsWith(skipPrefix)) continue
    let item
    if (delimiter) {
      const d = key.indexOf(delimiter, prefix.length)
      if (d >= 0) {
        const cp = key.slice(0, d + delimiter.length)
        if (seenPrefixes.has(cp)) continue
        item = { p: cp }
      }
    }
    if (contents.length + prefixes.length >= maxKeys) {
      truncated = true
      break
    }
    if (item) {
      seenPrefixes.add(item.p)
      prefixes.push({ Prefix: show(item.p) })
      last = { k: item.p, p: true }
    } else {
      const obj = bucket.objects.get(key)
      const e = {
        Key: show(key),
        LastModified: isoDate(obj.mtime),
        ETag: obj.etag,
        Size: obj.size,
        StorageClass: 'STANDARD',
        Type: 'Normal',
        HashCrc64Ecma: obj.crc64,
      }
      if (q.get('fetch-owner') === 'true') e.Owner = { ID: '2100000001', DisplayName: '2100000001' }
      if (fetchMeta && Object.keys(obj.meta).length)
        e.UserMeta = Object.entries(obj.meta).map(([k, v]) => ({ Key: k, Value: v }))
      contents.push(e)
      last = { k: key, p: false }
    }
  }
  const out = {
    Name: bucket.name,
    Prefix: show(prefix),
    KeyCount: contents.length + prefixes.length,
    MaxKeys: maxKeys,
    Delimiter: show(delimiter),
    IsTruncated: truncated,
    EncodingType: encoding,
  }
  if (token) out.ContinuationToken = token
  if (q.get('start-after')) out.StartAfter = show(q.get('start-after'))
  if (truncated) out.NextContinuationToken = Buffer.from(JSON.stringify(last)).toString('base64')
  if (prefixes.length) out.CommonPrefixes = prefixes
  if (contents.length) out.Contents = contents
  sendJson(res, 200, out)
}

// ---- multipart
let uploadSeq = 0
function createUpload(req, res, bucket, key) {
  req.resume()
  const id = crypto.createHash('md5').update(`${process.pid}/${++uploadSeq}/${key}`).digest('hex')
  const udir = path.join(dir, bucket.name, `u-${id}`)
  fs.mkdirSync(udir, { recursive: true })
  bucket.uploads.set(id, {
    id,
    key,
    dir: udir,
    parts: new Map(),
    meta: userMeta(req),
    contentType: req.headers['content-type'] || 'application/octet-stream',
    initiated: nowMs(),
  })
  sendJson(res, 200, { Bucket: bucket.name, Key: key, UploadId: id })
}
function getUpload(bucket, key, id) {
  const u = bucket.uploads.get(id)
  if (!u || u.key !== key) fail(404, 'NoSuchUpload', 'The specified multipart upload does not exist.')
  return u
}
async function uploadPart(req, res, bucket, key, q) {
  const u = getUpload(bucket, key, q.get('uploadId'))
  const n = q.get('partNumber')
  if (!/^\d+$/.test(n) || Number(n) < 1 || Number(n) > 10000) fail(400, 'InvalidArgument', 'partNumber must be 1..10000')
  const file = path.join(u.dir, `p${n}-${++fileSeq}`)
  let part
  if (req.headers['x-tos-copy-source'] !== undefined) {
    const src = copySource(req)
    req.resume()
    let start = 0
    let end = src.size - 1
    const r = req.headers['x-tos-copy-source-range']
    if (r !== undefined) {
      const m = /^bytes=(\d+)-(\d+)$/.exec(String(r))
      if (!m || Number(m[1]) > Number(m[2]) || Number(m[2]) >= src.size) fail(400, 'InvalidArgument', 'bad x-tos-copy-source-range')
      start = Number(m[1])
      end = Number(m[2])
    }
    await new Promise((resolve, reject) =>
      pipeline(src.size ? fs.createReadStream(src.file, { start, end }) : require('node:stream').Readable.from([]), fs.createWriteStream(file), (e) => (e ? reject(e) : resolve())))
    const d = await digestFile(file, 0, end - start)
    part = { file, size: end - start + 1, etag: `"${d.md5.toString('hex')}"`, crc64: d.crc64 }
  } else {
    const r = await receiveToFile(req, file)
    checkMd5(req, r.md5)
    part = { file, size: r.size, etag: `"${r.md5.toString('hex')}"`, crc64: r.crc64 }
  }
  if (!bucket.uploads.has(u.id)) {
    fs.rm(file, { force: true }, () => {})
    fail(404, 'NoSuchUpload', 'The specified multipart upload does not exist.')
  }
  const old = u.parts.get(Number(n))
  if (old) fs.rm(old.file, { force: true }, () => {})
  u.parts.set(Number(n), part)
  if (req.headers['x-tos-copy-source'] !== undefined) {
    sendJson(res, 200, { ETag: part.etag, LastModified: isoDate(nowMs()) }, { 'x-tos-hash-crc64ecma': part.crc64 })
  } else {
    res.writeHead(200, { ETag: part.etag, 'x-tos-hash-crc64ecma': part.crc64, 'Content-Length': 0 })
    res.end()
  }
}
async function completeUpload(req, res, bucket, key, q) {
  const u = getUpload(bucket, key, q.get('uploadId'))
  let list
  if (req.headers['x-tos-complete-all'] === 'yes') {
    req.resume()
    list = [...u.parts.keys()].sort((a, b) => a - b).map((n) => ({ PartNumber: n, ETag: u.parts.get(n).etag }))
  } else {
    const body = await readBody(req, 4 << 20)
    let doc
    try {
      doc = JSON.parse(body.toString('utf8'))
    } catch {
      fail(400, 'MalformedJSON', 'The JSON you provided was not well-formed.')
    }
    if (!doc || !Array.isArray(doc.Parts) || doc.Parts.length === 0) fail(400, 'MalformedJSON', 'Parts must be a non-empty array')
    list = doc.Parts
  }
  let prev = 0
  const parts = []
  for (const p of list) {
    if (!p || !Number.isInteger(p.PartNumber) || typeof p.ETag !== 'string') fail(400, 'MalformedJSON', 'each part needs PartNumber and ETag')
    if (p.PartNumber <= prev) fail(400, 'InvalidPartOrder', 'The list of parts was not in ascending order.')
    prev = p.PartNumber
    const have = u.parts.get(p.PartNumber)
    if (!have || have.etag !== p.ETag) fail(400, 'InvalidPart', `part ${p.PartNumber} was not uploaded or its ETag differs`)
    parts.push(have)
  }
  for (let i = 0; i + 1 < parts.length; i++)
    if (parts[i].size < 5 * 1024 * 1024) fail(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.')
  // The broken-server mode: assemble the first two parts swapped.
  const order = parts.slice()
  if (misorder && order.length >= 2) [order[0], order[1]] = [order[1], order[0]]
  const file = newFile(bucket)
  const crc = new Crc64()
  const md5s = []
  let size = 0
  const out = fs.createWriteStream(file)
  try {
    for (const p of order) {
      await new Promise((resolve, reject) => {
        const s = fs.createReadStream(p.file)
        s.on('data', (c) => {
          crc.update(c)
          size += c.length
          if (!out.write(c)) {
            s.pause()
            out.once('drain', () => s.resume())
          }
        })
        s.on('end', resolve)
        s.on('error', reject)
      })
    }
    await new Promise((resolve, reject) => out.end((e) => (e ? reject(e) : resolve())))
  } catch (e) {
    out.destroy()
    fs.rm(file, { force: true }, () => {})
    throw e
  }
  for (const p of parts) md5s.push(Buffer.from(p.etag.replace(/"/g, ''), 'hex'))
  const etag = `"${crypto.createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${parts.length}"`
  const obj = { file, size, etag, crc64: crc.digest(), mtime: Math.floor(nowMs() / 1000) * 1000, contentType: u.contentType, meta: u.meta }
  setObject(bucket, key, obj)
  bucket.uploads.delete(u.id)
  fs.rm(u.dir, { recursive: true, force: true }, () => {})
  sendJson(res, 200, { Bucket: bucket.name, Key: key, ETag: etag, Location: `http://${req.headers.host}/${bucket.name}/${key}` },
    { 'x-tos-hash-crc64ecma': obj.crc64 })
}
function abortUpload(req, res, bucket, key, q) {
  req.resume()
  const u = getUpload(bucket, key, q.get('uploadId'))
  bucket.uploads.delete(u.id)
  fs.rm(u.dir, { recursive: true, force: true }, () => {})
  res.writeHead(204)
  res.end()
}
function listParts(req, res, bucket, key, q) {
  req.resume()
  const u = getUpload(bucket, key, q.get('uploadId'))
  const marker = Number(q.get('part-number-marker') || 0)
  const max = Math.min(1000, Number(q.get('max-parts') || 1000))
  const nums = [...u.parts.keys()].filter((n) => n > marker).sort((a, b) => a - b)
  const shown = nums.slice(0, max)
  const out = {
    Bucket: bucket.name,
    Key: key,
    UploadId: u.id,
    PartNumberMarker: marker,
    MaxParts: max,
    IsTruncated: nums.length > max,
    Parts: shown.map((n) => ({ PartNumber: n, ETag: u.parts.get(n).etag, Size: u.parts.get(n).size, LastModified: isoDate(u.initiated) })),
  }
  if (out.IsTruncated) out.NextPartNumberMarker = shown[shown.length - 1]
  sendJson(res, 200, out)
}
function listUploads(req, res, bucket, q) {
  req.resume()
  const prefix = q.get('prefix') || ''
  const ups = [...bucket.uploads.values()].filter((u) => u.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : 1))
  sendJson(res, 200, {
    Bucket: bucket.name,
    Prefix: prefix,
    IsTruncated: false,
    Uploads: ups.map((u) => ({ Key: u.key, UploadId: u.id, Initiated: isoDate(u.initiated), StorageClass: 'STANDARD' })),
  })
}
async function deleteMulti(req, res, bucket) {
  const body = await readBody(req, 4 << 20)
  if (req.headers['content-md5'] === undefined) fail(400, 'MissingContentMD5', 'Missing required header for this request: Content-MD5.')
  checkMd5(req, crypto.createHash('md5').update(body).digest())
  let doc
  try {
    doc = JSON.parse(body.toString('utf8'))
  } catch {
    fail(400, 'MalformedJSON', 'The JSON you provided was not well-formed.')
  }
  if (!doc || !Array.isArray(doc.Objects) || doc.Objects.length === 0 || doc.Objects.length > 1000)
    fail(400, 'MalformedJSON', 'Objects must hold 1..1000 keys')
  const deleted = []
  for (const o of doc.Objects) {
    if (!o || typeof o.Key !== 'string' || o.Key === '') fail(400, 'MalformedJSON', 'each object needs a Key')
    removeObject(bucket, o.Key)
    deleted.push({ Key: o.Key })
  }
  sendJson(res, 200, doc.Quiet ? {} : { Deleted: deleted })
}

// ---- routing
function classify(req, t, bucketLevel) {
  const q = t.query
  switch (req.method) {
    case 'HEAD':
      return bucketLevel ? 'head_bucket' : 'head'
    case 'GET':
      if (bucketLevel) return q.has('uploads') ? 'list_uploads' : 'list'
      if (q.has('uploadId')) return 'list_parts'
      return req.headers.range ? 'get_range' : 'get'
    case 'PUT':
      if (q.has('partNumber')) return 'upload_part'
      if (req.headers['x-tos-copy-source']) return 'copy'
      return bucketLevel ? 'create_bucket' : 'put'
    case 'POST':
      if (q.has('uploads')) return 'mp_create'
      if (q.has('uploadId')) return 'mp_complete'
      if (q.has('delete')) return 'delete_multi'
      return 'post'
    case 'DELETE':
      if (q.has('uploadId')) return 'mp_abort'
      return 'delete'
    default:
      return 'other'
  }
}
// Bucket and key: path style for an IP-literal or localhost Host, else the
// bucket is the host's first label (virtual-host style, presign.md 7.2).
function route(req, t) {
  const host = String(req.headers.host || '')
  const hostname = host.replace(/:\d+$/, '')
  const ip = /^\d+\.\d+\.\d+\.\d+$/.test(hostname) || hostname.startsWith('[') || hostname === 'localhost'
  const p = t.pathBytes
  if (ip) {
    const s = p.indexOf(0x2f, 1)
    const bname = (s < 0 ? p.subarray(1) : p.subarray(1, s)).toString('utf8')
    const key = s < 0 ? '' : p.subarray(s + 1).toString('utf8')
    return { bname, key }
  }
  const dot = hostname.indexOf('.')
  return { bname: dot > 0 ? hostname.slice(0, dot) : '', key: p.subarray(1).toString('utf8') }
}

async function handle(req, res, t) {
  verify(req, t)
  const { bname, key } = route(req, t)
  const q = t.query
  const bucket = buckets.get(bname)
  if (!bucket) fail(404, 'NoSuchBucket', 'The specified bucket does not exist.')
  if (key === '') {
    if (req.method === 'HEAD') {
      req.resume()
      res.writeHead(200, { 'x-tos-bucket-region': fixedRegion || 'cn-beijing', 'x-tos-storage-class': 'STANDARD', 'x-tos-bucket-type': 'fns' })
      res.end()
      return
    }
    if (req.method === 'GET' && q.has('uploads')) return listUploads(req, res, bucket, q)
    if (req.method === 'GET') return listObjects(req, res, bucket, q)
    if (req.method === 'POST' && q.has('delete')) return deleteMulti(req, res, bucket)
    fail(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.')
  }
  switch (req.method) {
    case 'HEAD':
    case 'GET':
      if (q.has('uploadId')) return listParts(req, res, bucket, key, q)
      return getObject(req, res, bucket, key, q)
    case 'PUT':
      if (q.has('uploadId')) return uploadPart(req, res, bucket, key, q)
      return putObject(req, res, bucket, key)
    case 'POST':
      if (q.has('uploads')) return createUpload(req, res, bucket, key)
      if (q.has('uploadId')) return completeUpload(req, res, bucket, key, q)
      break
    case 'DELETE':
      req.resume()
      if (q.has('uploadId')) return abortUpload(req, res, bucket, key, q)
      removeObject(bucket, key)
      res.writeHead(204)
      res.end()
      return
  }
  fail(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.')
}

// ---- counts, faults, holds (as in server.js)
let counts = {}
let inflight = 0
let faults = { count: 0, status: 503, code: 'SlowDown' }
const holds = new Map()
let nextHoldId = 1
function holdFor(req, cls, t) {
  const p = t.pathBytes.toString('utf8')
  for (const h of holds.values()) {
    if (h.released || h.matched >= h.count) continue
    if (h.method !== req.method || !p.includes(h.path)) continue
    if (h.cls && h.cls !== cls) continue
    if (h.minLength > 0 && !(Number(req.headers['content-length'] || 0) >= h.minLength)) continue
    h.matched++
    return h
  }
  return undefined
}
function releaseHold(h) {
  h.released = true
  const queue = h.queue
  h.queue = []
  for (const run of queue) {
    h.releasedCount++
    run()
  }
}
function openUploads() {
  const out = []
  for (const b of buckets.values()) for (const u of b.uploads.values()) out.push({ bucket: b.name, id: u.id, key: u.key })
  return out
}

function onRequest(req, res) {
  req.tosRequestId = `front${process.pid}${String(++requestSeq).padStart(8, '0')}`
  res.setHeader('x-tos-request-id', req.tosRequestId)
  res.setHeader('Server', 'TosFront')
  inflight++
  res.once('close', () => inflight--)
  let t
  try {
    t = parseTarget(req.url)
  } catch (e) {
    req.resume()
    sendError(req, res, e.status || 400, e.code || 'InvalidArgument', e.message)
    return
  }
  const bucketLevel = (() => {
    try {
      return route(req, t).key === ''
    } catch {
      return false
    }
  })()
  const cls = classify(req, t, bucketLevel)
  counts[cls] = (counts[cls] || 0) + 1
  counts.total = (counts.total || 0) + 1
  if (faults.count > 0) {
    faults.count--
    counts.injected_faults = (counts.injected_faults || 0) + 1
    req.resume()
    req.tosRequestId = `injected-${counts.total}`
    res.setHeader('x-tos-request-id', req.tosRequestId)
    sendError(req, res, faults.status, faults.code, 'injected by the test server')
    return
  }
  const run = () => {
    handle(req, res, t).catch((e) => {
      if (e instanceof TosError) {
        if (!res.headersSent) {
          req.resume()
          sendError(req, res, e.status, e.code, e.message, e.extra)
        }
        return
      }
      // A request cut short by its client: nothing is stored, nobody to answer.
      if (req.aborted || req.destroyed || e.code === 'ECONNRESET' || e.code === 'ERR_STREAM_PREMATURE_CLOSE') {
        res.destroy()
        return
      }
      console.error('internal error:', e)
      if (!res.headersSent) sendError(req, res, 500, 'InternalError', String(e && e.message))
      else res.destroy()
    })
  }
  const hold = holdFor(req, cls, t)
  if (hold) {
    counts.held = (counts.held || 0) + 1
    hold.queue.push(run)
    hold.heldCount++
    return
  }
  run()
}

function control(req, res) {
  const u = new URL(req.url, 'http://x')
  const p = u.searchParams
  const json = (status, obj) => {
    res.writeHead(status, { 'Content-Type': 'application/json' })
    res.end(JSON.stringify(obj))
  }
  req.resume()
  if (req.method === 'GET' && u.pathname === '/counts') return json(200, counts)
  if (req.method === 'POST' && u.pathname === '/reset') {
    counts = {}
    return json(200, {})
  }
  if (req.method === 'POST' && u.pathname === '/fail') {
    faults = { count: Number(p.get('count') || 1), status: Number(p.get('status') || 503), code: p.get('code') || 'SlowDown' }
    return json(200, {})
  }
  if (req.method === 'POST' && u.pathname === '/hold') {
    const method = (p.get('method') || '').toUpperCase()
    if (!method || p.get('path') === null) return json(400, { error: 'method and path are required' })
    const id = nextHoldId++
    holds.set(id, {
      method,
      path: p.get('path'),
      cls: p.get('class') || '',
      count: Number(p.get('count') || 1),
      minLength: Number(p.get('min_length') || 0),
      matched: 0,
      heldCount: 0,
      releasedCount: 0,
      released: false,
      queue: [],
    })
    return json(200, { id })
  }
  if (req.method === 'GET' && u.pathname === '/held') {
    const h = holds.get(Number(p.get('id')))
    if (!h) return json(404, { error: 'no such hold' })
    return json(200, { held: h.heldCount, released: h.releasedCount, matched: h.matched })
  }
  if (req.method === 'POST' && u.pathname === '/release') {
    if (p.has('id')) {
      const h = holds.get(Number(p.get('id')))
      if (!h) return json(404, { error: 'no such hold' })
      releaseHold(h)
    } else {
      for (const h of holds.values()) releaseHold(h)
    }
    return json(200, {})
  }
  if (req.method === 'GET' && u.pathname === '/uploads') return json(200, { uploads: openUploads(), inflight })
  if (req.method === 'POST' && u.pathname === '/clock') {
    if (!p.get('at')) {
      clockFixedMs = null
      return json(200, {})
    }
    const at = parseAmzDate(p.get('at'))
    if (Number.isNaN(at)) return json(400, { error: 'at must be YYYYMMDDTHHMMSSZ' })
    clockFixedMs = at
    return json(200, {})
  }
  if (req.method === 'POST' && u.pathname === '/cred') {
    if (!p.get('ak') || !p.get('sk')) return json(400, { error: 'ak and sk are required' })
    creds.set(p.get('ak'), { sk: p.get('sk'), token: p.has('token') ? p.get('token') : undefined })
    return json(200, {})
  }
  if (req.method === 'POST' && u.pathname === '/bucket') {
    addBucket(p.get('name') || '')
    return json(200, {})
  }
  if (req.method === 'GET' && u.pathname === '/file') {
    const b = buckets.get(p.get('bucket') || '')
    const o = b && b.objects.get(p.get('key') || '')
    if (!o) return json(404, { error: 'no such object' })
    return json(200, { path: o.file, size: o.size, crc64: o.crc64 })
  }
  if (req.method === 'POST' && u.pathname === '/misorder') {
    misorder = p.get('on') === '1'
    return json(200, { misorder })
  }
  if (req.method === 'POST' && u.pathname === '/region') {
    fixedRegion = p.get('name') || ''
    return json(200, { region: fixedRegion })
  }
  if (req.method === 'GET' && u.pathname === '/config') return json(200, { misorder, region: fixedRegion, pid: process.pid })
  json(404, { error: 'unknown control request' })
}

async function main() {
  fs.mkdirSync(dir, { recursive: true })
  const server = http.createServer(onRequest)
  // Held requests must not be cut by Node's own timeouts (see server.js).
  server.requestTimeout = 0
  server.headersTimeout = 180000
  server.timeout = 0
  server.keepAliveTimeout = 30000
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const ctl = http.createServer(control)
  await new Promise((resolve) => ctl.listen(0, '127.0.0.1', resolve))
  const stop = () => {
    ctl.close()
    server.close()
    server.closeAllConnections()
    setTimeout(() => process.exit(0), 200).unref()
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  const parent = Number(opt('--parent') || 0)
  if (parent > 0) {
    setInterval(() => {
      try {
        process.kill(parent, 0)
      } catch {
        stop()
      }
    }, 500).unref()
  }
  fs.writeFileSync(ready + '.tmp', `${server.address().port} ${ctl.address().port}\n`)
  fs.renameSync(ready + '.tmp', ready)
}

main().catch((err) => {
  console.error('tosfront failed to start:', err)
  process.exit(1)
})
