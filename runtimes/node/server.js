'use strict';
// faas-gateway Node runtime: runs one user handler as an HTTP service, a job or a check.
//
// Core modules only (the image must build with no package registry reachable).
//
// Modes (FAAS_MODE):
//   service (default)  require the handler, then serve HTTP on 0.0.0.0:$PORT
//   job                call the handler once with the event from FAAS_EVENT / FAAS_EVENT_FILE and
//                      print a JSON response document as the last line of stdout
//   check              require the handler and resolve the function, print nothing, exit 0 or 1

const fs = require('fs');
const http = require('http');
const path = require('path');
const util = require('util');

const os = require('os');
const HEALTH_PATH = '/_/health';
const DEADLINE_HEADER = 'x-faas-deadline-ms'; // internal, never shown to the handler
const KEEPALIVE_TIMEOUT_MS = 75000; // > 65 s so the gateway's pool closes idle sockets first
const TERMINATION_LOG = '/dev/termination-log';

function parseIntOrNull(value) {
  return typeof value === 'string' && /^\s*[-+]?\d+\s*$/.test(value) ? parseInt(value, 10) : null;
}

function envInt(name, dflt) {
  const v = parseIntOrNull(process.env[name]);
  return v === null ? dflt : v;
}

const CODE_DIR = path.resolve(process.env.FAAS_CODE_DIR || '/app'); // before any chdir
const HANDLER = process.env.FAAS_HANDLER || 'handler.handle';
const FUNCTION = process.env.FAAS_FUNCTION || '';
const REVISION = envInt('FAAS_REVISION', 0);
const MEMORY_MB = envInt('FAAS_MEMORY_MB', 0);
const TIMEOUT_MS = envInt('FAAS_TIMEOUT_MS', 30000);

// The return value could not be turned into a response (a FUNCTION_ERROR, not a crash).
class FunctionError extends Error {}
FunctionError.prototype.name = 'FunctionError';

// ---------------------------------------------------------------------------------------------
// Handler loading

// `pkg.mod.handle` -> require(CODE_DIR/pkg/mod) and take its `handle` export. Throws on failure.
function loadHandler() {
  const dot = HANDLER.lastIndexOf('.');
  const parts = HANDLER.slice(0, Math.max(dot, 0)).split('.');
  const fnName = HANDLER.slice(dot + 1);
  if (dot <= 0 || !fnName || parts.some((p) => !p || /[/\\]/.test(p))) {
    throw new Error(`FAAS_HANDLER must be module.function, got ${JSON.stringify(HANDLER)}`);
  }
  const file = path.resolve(CODE_DIR, ...parts);
  const mod = require(file);
  const fn = mod == null ? undefined : mod[fnName];
  if (typeof fn !== 'function') {
    throw new TypeError(`module '${parts.join('.')}' (${file}.js) does not export a function ` +
      `'${fnName}' (FAAS_HANDLER=${HANDLER})`);
  }
  return fn;
}

function makeContext(requestId, deadlineMs) {
  return {
    request_id: requestId,
    function: FUNCTION,
    revision: REVISION,
    deadline_ms: deadlineMs === null ? Date.now() + TIMEOUT_MS : deadlineMs,
    memory_mb: MEMORY_MB,
  };
}

// obj[key] = value, or append to what is there; defineProperty so a `__proto__` key is data.
function addValue(obj, key, value, join) {
  let v = value;
  if (Object.prototype.hasOwnProperty.call(obj, key)) {
    const old = obj[key];
    v = join ? old + join + value : Array.isArray(old) ? old.concat([value]) : [old, value];
  }
  Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
}

// ---------------------------------------------------------------------------------------------
// Return value -> {status, headers: [[name, value]], body: Buffer, binary}; used by both modes

function isBinary(v) {
  return v instanceof Uint8Array || v instanceof ArrayBuffer; // Buffer is a Uint8Array
}

