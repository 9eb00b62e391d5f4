// A fault-injecting reverse proxy for presignfs's tests (issue 10): it sits on
// 127.0.0.1 between a client (a mount, curl) and the test server and decides,
// per request and reproducibly, whether to pass the request on or to fail it.
// Built-in modules only; bodies are streamed both ways, never buffered.
//
//   node faultproxy.js --upstream HOST:PORT [--ready FILE] [--parent PID]
//                      [--port N] [--config JSON|@FILE]
//
// It listens on 127.0.0.1 (a free port unless --port), prints
// "faultproxy listening on 127.0.0.1:PORT" and writes "PORT" to FILE. The
// Host header is passed on unchanged, so URLs presigned for the proxy's
// address verify at the upstream.
//
// Fates. The i-th request (i = 0, 1, ... since the last reset) with a given
// method, path (without the query) and partNumber query value gets the fate
// hash(seed, method, path, partNumber, i) in [0,1) picks from the rates of
// `modes`, taken as consecutive intervals in the order of MODES below (so the
// modes exclude each other and their rates must sum to at most 1). Latency is
// drawn from a second hash and adds to any fate. The same seed gives the same
// fates however requests interleave. Modes:
//   err503    503 SlowDown, error body in the dialect's format
//   err500    500 InternalError
//   reset     connection reset (RST) before any response; nothing forwarded
//   midbody   the request is forwarded; a response with a body gets its
//             headers and half of its body, then a reset; a body-less one
//             (a PUT's 200, a HEAD) is dropped: the client socket is closed
//             after the upstream answered (the lost acknowledgement)
//   stall     the request is read, not forwarded, and nothing is answered for
//             stall_s seconds; then the connection is closed
//   truncate  forwarded; correct headers (Content-Length), half of the body,
//             then a clean close (FIN). Body-less responses pass unharmed
//             (counted in skipped.truncate_nobody)
//   expired   403 AccessDenied "Request has expired"; nothing forwarded
//   badsig    403 SignatureDoesNotMatch; nothing forwarded
//   latency   (rate; 1 when absent and latency_ms > 0) wait latency_ms first
// blackout_s: every request fails for that many seconds from the time the
// config is set (blackout_mode "reset", the default, or "503").
//
// Control, on the same port, never subject to faults (no bucket name can
// start with "_"):
//   GET  /__proxy/stats   {"seen", "passed", "forwarded", "injected": {MODE: n,
//                         "lost_ack", "blackout"}, "skipped", "by_method", ...}
//   POST /__proxy/config  JSON merged into the config (a given "modes"
//                         replaces the modes); answers the effective config
//   GET  /__proxy/config  the config
//   POST /__proxy/reset   zero the counters, the sequence numbers and the log
//   GET  /__proxy/log     the decisions since the reset, in arrival order:
//                         [{"n","method","path","part","i","fate","outcome"}]
//
// Config fields: seed (number or string, default 1), dialect ("s3" | "tos":
// the error body format, default "s3"), modes {MODE: rate}, stall_s (60),
// latency_ms (0), rate_mib_s (0: unlimited; else every passed response body
// is paced at that many MiB/s, as a store's per-connection throughput is,
// for benchmarks of what a reader waits for), blackout_s, blackout_mode, methods (["PUT", ...]: only
// these methods get faults; others pass and still count as seen),
// path_contains (only paths containing this string get faults).
'use strict'
const crypto = require('node:crypto')
const fs = require('node:fs')
const http = require('node:http')

const MODES = ['err503', 'err500', 'reset', 'midbody', 'stall', 'truncate', 'expired', 'badsig']
const CONTROL = '/__proxy/'
const LOG_MAX = 200000

const args = process.argv.slice(2)
const opt = (name) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
function usage(msg) {
  console.error(`faultproxy: ${msg}`)
  console.error(
    'usage: faultproxy.js --upstream HOST:PORT [--ready FILE] [--parent PID] [--port N] [--config JSON|@FILE]'
  )
  process.exit(2)
}
const upstreamArg = opt('--upstream')
if (!upstreamArg) usage('--upstream HOST:PORT is required')
const m = /^(?:http:\/\/)?([^:/]+):(\d+)\/?$/.exec(upstreamArg)
if (!m) usage(`bad --upstream '${upstreamArg}'`)
const upstream = { host: m[1], port: Number(m[2]) }
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity })

