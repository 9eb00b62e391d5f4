// Starts @20minutes/s3rver on 127.0.0.1 for presignfs's tests, with the
// workarounds for its known defects (see doc/TESTING.md), a request counter
// and a fault injector on a second loopback port.
//
//   node --openssl-legacy-provider server.js --dir DIR --ready FILE [--parent PID] [--bucket NAME]...
//
// When listening, writes "S3_PORT CONTROL_PORT" to FILE. The control port
// answers GET /counts (JSON counts by request class), POST /reset,
// POST /fail?count=N&status=S&code=C (the next N S3 requests fail that way;
// &method=M&path=SUB narrows it to requests of method M whose decoded path
// contains SUB;
// &region=R adds x-amz-bucket-region: R and <Region>R</Region>, a store naming
// the region it wants; &skew=S dates the answer S seconds from now and adds
// RequestTime/ServerTime, a store whose clock is off by S),
// and holds requests for race tests:
//   POST /hold?method=M&path=SUB[&class=C][&count=N][&min_length=L] -> {"id": K}:
//        the next N (default 1) requests with method M whose decoded path
//        contains SUB (and whose class is C, whose Content-Length is at least L)
//        are counted, then kept from s3rver until released
//   GET  /held?id=K     -> {"held": H, "released": R, "matched": M}
//   POST /release?id=K  hands K's held requests to s3rver in order; later
//        matches of K pass through. POST /release without id releases all.
//   GET  /uploads       -> {"uploads": [{"bucket", "id", "key"}], "inflight": N}:
//        multipart uploads begun and neither completed nor aborted, and how
//        many S3 requests are being served (held ones included).
// s3rver lacks AbortMultipartUpload (DELETE ?uploadId answers 405); this
// wrapper implements it on s3rver's own upload folders, so that tests can
// check that nothing is left over; and ListMultipartUploads (GET ?uploads,
// NotImplemented in s3rver) from the same folders, Initiated being the
// folder's birth time. Their signatures are not verified (s3rver's
// verifier runs inside its router): the signing vectors cover those requests.
'use strict'
const fs = require('node:fs')
const http = require('node:http')
const path = require('node:path')

const args = process.argv.slice(2)
const opt = (name) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const buckets = args.flatMap((a, i) => (a === '--bucket' ? [args[i + 1]] : []))
const dir = opt('--dir')
const ready = opt('--ready')
if (!dir || !ready) {
  console.error('usage: server.js --dir DIR --ready FILE [--bucket NAME]...')
  process.exit(2)
}

const lib = path.dirname(require.resolve('@20minutes/s3rver'))
const OBJECT_SUFFIX = '._S3rver_object'

// Defect: a delimiter listing prunes folders beneath a common prefix, so a
// prefix holding only sub-prefixes disappears. Defect: walk order is file-name
// order, not key order ("a/b" came before "a-b"), which breaks pagination.
// This walk yields objects in key order, and yields the first object of a
// pruned folder so its common prefix still appears.
const utils = require(path.join(lib, 'utils'))
function sortKey(dirent) {
  if (dirent.isDirectory()) return dirent.name + '/'
  const i = dirent.name.lastIndexOf('._S3rver_')
  return i >= 0 ? dirent.name.slice(0, i) : dirent.name
}
function sortedEntries(d) {
  return fs
    .readdirSync(d, { withFileTypes: true })
    .map((e) => ({ e, k: Buffer.from(sortKey(e)) }))
    .sort((a, b) => Buffer.compare(a.k, b.k) || (a.e.name < b.e.name ? -1 : 1))
    .map(({ e }) => e)
}
function firstObject(d) {
  for (const e of sortedEntries(d)) {
    const p = path.posix.join(d, e.name)
    if (e.isDirectory()) {
      const f = firstObject(p)
      if (f) return f
    } else if (e.name.endsWith(OBJECT_SUFFIX)) {
      return p
    }
  }
  return undefined
}
utils.walk = function* walk(d, recurseFilter) {
  for (const e of sortedEntries(d)) {
    const p = path.posix.join(d, e.name)
    if (!e.isDirectory()) {
      yield p
    } else if (!recurseFilter || recurseFilter(p)) {
      yield* walk(p, recurseFilter)
    } else {
      const f = firstObject(p)
      if (f) yield f
    }
  }
}

// Defect: the canonical URI is rebuilt from the routed bucket and key and
// loses a trailing '/', so a correctly signed URL for "dir/" fails. Keep the
// raw path's trailing slash; verification stays fully on.
const v4 = require(path.join(lib, 'signature', 'v4'))
const RAW_PATH = Symbol('rawPath')
const originalStringToSign = v4.getStringToSign
v4.getStringToSign = (canonicalRequest, request) => {
  const raw = canonicalRequest.headers[RAW_PATH]
  if (raw && raw.endsWith('/') && !canonicalRequest.uri.endsWith('/')) {
    canonicalRequest = { ...canonicalRequest, uri: canonicalRequest.uri + '/' }
  }
  return originalStringToSign(canonicalRequest, request)
}