function toBuffer(v) {
  if (v instanceof ArrayBuffer) return Buffer.from(v);
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

function toJson(value) {
  const text = JSON.stringify(value === undefined ? null : value);
  if (text === undefined) throw new FunctionError(`a ${typeof value} is not JSON-serialisable`);
  return Buffer.from(text, 'utf8');
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const TEXT = 'text/plain; charset=utf-8';
const OCTETS = 'application/octet-stream';
const JSON_TYPE = 'application/json';

function buildResponse(result) {
  if (result !== null && typeof result === 'object' && !Array.isArray(result) &&
      !isBinary(result) && 'statusCode' in result) {
    const status = result.statusCode;
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      throw new FunctionError(`statusCode must be an integer from 200 to 599, got ${util.inspect(status)}`);
    }
    const raw = result.headers == null ? {} : result.headers;
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new FunctionError('headers must be an object');
    const headers = [];
    for (const [name, value] of Object.entries(raw)) {
      http.validateHeaderName(name); // throws TypeError on bad names/values: no header injection
      const lower = name.toLowerCase();
      if (lower === 'content-length' || lower === 'transfer-encoding') continue; // framing is ours
      for (const v of Array.isArray(value) ? value : [value]) {
        if (typeof v !== 'string' && typeof v !== 'number') {
          throw new FunctionError(`header '${name}' must be a string or a list of strings`);
        }
        http.validateHeaderValue(name, String(v));
        headers.push([name, String(v)]);
      }
    }
    const body = result.body;
    let data;
    let type;
    if (result.is_base64) {
      if (typeof body !== 'string' || !BASE64.test(body)) {
        throw new FunctionError('is_base64 is set but body is not a valid base64 string');
      }
      [data, type] = [Buffer.from(body, 'base64'), OCTETS];
    } else if (body === undefined || body === null) {
      [data, type] = [Buffer.alloc(0), TEXT];
    } else if (typeof body === 'string') {
      [data, type] = [Buffer.from(body, 'utf8'), TEXT];
    } else if (isBinary(body)) {
      [data, type] = [toBuffer(body), OCTETS];
    } else {
      [data, type] = [toJson(body), JSON_TYPE];
    }
    if (!headers.some(([n]) => n.toLowerCase() === 'content-type')) headers.push(['Content-Type', type]);
    return { status, headers, body: data, binary: type === OCTETS };
  }
  if (typeof result === 'string') {
    return { status: 200, headers: [['Content-Type', TEXT]], body: Buffer.from(result, 'utf8'), binary: false };
  }
  if (isBinary(result)) {
    return { status: 200, headers: [['Content-Type', OCTETS]], body: toBuffer(result), binary: true };
  }
  return { status: 200, headers: [['Content-Type', JSON_TYPE]], body: toJson(result), binary: false };
}

function errorMessage(err) {
  if (err instanceof Error || util.types.isNativeError(err)) return `${err.name}: ${err.message}`;
  let text;
  try {
    text = String(err);
  } catch (_) {
    text = util.inspect(err);
  }
  return `Error: ${text}`;
}

function logError(err) {
  // The stack goes to stderr, which is the function's log.
  console.error(err instanceof Error && err.stack ? err.stack : util.inspect(err));
}

function errorResponse(err) {
  const body = toJson({ error: { code: 'FUNCTION_ERROR', message: errorMessage(err) } });
  return {
    status: 500,
    headers: [['Content-Type', JSON_TYPE], ['X-Faas-Error', 'FUNCTION_ERROR']],
    body,
    binary: false,
  };
}

// ---------------------------------------------------------------------------------------------
// Service mode

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }); // keep a BOM, like Python

function buildEvent(req, body) {
  const q = req.url.indexOf('?');
  const query = {};
  for (const [k, v] of new URLSearchParams(q === -1 ? '' : req.url.slice(q + 1))) {
    addValue(query, k, v, null);
  }
  // rawHeaders rather than req.headers: Node drops duplicates of some headers (user-agent, ...).
  const headers = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    addValue(headers, name, req.rawHeaders[i + 1], name === 'cookie' ? '; ' : ', ');
  }
  delete headers[DEADLINE_HEADER];
  let text;
  let isBase64 = false;
  try {
    text = utf8.decode(body);
  } catch (_) {
    [text, isBase64] = [body.toString('base64'), true];
  }
  return {
    method: req.method,
    path: q === -1 ? req.url : req.url.slice(0, q),
    query,
    headers,
    body: text,
    is_base64: isBase64,
  };
}

function send(req, res, { status, headers, body }) {
  const out = Object.create(null); // repeated headers as arrays: one line per element
  const spelling = Object.create(null); // the handler's spelling of each header name
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (!(lower in spelling)) spelling[lower] = name;
    const key = spelling[lower];
    out[key] = key in out ? [].concat(out[key], value) : value;
  }
  const noBody = status === 204 || status === 304;
  if (!noBody) out['Content-Length'] = body.length;
  // writeHead + end(body): Node sends head and body in one write (no Nagle stall).
  res.writeHead(status, out);
  res.end(noBody || req.method === 'HEAD' ? undefined : body);
}