const DEFAULTS = {
  seed: 1,
  dialect: 's3',
  modes: {},
  stall_s: 60,
  latency_ms: 0,
  rate_mib_s: 0,
  blackout_s: 0,
  blackout_mode: 'reset',
  methods: null,
  path_contains: null,
}
let config = { ...DEFAULTS }
let blackoutUntil = 0

// Validates PATCH against the current config; returns the new config or
// throws an Error whose message is the reason.
function mergeConfig(cur, patch) {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) throw new Error('config must be a JSON object')
  const next = { ...cur }
  for (const [k, v] of Object.entries(patch)) {
    if (!(k in DEFAULTS)) throw new Error(`unknown config field '${k}'`)
    next[k] = v
  }
  if (typeof next.seed !== 'number' && typeof next.seed !== 'string') throw new Error('seed must be a number or string')
  if (next.dialect !== 's3' && next.dialect !== 'tos') throw new Error("dialect must be 's3' or 'tos'")
  if (!next.modes || typeof next.modes !== 'object') throw new Error('modes must be an object')
  let sum = 0
  for (const [k, v] of Object.entries(next.modes)) {
    if (!MODES.includes(k) && k !== 'latency') throw new Error(`unknown mode '${k}' (modes: ${MODES.join(', ')}, latency)`)
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new Error(`rate of ${k} must be a number in [0, 1]`)
    if (k !== 'latency') sum += v
  }
  if (sum > 1 + 1e-9) throw new Error(`the rates of the modes add up to ${sum}, more than 1`)
  for (const k of ['stall_s', 'latency_ms', 'rate_mib_s', 'blackout_s']) {
    if (typeof next[k] !== 'number' || !(next[k] >= 0)) throw new Error(`${k} must be a number >= 0`)
  }
  if (next.blackout_mode !== 'reset' && next.blackout_mode !== '503') throw new Error("blackout_mode must be 'reset' or '503'")
  if (next.methods !== null) {
    if (!Array.isArray(next.methods) || !next.methods.every((x) => typeof x === 'string'))
      throw new Error('methods must be an array of method names')
    next.methods = next.methods.map((x) => x.toUpperCase())
  }
  if (next.path_contains !== null && typeof next.path_contains !== 'string') throw new Error('path_contains must be a string')
  return next
}
function setConfig(patch) {
  config = mergeConfig(config, patch)
  if ('blackout_s' in patch) blackoutUntil = config.blackout_s > 0 ? Date.now() + config.blackout_s * 1000 : 0
}

function freshStats() {
  const injected = { lost_ack: 0, blackout: 0, latency: 0 }
  for (const k of MODES) injected[k] = 0
  return {
    seen: 0,
    passed: 0,
    forwarded: 0,
    injected,
    skipped: { truncate_nobody: 0 },
    by_method: {},
    upstream_errors: 0,
    client_aborts: 0,
    control: 0,
  }
}
let stats = freshStats()
let seqs = new Map()
let log = []
let requestIds = 0
let inflight = 0

function unitHash(...parts) {
  const h = crypto.createHash('sha256').update(JSON.stringify(parts)).digest()
  return h.readUIntBE(0, 6) / 2 ** 48
}
function pickFate(cfg, key, i) {
  const u = unitHash(cfg.seed, ...key, i, 'fate')
  let acc = 0
  for (const mode of MODES) {
    const r = cfg.modes[mode] || 0
    if (r <= 0) continue
    acc += r
    if (u < acc) return mode
  }
  return 'pass'
}
function latencyFor(cfg, key, i) {
  if (!(cfg.latency_ms > 0)) return 0
  const rate = cfg.modes.latency === undefined ? 1 : cfg.modes.latency
  return unitHash(cfg.seed, ...key, i, 'latency') < rate ? cfg.latency_ms : 0
}

