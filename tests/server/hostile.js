// A hostile S3 endpoint for presignfs's tests (issue 10): it answers some
// requests the way a broken or malicious store (or something posing as one)
// would, and passes every other request on to an upstream test server, so a
// mount can run through it. Built-in modules only.
//
//   node hostile.js [--upstream HOST:PORT] [--ready FILE] [--parent PID]
//
// It listens on 127.0.0.1 at a free port, and on a second free port, the
// trap, which only counts what reaches it: redirects point there, so a client
// that followed one would show up. It writes "PORT TRAP_PORT" to FILE.
//
// The mode comes from the request itself, no state to set: an object request
// /BUCKET/MODE[-anything] or a listing whose prefix begins with MODE/. Object
// GETs (the object is 1000 bytes, byte i = (7 i + 3) mod 256; a Range is
// honoured unless the mode says otherwise):
//   many-headers   200 with 300 extra headers
//   huge-header    200 with one 80 KiB header (curl's own limit is 100 KiB)
//   header-total   200 with five 55 KiB headers (275 KiB in all)
//   short          Content-Length of the range, half of it, then a close (FIN)
//   short-once     as short for the first request of each path, then honest
//   long           Content-Length of the range, the range and 100 bytes more
//   range-short    206 whose Content-Range and Content-Length name only half
//                  of the range asked for, the object going on past it
//   range-shifted  206 of the right length, Content-Range 10 bytes further on
//   redirect-301   301 PermanentRedirect (S3 XML with <Endpoint>), Location to
//                  the trap; redirect-302 and redirect-307 likewise
//   big-error      500 with a 4 MiB error body
// Listings (GET /BUCKET?list-type=2&prefix=MODE/...), S3 XML:
//   loop-same      truncated forever, always token "T" and the same key
//   loop-cycle     empty truncated pages, tokens A, B, A, ...
//   backwards      a fresh token each page, keys going back to the start
//   empty-forever  empty truncated pages, a fresh token each, forever
//   nonutf8-raw    a key with bytes FF FE, not url-encoded
//   nonutf8-url    the same key, EncodingType url (%FF%FE); a HEAD or GET of
//                  it is answered here (1 byte, "x")
//   big-listing    a 17 MiB page (over the client's 16 MiB cap)
// A listing whose prefix is just MODE (the lookup of the directory's name)
// gets an honest page naming the directory MODE/, so a mount can reach it.
//
// Control (no bucket name starts with "_"):
//   GET  /__hostile/stats  {"requests": {MODE: n}, "trap": n}
//   POST /__hostile/reset  zero the counters
'use strict'
const fs = require('node:fs')
const http = require('node:http')

const args = process.argv.slice(2)
const opt = (name) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
let upstream = null
if (opt('--upstream')) {
  const m = /^(?:http:\/\/)?([^:/]+):(\d+)\/?$/.exec(opt('--upstream'))
  if (!m) {
    console.error(`hostile: bad --upstream '${opt('--upstream')}'`)
    process.exit(2)
  }
  upstream = { host: m[1], port: Number(m[2]) }
}
const agent = new http.Agent({ keepAlive: true })

const OBJECT_SIZE = 1000
const objectBytes = Buffer.alloc(OBJECT_SIZE)
for (let i = 0; i < OBJECT_SIZE; i++) objectBytes[i] = (7 * i + 3) & 255

const OBJECT_MODES = [
  'many-headers', 'huge-header', 'header-total', 'short-once', 'short', 'long', 'range-short',
  'range-shifted', 'redirect-301', 'redirect-302', 'redirect-307', 'big-error',
]
const LIST_MODES = [
  'loop-same', 'loop-cycle', 'backwards', 'empty-forever', 'nonutf8-raw', 'nonutf8-url',
  'big-listing',
]

let stats = { requests: {}, trap: 0 }
const seenPaths = new Set()
const count = (mode) => (stats.requests[mode] = (stats.requests[mode] || 0) + 1)

let trapPort = 0
const trap = http.createServer((req, res) => {
  stats.trap++
  req.resume()
  res.writeHead(200, { 'Content-Type': 'text/plain' })
  res.end('trap: a client followed a redirect\n')
})

// The range a GET asked for, clipped to the object: [first, last].
function rangeOf(req) {
  const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range || '')
  if (!m) return null
  const first = Number(m[1])
  const last = m[2] === '' ? OBJECT_SIZE - 1 : Math.min(Number(m[2]), OBJECT_SIZE - 1)
  return [first, last]
}