function serve(fn) {
  const server = http.createServer((req, res) => {
    const q = req.url.indexOf('?');
    if (req.method === 'GET' && (q === -1 ? req.url : req.url.slice(0, q)) === HEALTH_PATH) {
      // The hostname is the container id (Docker) or pod name (Kubernetes): the gateway checks
      // it, so an address reused by another instance is never taken for this one.
      const headers = [['Content-Type', JSON_TYPE], ['X-Faas-Instance', os.hostname()]];
      send(req, res, { status: 200, headers, body: Buffer.from('{"status":"ok"}') });
      return;
    }
    const chunks = []; // Node has already de-chunked a Transfer-Encoding: chunked body
    req.on('data', (c) => chunks.push(c));
    req.on('error', () => res.destroy()); // client went away mid-body
    req.on('end', async () => {
      const event = buildEvent(req, Buffer.concat(chunks));
      const context = makeContext(event.headers['x-request-id'] || '',
        parseIntOrNull(req.headers[DEADLINE_HEADER]));
      let response;
      try {
        response = buildResponse(await fn(event, context));
      } catch (err) {
        logError(err);
        response = errorResponse(err);
      }
      try {
        if (!res.destroyed) send(req, res, response);
      } catch (err) { // should not happen (headers are validated): never leave the client hanging
        logError(err);
        res.destroy();
      }
    });
  });
  server.keepAliveTimeout = KEEPALIVE_TIMEOUT_MS;
  server.headersTimeout = KEEPALIVE_TIMEOUT_MS + 5000; // must exceed keepAliveTimeout
  server.requestTimeout = 0; // the gateway enforces deadlines; don't cut long streamed bodies
  server.on('connection', (socket) => socket.setNoDelay(true));
  server.listen(envInt('PORT', 8080), '0.0.0.0');
}

// ---------------------------------------------------------------------------------------------
// Job and check modes

// Remembers whether stdout ended mid-line, so the response document gets a line of its own.
function trackStdout() {
  const state = { atLineStart: true };
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk, ...rest) => {
    if (chunk && chunk.length) {
      state.atLineStart = typeof chunk === 'string' ? chunk.endsWith('\n') : chunk[chunk.length - 1] === 10;
    }
    return write(chunk, ...rest);
  };
  state.write = write;
  return state;
}

function responseDocument({ status, headers, body, binary }) {
  // {name: value} with string values: lower-case names, a repeated header joined with ", ".
  const docHeaders = {};
  for (const [name, value] of headers) addValue(docHeaders, name.toLowerCase(), value, ', ');
  return {
    statusCode: status,
    headers: docHeaders,
    body: binary ? body.toString('base64') : body.toString('utf8'),
    is_base64: binary,
  };
}

function finishJob(stdout, response, code) {
  // ASCII-only JSON: the line survives any stdout encoding or locale.
  const line = JSON.stringify(responseDocument(response))
    .replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (fs.existsSync(TERMINATION_LOG)) {
    try {
      fs.writeFileSync(TERMINATION_LOG, line);
    } catch (_) { /* best effort: stdout carries the same document */ }
  }
  // Exit once stdout is flushed; explicit exit so timers or sockets the handler left open
  // cannot keep the job alive.
  stdout.write(`${stdout.atLineStart ? '' : '\n'}${line}\n`, () => process.exit(code));
}

async function runJob() {
  const stdout = trackStdout();
  let response;
  let code = 0;
  try {
    const fn = loadHandler();
    let event = {};
    if (process.env.FAAS_EVENT !== undefined) {
      event = JSON.parse(process.env.FAAS_EVENT);
    } else if (process.env.FAAS_EVENT_FILE) {
      event = JSON.parse(fs.readFileSync(process.env.FAAS_EVENT_FILE, 'utf8'));
    }
    const context = makeContext(process.env.FAAS_REQUEST_ID || '',
      parseIntOrNull(process.env.FAAS_DEADLINE_MS));
    response = buildResponse(await fn(event, context));
  } catch (err) {
    logError(err);
    [response, code] = [errorResponse(err), 1];
  }
  finishJob(stdout, response, code);
}

function main() {
  const mode = process.env.FAAS_MODE || 'service';
  if (!['service', 'job', 'check'].includes(mode)) {
    console.error(`unknown FAAS_MODE '${mode}' (expected service, job or check)`);
    process.exit(2);
  }
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
  // A stray rejected promise would otherwise kill the whole instance (Node >= 15): log it.
  process.on('unhandledRejection', (reason) => {
    console.error('unhandled promise rejection:');
    logError(reason);
  });
  try {
    process.chdir(CODE_DIR); // relative paths in user code resolve against its own files
  } catch (_) { /* keep the current directory */ }
  if (mode === 'job') {
    runJob();
    return;
  }
  const stdoutWrite = process.stdout.write;
  if (mode === 'check') {
    // check prints nothing on stdout, even if the module logs at load time.
    process.stdout.write = process.stderr.write.bind(process.stderr);
  }
  let fn;
  try {
    fn = loadHandler();
  } catch (err) {
    logError(err);
    process.exit(1);
  }
  process.stdout.write = stdoutWrite;
  if (mode === 'check') process.exit(0);
  serve(fn);
}

main();
