// A TLS front for presignfs's tests (issue 10): https on 127.0.0.1 with the
// certificate it is given, passing every request on to the plain-HTTP test
// server unchanged (the Host header too, so URLs presigned for the front's
// address verify upstream). Built-in modules only; bodies are streamed.
//
//   node tlsfront.js --cert PEM --key PEM --upstream HOST:PORT --ready FILE [--parent PID]
//
// Writes the port it listens on to FILE; exits when PID is gone.
'use strict'
const fs = require('node:fs')
const http = require('node:http')
const https = require('node:https')

const args = process.argv.slice(2)
const opt = (name) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const [upHost, upPort] = (opt('--upstream') || '').split(':')
const ready = opt('--ready')
if (!opt('--cert') || !opt('--key') || !upPort || !ready) {
  console.error('usage: tlsfront.js --cert PEM --key PEM --upstream HOST:PORT --ready FILE')
  process.exit(2)
}
const parent = Number(opt('--parent') || 0)
if (parent) {
  setInterval(() => {
    try {
      process.kill(parent, 0)
    } catch {
      process.exit(0)
    }
  }, 500).unref()
}

const server = https.createServer(
  { cert: fs.readFileSync(opt('--cert')), key: fs.readFileSync(opt('--key')) },
  (req, res) => {
    const up = http.request(
      { host: upHost, port: Number(upPort), method: req.method, path: req.url, headers: req.headers },
      (ur) => {
        res.writeHead(ur.statusCode, ur.headers)
        ur.pipe(res)
      }
    )
    up.on('error', () => res.destroy())
    req.pipe(up)
  }
)
// A refused handshake (the client does not trust us) is the point of the
// test, not an error to report.
server.on('tlsClientError', () => {})
server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(ready, String(server.address().port))
})