function honest(req, res, extraHeaders = {}) {
  const r = rangeOf(req)
  const [first, last] = r || [0, OBJECT_SIZE - 1]
  const body = objectBytes.subarray(first, last + 1)
  const h = { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length, ETag: '"hostile"' }
  if (r) h['Content-Range'] = `bytes ${first}-${last}/${OBJECT_SIZE}`
  res.writeHead(r ? 206 : 200, { ...h, ...extraHeaders })
  res.end(body)
}

function objectMode(mode, req, res, path) {
  const r = rangeOf(req) || [0, OBJECT_SIZE - 1]
  const [first, last] = r
  const want = objectBytes.subarray(first, last + 1)
  const ranged = !!rangeOf(req)
  const status = ranged ? 206 : 200
  const cr = ranged ? { 'Content-Range': `bytes ${first}-${last}/${OBJECT_SIZE}` } : {}
  switch (mode) {
    case 'many-headers': {
      const h = {}
      for (let i = 0; i < 300; i++) h[`x-hostile-${i}`] = 'v'
      return honest(req, res, h)
    }
    case 'huge-header':
      return honest(req, res, { 'x-hostile-huge': 'v'.repeat(80 * 1024) })
    case 'header-total': {
      const h = {}
      for (let i = 0; i < 5; i++) h[`x-hostile-${i}`] = 'v'.repeat(55 * 1024)
      return honest(req, res, h)
    }
    case 'short-once':
      if (seenPaths.has(path)) return honest(req, res)
      seenPaths.add(path)
    // falls through: the first one is short
    case 'short': {
      // The headers promise the range; half of it goes out, then a FIN.
      res.writeHead(status, { 'Content-Type': 'application/octet-stream', 'Content-Length': want.length, ...cr, ETag: '"hostile"' })
      res.write(want.subarray(0, want.length >> 1))
      res.socket.end()
      return
    }
    case 'long': {
      // The answer, then 100 bytes more on the kept-alive connection.
      const sock = res.socket
      res.writeHead(status, { 'Content-Type': 'application/octet-stream', 'Content-Length': want.length, ...cr, ETag: '"hostile"' })
      res.end(want)
      sock.write(Buffer.alloc(100, 0x41))
      return
    }
    case 'range-short': {
      const half = want.subarray(0, Math.max(1, want.length >> 1))
      res.writeHead(206, {
        'Content-Length': half.length,
        'Content-Range': `bytes ${first}-${first + half.length - 1}/${OBJECT_SIZE}`,
        ETag: '"hostile"',
      })
      return res.end(half)
    }
    case 'range-shifted': {
      const shifted = objectBytes.subarray(first + 10, last + 11)
      res.writeHead(206, {
        'Content-Length': shifted.length,
        'Content-Range': `bytes ${first + 10}-${first + 9 + shifted.length}/${OBJECT_SIZE}`,
        ETag: '"hostile"',
      })
      return res.end(shifted)
    }
    case 'redirect-301':
    case 'redirect-302':
    case 'redirect-307': {
      const code = Number(mode.slice(-3))
      const where = `http://127.0.0.1:${trapPort}${req.url}`
      const body =
        `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code === 301 ? 'PermanentRedirect' : 'TemporaryRedirect'}` +
        '</Code><Message>Please re-send this request to the specified temporary endpoint.</Message>' +
        `<Endpoint>127.0.0.1:${trapPort}</Endpoint><RequestId>HOSTILE</RequestId></Error>`
      res.writeHead(code, { Location: where, 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) })
      return res.end(body)
    }
    case 'big-error': {
      const body = Buffer.alloc(4 << 20, 0x20)
      res.writeHead(500, { 'Content-Type': 'application/xml', 'Content-Length': body.length })
      return res.end(body)
    }
  }
}

const xmlKey = (k) => `<Contents><Key>${k}</Key><Size>1</Size><ETag>"e"</ETag></Contents>`
function listPage(res, { keys = [], prefixes = [], token = null, encoded = true, raw = null }) {
  const parts = [
    '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult><Name>b</Name>',
    encoded ? '<EncodingType>url</EncodingType>' : '',
    ...keys.map(xmlKey),
    ...prefixes.map((p) => `<CommonPrefixes><Prefix>${p}</Prefix></CommonPrefixes>`),
    token
      ? `<IsTruncated>true</IsTruncated><NextContinuationToken>${token}</NextContinuationToken>`
      : '<IsTruncated>false</IsTruncated>',
    '</ListBucketResult>',
  ]
  let body = Buffer.from(parts.join(''), 'utf8')
  if (raw) body = Buffer.concat([Buffer.from(parts.slice(0, 2).join('')), raw, Buffer.from(parts.slice(2).join(''))])
  res.writeHead(200, { 'Content-Type': 'application/xml', 'Content-Length': body.length })
  res.end(body)
}

