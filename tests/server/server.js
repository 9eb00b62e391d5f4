// Starts @20minutes/s3rver on 127.0.0.1 for presignfs's tests, with the
// workarounds for its known defects (see doc/TESTING.md), a request counter
// and a fault injector on a second loopback port.
//
//   node --openssl-legacy-provider server.js --dir DIR --ready FILE [--parent PID] [--bucket NAME]...
//
// When listening, writes "S3_PORT CONTROL_PORT" to FILE. The control port
// answers GET /counts (JSON counts by request class), POST /reset, and
// POST /fail?count=N&status=S&code=C (the next N S3 requests fail that way).
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

const S3rver = require('@20minutes/s3rver')

function classify(req) {
  const u = new URL(req.url, 'http://x')
  const q = u.searchParams
  const segs = u.pathname.split('/').filter((s, i) => i > 0)
  const bucketLevel = segs.length <= 1 && !u.pathname.slice(1).includes('/')
  switch (req.method) {
    case 'HEAD':
      return bucketLevel ? 'head_bucket' : 'head'
    case 'GET':
      if (bucketLevel) return 'list'
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

let counts = {}
let faults = { count: 0, status: 503, code: 'SlowDown' }

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
    counts[cls] = (counts[cls] || 0) + 1
    counts.total = (counts.total || 0) + 1
    if (faults.count > 0) {
      faults.count--
      counts.injected_faults = (counts.injected_faults || 0) + 1
      req.resume()
      res.writeHead(faults.status, { 'Content-Type': 'application/xml' })
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${faults.code}</Code>` +
          `<Message>injected by the test server</Message><RequestId>injected-${counts.total}` +
          `</RequestId></Error>`
      )
      return
    }
    const rawPath = req.url.split('?')[0]
    Object.defineProperty(req.headers, RAW_PATH, { value: rawPath, enumerable: false })
    for (const h of handlers) h.call(httpServer, req, res)
  })

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
      }
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