// Defect: a PUT writes the object file in place, so the old content is gone
// from the first byte received, a reader meanwhile sees a partial object, and
// an upload cut short (client killed) leaves a partial object. S3 replaces an
// object atomically and discards an incomplete request. Content goes to a
// file beside the data directory and is renamed over the object when complete.
const FilesystemStore = require(path.join(lib, 'stores', 'filesystem'))
const crypto = require('node:crypto')
const { pipeline, Transform } = require('node:stream')
let partialSeq = 0
FilesystemStore.prototype.putContent = async function putContent(objectPath, content) {
  const partialDir = path.resolve(this.rootDirectory) + '.partial'
  fs.mkdirSync(partialDir, { recursive: true })
  const tmp = path.join(partialDir, `${process.pid}-${++partialSeq}`)
  const md5 = crypto.createHash('md5')
  let total = 0
  try {
    if (Buffer.isBuffer(content)) {
      await fs.promises.writeFile(tmp, content)
      md5.update(content)
      total = content.length
    } else {
      await new Promise((resolve, reject) =>
        pipeline(
          content,
          new Transform({
            transform(chunk, encoding, callback) {
              md5.update(chunk, encoding)
              total += chunk.length
              callback(null, chunk)
            },
          }),
          fs.createWriteStream(tmp),
          (err) => (err ? reject(err) : resolve())
        )
      )
    }
    // A delete of a sibling may have removed the (then empty) folder.
    fs.mkdirSync(path.dirname(objectPath), { recursive: true })
    await fs.promises.rename(tmp, objectPath)
  } catch (err) {
    await fs.promises.rm(tmp, { force: true })
    throw err
  }
  return [total, md5.digest('hex')]
}

const S3rver = require('@20minutes/s3rver')

// Defect: s3rver ignores encoding-type=url. AWS then encodes every key and
// prefix of the listing as a form does (a space as '+', '+' as %2B, '/'
// kept) and says <EncodingType>url</EncodingType>; botocore decodes with
// unquote_plus. The listing's XML is rewritten that way, so that the client's
// decoding is tested against what AWS sends.
function xmlUnescape(s) {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (m, e) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : Number(e.slice(1)))
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[e]
  })
}
function formEncode(s) {
  let out = ''
  for (const b of Buffer.from(s, 'utf8')) {
    const ch = String.fromCharCode(b)
    if (/[A-Za-z0-9\-_.~\/]/.test(ch)) out += ch
    else if (b === 0x20) out += '+'
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0')
  }
  return out
}
function encodeListing(xml) {
  const enc = (tag) => (m, text) => `<${tag}>${formEncode(xmlUnescape(text))}</${tag}>`
  return xml
    .replace(/<Key>([^<]*)<\/Key>/g, enc('Key'))
    .replace(/<Prefix>([^<]*)<\/Prefix>/g, enc('Prefix'))
    .replace(/<StartAfter>([^<]*)<\/StartAfter>/g, enc('StartAfter'))
    .replace(/<Delimiter>([^<]*)<\/Delimiter>/g, enc('Delimiter'))
    .replace(/(<ListBucketResult[^>]*>)/, '$1<EncodingType>url</EncodingType>')
}
function encodeListingResponse(res) {
  const chunks = []
  const write = res.write.bind(res)
  const end = res.end.bind(res)
  res.write = (chunk, encoding, cb) => {
    if (chunk) chunks.push(Buffer.from(chunk, typeof encoding === 'string' ? encoding : undefined))
    if (typeof encoding === 'function') encoding()
    else if (cb) cb()
    return true
  }
  res.end = (chunk, encoding, cb) => {
    if (chunk && typeof chunk !== 'function') chunks.push(Buffer.from(chunk, typeof encoding === 'string' ? encoding : undefined))
    let body = Buffer.concat(chunks)
    if (res.statusCode === 200 && /xml/.test(String(res.getHeader('content-type') || ''))) {
      body = Buffer.from(encodeListing(body.toString('utf8')), 'utf8')
    }
    if (!res.headersSent) res.setHeader('Content-Length', body.length)
    if (body.length) write(body)
    return end(typeof chunk === 'function' ? chunk : typeof encoding === 'function' ? encoding : cb)
  }
}