const ERRORS = {
  err503: [503, 'SlowDown', 'Please reduce your request rate.', '0004-00000001'],
  err500: [500, 'InternalError', 'We encountered an internal error. Please try again.', '0005-00000001'],
  expired: [403, 'AccessDenied', 'Request has expired', '0003-00000001'],
  badsig: [
    403,
    'SignatureDoesNotMatch',
    'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    '0002-00000016',
  ],
}
function xmlEscape(s) {
  return String(s).replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c])
}
// Sends the dialect's error answer (no body for HEAD, as the stores do).
function sendError(req, res, cfg, mode, expectsContinue) {
  const [status, code, message, ec] = ERRORS[mode]
  const requestId = `faultproxy-${++requestIds}`
  const resource = req.url.split('?')[0]
  let body
  const headers = {}
  if (cfg.dialect === 'tos') {
    headers['Content-Type'] = 'application/json'
    headers['x-tos-request-id'] = requestId
    headers['x-tos-ec'] = ec
    body = JSON.stringify({ Code: code, Message: message, RequestId: requestId, HostId: 'faultproxy', Resource: resource, EC: ec })
  } else {
    headers['Content-Type'] = 'application/xml'
    headers['x-amz-request-id'] = requestId
    let extra = ''
    if (mode === 'expired') {
      const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
      extra = `<Expires>${now}</Expires><ServerTime>${now}</ServerTime>`
    }
    body =
      '<?xml version="1.0" encoding="UTF-8"?>\n' +
      `<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message>${extra}` +
      `<Resource>${xmlEscape(resource)}</Resource><RequestId>${requestId}</RequestId>` +
      '<HostId>faultproxy</HostId></Error>'
  }
  if (req.method === 'HEAD') body = ''
  headers['Content-Length'] = Buffer.byteLength(body)
  const answer = () => {
    if (res.destroyed) return
    res.writeHead(status, headers)
    res.end(body)
  }
  if (expectsContinue) {
    // The client waits for 100 Continue before its body: answer at once, as
    // a store does, and close (the body never comes).
    headers.Connection = 'close'
    answer()
  } else {
    // Read the body first, so the client is not cut off while it sends.
    req.on('end', answer)
    req.on('error', () => {})
    req.resume()
  }
}

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer', 'expect'])
function filterRaw(raw, drop) {
  const out = []
  for (let i = 0; i < raw.length; i += 2) {
    if (!drop.has(raw[i].toLowerCase())) out.push(raw[i], raw[i + 1])
  }
  return out
}

// Resets the client connection (RST). A short pause first lets the bytes
// already written leave, so the client sees them before the reset.
function resetSocket(socket, delayMs = 0) {
  if (!socket || socket.destroyed) return
  const go = () => {
    if (socket.destroyed) return
    if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy()
    else socket.destroy()
  }
  if (delayMs > 0) setTimeout(go, delayMs)
  else go()
}