function listMode(mode, prefix, token, res) {
  const enc = (s) => encodeURIComponent(s)
  if (!prefix.includes('/')) return listPage(res, { prefixes: [enc(`${mode}/`)] })
  const n = token ? Number(token.replace(/\D/g, '')) || 0 : 0
  switch (mode) {
    case 'loop-same':
      return listPage(res, { keys: [enc(`${prefix}a`)], token: 'T' })
    case 'loop-cycle':
      return listPage(res, { token: token === 'A' ? 'B' : 'A' })
    case 'backwards':
      return listPage(res, { keys: [enc(`${prefix}${String.fromCharCode(122 - (n % 2) * 25)}`)], token: `N${n + 1}` })
    case 'empty-forever':
      return listPage(res, { token: `E${n + 1}` })
    case 'nonutf8-raw':
      return listPage(res, {
        encoded: false,
        raw: Buffer.concat([Buffer.from(`<Contents><Key>${prefix}`), Buffer.from([0xff, 0xfe]), Buffer.from('x</Key><Size>1</Size></Contents>')]),
      })
    case 'nonutf8-url':
      return listPage(res, { keys: [`${enc(prefix)}%FF%FEx`] })
    case 'big-listing': {
      const keys = []
      for (let i = 0; keys.length * 80 < 17 << 20; i++) keys.push(enc(`${prefix}${String(i).padStart(12, '0')}`))
      return listPage(res, { keys })
    }
  }
}

function forward(req, res) {
  if (!upstream) {
    res.writeHead(404, { 'Content-Type': 'application/xml' })
    return res.end('<Error><Code>NoSuchKey</Code><Message>not a hostile mode</Message></Error>')
  }
  const up = http.request(
    { host: upstream.host, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
    (ur) => {
      res.writeHead(ur.statusCode, ur.headers)
      ur.pipe(res)
    }
  )
  up.on('error', () => res.destroy())
  req.pipe(up)
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x')
  if (url.pathname === '/__hostile/stats') {
    res.writeHead(200, { 'Content-Type': 'application/json' })
    return res.end(JSON.stringify(stats))
  }
  if (url.pathname === '/__hostile/reset') {
    stats = { requests: {}, trap: 0 }
    seenPaths.clear()
    res.writeHead(200)
    return res.end()
  }
  const segs = url.pathname.split('/') // ['', bucket, key...]
  let key
  try {
    key = decodeURIComponent(segs.slice(2).join('/'))
  } catch {
    key = segs.slice(2).join('/') // a key that is not UTF-8 (%FF): not a mode
  }
  if ((req.method === 'HEAD' || req.method === 'GET') && key.startsWith('nonutf8-url/')) {
    // The object the url-encoded listing names (the test server could not hold it).
    res.writeHead(200, { 'Content-Length': 1, ETag: '"x"', 'Last-Modified': new Date(0).toUTCString() })
    return res.end(req.method === 'GET' ? 'x' : undefined)
  }
  if (req.method === 'GET' && key === '' && url.searchParams.get('list-type') === '2') {
    const prefix = url.searchParams.get('prefix') || ''
    const mode = LIST_MODES.find((m) => prefix === m || prefix.startsWith(`${m}/`))
    if (mode) {
      count(mode)
      return listMode(mode, prefix, url.searchParams.get('continuation-token'), res)
    }
  } else if (req.method === 'GET' || req.method === 'HEAD') {
    const mode = OBJECT_MODES.find((m) => key === m || key.startsWith(`${m}-`))
    if (mode && req.method === 'GET') {
      count(mode)
      req.resume()
      return objectMode(mode, req, res, url.pathname)
    }
    if (mode) {
      res.writeHead(200, { 'Content-Length': OBJECT_SIZE, ETag: '"hostile"' })
      return res.end()
    }
  }
  forward(req, res)
})

const parent = Number(opt('--parent') || 0)
if (parent) {
  setInterval(() => {
    try {
      process.kill(parent, 0)
    } catch {
      process.exit(0)
    }
  }, 1000).unref()
}
trap.listen(0, '127.0.0.1', () => {
  trapPort = trap.address().port
  server.listen(0, '127.0.0.1', () => {
    const port = server.address().port
    console.log(`hostile listening on 127.0.0.1:${port} (trap ${trapPort})`)
    if (opt('--ready')) fs.writeFileSync(opt('--ready'), `${port} ${trapPort}\n`)
  })
})