function classify(req) {
  const u = new URL(req.url, 'http://x')
  const q = u.searchParams
  const segs = u.pathname.split('/').filter((s, i) => i > 0)
  const bucketLevel = segs.length <= 1 && !u.pathname.slice(1).includes('/')
  switch (req.method) {
    case 'HEAD':
      return bucketLevel ? 'head_bucket' : 'head'
    case 'GET':
      if (bucketLevel) return q.has('uploads') ? 'list_uploads' : 'list'
      if (q.has('uploadId')) return 'list_parts'
      return req.headers.range ? 'get_range' : 'get'
    case 'PUT':
      if (q.has('partNumber')) return 'upload_part'
      if (req.headers['x-amz-copy-source']) return 'copy'
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

// s3rver keeps an upload's parts in BUCKET/._S3rver_uploads/UPLOAD_ID/.
function uploadsDir(bucket) {
  return path.join(dir, bucket, '._S3rver_uploads')
}

function abortUpload(req, res) {
  const u = new URL(req.url, 'http://x')
  const id = u.searchParams.get('uploadId') || ''
  const bucket = decodeURIComponent(u.pathname.split('/')[1] || '')
  req.resume()
  const target = path.join(uploadsDir(bucket), id)
  const valid = /^[A-Za-z0-9._-]+$/.test(id) && !id.startsWith('.') && buckets.includes(bucket)
  if (!valid || !fs.existsSync(target)) {
    res.writeHead(404, { 'Content-Type': 'application/xml' })
    res.end(
      '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code>' +
        '<Message>The specified upload does not exist.</Message></Error>'
    )
    return
  }
  fs.rmSync(target, { recursive: true, force: true })
  res.writeHead(204)
  res.end()
}

function xmlText(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function listUploads(req, res) {
  const u = new URL(req.url, 'http://x')
  const bucket = decodeURIComponent(u.pathname.split('/')[1] || '')
  const prefix = u.searchParams.get('prefix') || ''
  req.resume()
  const ups = openUploads().filter((x) => x.bucket === bucket && x.key !== null && x.key.startsWith(prefix))
  ups.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  let body = '<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult>'
  body += `<Bucket>${xmlText(bucket)}</Bucket><Prefix>${xmlText(prefix)}</Prefix><IsTruncated>false</IsTruncated>`
  for (const x of ups) {
    let when = new Date(0)
    try {
      when = fs.statSync(path.join(uploadsDir(bucket), x.id)).birthtime
    } catch {}
    body += `<Upload><Key>${xmlText(x.key)}</Key><UploadId>${xmlText(x.id)}</UploadId>`
    body += `<Initiated>${when.toISOString()}</Initiated></Upload>`
  }
  body += '</ListMultipartUploadsResult>'
  res.writeHead(200, { 'Content-Type': 'application/xml' })
  res.end(body)
}

function openUploads() {
  const out = []
  for (const bucket of buckets) {
    let ids = []
    try {
      ids = fs.readdirSync(uploadsDir(bucket))
    } catch {
      continue
    }
    for (const id of ids) {
      let key = null
      try {
        key = fs.readFileSync(path.join(uploadsDir(bucket), id, 'key'), 'utf8')
      } catch {}
      out.push({ bucket, id, key })
    }
  }
  return out
}

let counts = {}
let inflight = 0
let faults = { count: 0, status: 503, code: 'SlowDown' }

// Holds: a held request is not read (its body stays in the socket, so the
// client blocks on TCP backpressure) and not answered until released.
// req.pause() is not used: an explicitly paused stream is not restarted by a
// later 'data' listener, which is how s3rver reads XML bodies (multipart
// complete, multi-delete); an unread request stream gives the same
// backpressure (node stops reading the socket past the stream's buffer).
const holds = new Map()
let nextHoldId = 1
function decodedPath(req) {
  try {
    return decodeURIComponent(new URL(req.url, 'http://x').pathname)
  } catch {
    return new URL(req.url, 'http://x').pathname
  }
}
// A /fail with &method=M and/or &path=SUB fails only the requests that match.
function faultMatches(req) {
  if (faults.method && faults.method !== req.method) return false
  return !faults.path || decodedPath(req).includes(faults.path)
}
function holdFor(req, cls) {
  const p = decodedPath(req)
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

async function main() {
  fs.mkdirSync(dir, { recursive: true })
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: dir,
    configureBuckets: buckets.map((name) => ({ name })),
  })
  const { port } = await server.run()
  const httpServer = server.httpServer
  const handlers = httpServer.listeners('request')
  httpServer.removeAllListeners('request')
  httpServer.on('request', (req, res) => {
    const cls = classify(req)
    inflight++
    res.once('close', () => inflight--)
    counts[cls] = (counts[cls] || 0) + 1
    counts.total = (counts.total || 0) + 1
    if (faults.count > 0 && faultMatches(req)) {
      faults.count--
      counts.injected_faults = (counts.injected_faults || 0) + 1
      req.resume()
      const headers = { 'Content-Type': 'application/xml' }
      let extra = ''
      if (faults.region) {
        headers['x-amz-bucket-region'] = faults.region
        extra += `<Region>${faults.region}</Region>`
      }
      if (faults.skew) {
        const server = new Date(Date.now() + faults.skew * 1000)
        headers.Date = server.toUTCString()
        extra += `<RequestTime>${new Date().toISOString()}</RequestTime>` +
          `<ServerTime>${server.toISOString()}</ServerTime>`
      }
      res.writeHead(faults.status, headers)
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${faults.code}</Code>` +
          `<Message>injected by the test server</Message>${extra}<RequestId>injected-${counts.total}` +
          `</RequestId></Error>`
      )
      return
    }
    const rawPath = req.url.split('?')[0]
    Object.defineProperty(req.headers, RAW_PATH, { value: rawPath, enumerable: false })
    if (cls === 'list' && new URL(req.url, 'http://x').searchParams.get('encoding-type') === 'url') {
      encodeListingResponse(res)
    }
    const run = () => {
      if (cls === 'mp_abort') return abortUpload(req, res)
      if (cls === 'list_uploads') return listUploads(req, res)
      for (const h of handlers) h.call(httpServer, req, res)
    }
    const hold = holdFor(req, cls)
    if (hold) {
      counts.held = (counts.held || 0) + 1
      hold.queue.push(run)
      hold.heldCount++
      return
    }
    run()
  })
  // Node's own timeouts must not cut a held request (held 120 s and more):
  // requestTimeout runs until the body is received, headersTimeout until the
  // headers are, socket timeout at any time; keepAliveTimeout only runs
  // between requests, so it cannot end one that is held.
  httpServer.requestTimeout = 0
  httpServer.headersTimeout = 180000
  httpServer.timeout = 0

  const control = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x')
    if (req.method === 'GET' && u.pathname === '/counts') {
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify(counts))
    } else if (req.method === 'POST' && u.pathname === '/reset') {
      counts = {}
      res.end('{}')
    } else if (req.method === 'POST' && u.pathname === '/fail') {
      faults = {
        count: Number(u.searchParams.get('count') || 1),
        status: Number(u.searchParams.get('status') || 503),
        code: u.searchParams.get('code') || 'SlowDown',
        region: u.searchParams.get('region'),
        skew: Number(u.searchParams.get('skew') || 0),
        method: u.searchParams.get('method'),
        path: u.searchParams.get('path'),
      }
      res.end('{}')
    } else if (req.method === 'POST' && u.pathname === '/hold') {
      const method = (u.searchParams.get('method') || '').toUpperCase()
      const sub = u.searchParams.get('path')
      if (!method || sub === null) {
        res.writeHead(400)
        res.end('{"error":"method and path are required"}')
        return
      }
      const id = nextHoldId++
      holds.set(id, {
        method,
        path: sub,
        cls: u.searchParams.get('class') || '',
        count: Number(u.searchParams.get('count') || 1),
        minLength: Number(u.searchParams.get('min_length') || 0),
        matched: 0,
        heldCount: 0,
        releasedCount: 0,
        released: false,
        queue: [],
      })
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify({ id }))
    } else if (req.method === 'GET' && u.pathname === '/uploads') {
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify({ uploads: openUploads(), inflight }))
    } else if (req.method === 'GET' && u.pathname === '/held') {
      const h = holds.get(Number(u.searchParams.get('id')))
      if (!h) {
        res.writeHead(404)
        res.end('{"error":"no such hold"}')
        return
      }
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify({ held: h.heldCount, released: h.releasedCount, matched: h.matched }))
    } else if (req.method === 'POST' && u.pathname === '/release') {
      if (u.searchParams.has('id')) {
        const h = holds.get(Number(u.searchParams.get('id')))
        if (!h) {
          res.writeHead(404)
          res.end('{"error":"no such hold"}')
          return
        }
        releaseHold(h)
      } else {
        for (const h of holds.values()) releaseHold(h)
      }
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.end('{}')
    } else {
      res.writeHead(404)
      res.end()
    }
  })
  await new Promise((resolve) => control.listen(0, '127.0.0.1', resolve))

  const stop = () => {
    control.close()
    server.close().finally(() => process.exit(0))
    setTimeout(() => process.exit(0), 2000).unref()
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  // Exit with the script that started us, even if it died before it could
  // signal (a killed test must not leave a server behind).
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

  fs.writeFileSync(ready + '.tmp', `${port} ${control.address().port}\n`)
  fs.renameSync(ready + '.tmp', ready)
}

main().catch((err) => {
  console.error('test server failed to start:', err)
  process.exit(1)
})