function forward(req, res, fate, entry, expectsContinue) {
  stats.forwarded++
  const headers = filterRaw(req.rawHeaders, HOP)
  if (expectsContinue) res.writeContinue()
  const preq = http.request({
    host: upstream.host,
    port: upstream.port,
    method: req.method,
    path: req.url,
    headers,
    agent,
    setHost: false,
  })
  let done = false
  req.pipe(preq)
  req.on('error', () => preq.destroy())
  // A client gone before its request was complete: the upstream must see the
  // request cut short too, not a complete one.
  req.on('close', () => {
    if (!req.complete) {
      stats.client_aborts++
      preq.destroy()
    }
  })
  res.on('close', () => {
    if (!done) preq.destroy()
  })
  preq.on('error', (err) => {
    if (done) return
    done = true
    stats.upstream_errors++
    entry.outcome = `upstream_error: ${err.code || err.message}`
    if (!res.headersSent && !res.destroyed) {
      const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>BadGateway</Code><Message>faultproxy: upstream ${xmlEscape(err.message)}</Message></Error>`
      res.writeHead(502, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body), Connection: 'close' })
      res.end(body)
    } else {
      res.destroy()
    }
  })
  preq.on('response', (pres) => {
    const len = pres.headers['content-length'] !== undefined ? Number(pres.headers['content-length']) : undefined
    const chunked = /chunked/i.test(pres.headers['transfer-encoding'] || '')
    const hasBody =
      req.method !== 'HEAD' && pres.statusCode !== 204 && pres.statusCode !== 304 && (len > 0 || (len === undefined && chunked))
    pres.on('error', () => res.destroy())
    if (fate === 'midbody' && !hasBody) {
      // The lost acknowledgement: the store did it, the client never hears.
      done = true
      stats.injected.lost_ack++
      entry.outcome = 'lost_ack'
      pres.resume()
      res.socket ? res.socket.destroy() : res.destroy()
      return
    }
    if (fate === 'truncate' && !hasBody) {
      stats.skipped.truncate_nobody++
      entry.outcome = 'truncate_nobody'
      fate = 'pass'
    }
    if (fate === 'pass') stats.passed++
    const cut = fate === 'midbody' || fate === 'truncate'
    if (cut) {
      stats.injected[fate]++
      entry.outcome = fate
    }
    // Half of a known length; half of the first chunk of a chunked one.
    let limit = !cut ? Infinity : len !== undefined ? Math.floor(len / 2) : undefined
    res.writeHead(pres.statusCode, pres.statusMessage, filterRaw(pres.rawHeaders, HOP))
    let sent = 0
    const finishCut = (last) => {
      done = true
      pres.destroy()
      const socket = res.socket
      const close = () => {
        if (!socket || socket.destroyed) return
        if (fate === 'midbody') resetSocket(socket, 20)
        else {
          socket.end()
          setTimeout(() => socket.destroy(), 5000).unref()
        }
      }
      if (last && last.length > 0) res.write(last, close)
      else {
        res.flushHeaders()
        setTimeout(close, 10)
      }
    }
    if (cut && limit === 0) return finishCut(null)
    if (!cut && config.rate_mib_s > 0) return pace(pres, res, config.rate_mib_s, () => (done = true))
    pres.on('data', (chunk) => {
      if (done) return
      if (limit === undefined) limit = Math.max(1, Math.floor(chunk.length / 2))
      if (cut && sent + chunk.length >= limit) {
        const last = chunk.subarray(0, limit - sent)
        sent = limit
        return finishCut(last)
      }
      sent += chunk.length
      if (!res.write(chunk)) pres.pause()
    })
    res.on('drain', () => pres.resume())
    pres.on('end', () => {
      if (done) return
      if (cut) return finishCut(null)
      done = true
      res.end()
    })
  })
}

// A passed body paced at rate MiB/s: each piece goes out when the bytes
// before it would have at that rate, in order, with the upstream paused
// while pieces wait.
function pace(pres, res, rate, finished) {
  const perMs = (rate * 1048576) / 1000
  const start = Date.now()
  const queue = []
  let written = 0
  let ended = false
  let timer = null
  const pump = () => {
    timer = null
    while (queue.length > 0) {
      const wait = start + (written + queue[0].length) / perMs - Date.now()
      if (wait >= 1) {
        timer = setTimeout(pump, wait)
        return
      }
      const piece = queue.shift()
      written += piece.length
      if (!res.write(piece)) return // 'drain' pumps again
    }
    if (ended) {
      finished()
      res.end()
    } else pres.resume()
  }
  pres.on('data', (piece) => {
    queue.push(piece)
    pres.pause()
    if (!timer) pump()
  })
  res.on('drain', () => {
    if (!timer) pump()
  })
  pres.on('end', () => {
    ended = true
    if (!timer && queue.length === 0) pump()
  })
}

// Stall: read the request, forward nothing, answer nothing, close later.
function stall(req, res, cfg, expectsContinue) {
  const socket = req.socket
  if (expectsContinue) res.writeContinue()
  req.on('error', () => {})
  req.resume()
  const timer = setTimeout(() => socket.destroy(), cfg.stall_s * 1000)
  socket.on('close', () => clearTimeout(timer))
}

function sendJson(res, status, obj) {
  const body = JSON.stringify(obj) + '\n'
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) })
  res.end(body)
}
function statsSnapshot() {
  const total = Object.values(stats.injected).reduce((a, b) => a + b, 0) - stats.injected.latency
  return {
    ...stats,
    total_injected: total,
    inflight,
    blackout_remaining_ms: Math.max(0, blackoutUntil - Date.now()),
  }
}
function control(req, res, pathname, expectsContinue) {
  stats.control++
  if (expectsContinue) res.writeContinue()
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    const route = `${req.method} ${pathname}`
    if (route === 'GET /__proxy/stats') return sendJson(res, 200, statsSnapshot())
    if (route === 'GET /__proxy/config') return sendJson(res, 200, config)
    if (route === 'GET /__proxy/log') return sendJson(res, 200, log)
    if (route === 'POST /__proxy/reset') {
      stats = freshStats()
      seqs = new Map()
      log = []
      return sendJson(res, 200, {})
    }
    if (route === 'POST /__proxy/config') {
      let patch
      try {
        patch = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}')
        setConfig(patch)
      } catch (err) {
        return sendJson(res, 400, { error: err.message })
      }
      return sendJson(res, 200, config)
    }
    sendJson(res, 404, { error: `no control endpoint ${route}` })
  })
}

async function handle(req, res, expectsContinue) {
  const q = req.url.indexOf('?')
  const rawPath = q >= 0 ? req.url.slice(0, q) : req.url
  if (rawPath.startsWith(CONTROL)) return control(req, res, rawPath, expectsContinue)

  const cfg = config
  stats.seen++
  stats.by_method[req.method] = (stats.by_method[req.method] || 0) + 1
  inflight++
  res.on('close', () => inflight--)
  let part = ''
  if (q >= 0) {
    const p = new URLSearchParams(req.url.slice(q + 1)).get('partNumber')
    if (p !== null) part = p
  }
  const key = [req.method, rawPath, part]
  const k = key.join('\0')
  const i = seqs.get(k) || 0
  seqs.set(k, i + 1)
  const applies =
    (!cfg.methods || cfg.methods.includes(req.method)) && (cfg.path_contains === null || rawPath.includes(cfg.path_contains))
  let fate = 'pass'
  let delay = 0
  if (applies) {
    fate = Date.now() < blackoutUntil ? 'blackout' : pickFate(cfg, key, i)
    delay = fate === 'blackout' ? 0 : latencyFor(cfg, key, i)
  }
  const entry = { n: stats.seen, method: req.method, path: rawPath, part, i, fate }
  if (delay > 0) entry.latency_ms = delay
  if (log.length < LOG_MAX) log.push(entry)

  if (delay > 0) {
    stats.injected.latency++
    await new Promise((resolve) => setTimeout(resolve, delay))
    if (req.socket.destroyed) return
  }
  switch (fate) {
    case 'blackout':
      stats.injected.blackout++
      if (cfg.blackout_mode === '503') return sendError(req, res, cfg, 'err503', expectsContinue)
      return resetSocket(req.socket)
    case 'reset':
      stats.injected.reset++
      return resetSocket(req.socket)
    case 'err503':
    case 'err500':
    case 'expired':
    case 'badsig':
      stats.injected[fate]++
      return sendError(req, res, cfg, fate, expectsContinue)
    case 'stall':
      stats.injected.stall++
      return stall(req, res, cfg, expectsContinue)
    default:
      return forward(req, res, fate, entry, expectsContinue)
  }
}

function main() {
  const initial = opt('--config')
  if (initial) {
    try {
      const text = initial.startsWith('@') ? fs.readFileSync(initial.slice(1), 'utf8') : initial
      setConfig(JSON.parse(text))
    } catch (err) {
      usage(`bad --config: ${err.message}`)
    }
  }
  const server = http.createServer()
  // Requests may be stalled or slow for minutes; the client decides when to
  // give up. keepAliveTimeout only runs between requests.
  server.requestTimeout = 0
  server.headersTimeout = 180000
  server.timeout = 0
  server.keepAliveTimeout = 30000
  server.on('request', (req, res) => handle(req, res, false))
  server.on('checkContinue', (req, res) => handle(req, res, true))
  server.on('clientError', (err, socket) => socket.destroy())
  server.listen(Number(opt('--port') || 0), '127.0.0.1', () => {
    const port = server.address().port
    console.log(`faultproxy listening on 127.0.0.1:${port} -> ${upstream.host}:${upstream.port}`)
    const ready = opt('--ready')
    if (ready) {
      fs.writeFileSync(ready + '.tmp', `${port}\n`)
      fs.renameSync(ready + '.tmp', ready)
    }
  })
  const stop = () => {
    server.close()
    server.closeAllConnections()
    agent.destroy()
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
}

main()
