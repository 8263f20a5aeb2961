/**
 * The operator's listeners (made in main.ts): the resolver API (HTTPS, sidecars), the admission
 * webhooks (HTTPS, the apiserver) and the probes and metrics (HTTP). Every one is made here, with
 * the same protections, so that nothing a caller sends before it is authenticated can hold the
 * operator's memory past a bound or hold a connection for ever:
 * - timeouts: the headers (and the TLS handshake) within `headersTimeoutMs`, the whole request
 *   within `requestTimeoutMs`, an idle keep-alive connection closed after `idleTimeoutMs`;
 * - at most `maxConnections` connections open at once (more are closed as they arrive);
 * - request headers of at most MAX_HEADER_BYTES each;
 * - request bodies read only through `readBody`, against a per-request limit and the listener's
 *   `BodyBudget`: the bytes of bodies being read, across the listener, never exceed `bodyBytes`.
 * So what callers can make a listener hold is at most
 *   maxConnections x (MAX_HEADER_BYTES + a connection's own buffers) + bodyBytes
 * (docs/failure-modes.md: the numbers, and the flood they were measured under).
 */
import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer, type ServerOptions as HttpsOptions } from 'node:https';
import type { Duplex } from 'node:stream';

/**
 * How long the webhook listener keeps an idle connection open, at least: longer than its client
 * keeps one, so that the client always closes first. The kube-apiserver calls webhooks through
 * Go's HTTP client, which keeps idle connections for 90 s (apimachinery's transport defaults) and
 * sends the next call on one. With Node's default (5 s), every admission after a pause paid a new
 * TCP connection and TLS handshake, and a call sent just as Node closed the connection failed with
 * "connection reset by peer", which failurePolicy Fail turns into a refused create.
 */
export const APISERVER_IDLE_CONNECTION_MS = 90_000;

/** Largest request head (request line and headers) a listener reads: Node's default, stated so the bound above can name it. */
export const MAX_HEADER_BYTES = 16 * 1024;

/** How often Node checks the header and request timeouts of open connections (its default, 30 s, would let a 10 s timeout run to 40 s). */
const TIMEOUT_CHECK_MS = 1000;

/** The protections of one listener. */
export interface ListenerLimits {
  /** The TLS handshake and the request's headers must arrive within this, ms. */
  headersTimeoutMs: number;
  /** The whole request, body included, must arrive within this, ms (an answer may take longer: a change stream lasts). */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this, ms. */
  idleTimeoutMs: number;
  /** Most connections open at once; more are closed as they arrive. */
  maxConnections: number;
  /** Most request-body bytes held at once across the listener; 0: the listener takes no body. */
  bodyBytes: number;
}

/** Why a listener refused something, as its metric labels it. */
export type Refusal = 'connections' | 'timeout' | 'bad-request' | 'too-large' | 'body-budget' | 'wrong-port';

/** What a listener tells (its metrics: http/metrics.ts). */
export interface ListenerEvents {
  /** Bytes of request bodies held now, across the listener. */
  bodyBytes(inFlight: number): void;
  refused(reason: Refusal): void;
}

/**
 * The request-body bytes one listener holds, across all its requests. Bytes are taken as they
 * arrive and given back when the body is complete (the handler has it) or its request dies.
 */
export class BodyBudget {
  private held = 0;

  constructor(
    /** Most bytes held at once. */
    readonly capacity: number,
    private readonly events: ListenerEvents = { bodyBytes: () => undefined, refused: () => undefined },
  ) {}

  /** Counts a body refused against this budget (or its request's limit). */
  refused(reason: 'too-large' | 'body-budget'): void {
    this.events.refused(reason);
  }

  /** Bytes held now. */
  get inFlight(): number {
    return this.held;
  }

  /** Bytes that may still be taken. */
  get available(): number {
    return this.capacity - this.held;
  }

  /** Takes `bytes` if that many are left (and says so). */
  take(bytes: number): boolean {
    if (bytes > this.available) return false;
    this.held += bytes;
    this.events.bodyBytes(this.held);
    return true;
  }

  /** Gives back `bytes` taken earlier. */
  give(bytes: number): void {
    if (bytes === 0) return;
    this.held -= bytes;
    this.events.bodyBytes(this.held);
  }
}

/** A listener: its server (not yet listening) and the budget its bodies are read against. */
export interface Listener<S extends HttpServer | HttpsServer> {
  server: S;
  bodies: BodyBudget;
}

/** Node's answers to a request it could not parse or that timed out (what it writes when no 'clientError' listener exists). */
const CLIENT_ERROR_ANSWERS: Record<string, string> = {
  ERR_HTTP_REQUEST_TIMEOUT: 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n',
  HPE_HEADER_OVERFLOW: 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n',
};

function guard<S extends HttpServer | HttpsServer>(server: S, limits: ListenerLimits, events: ListenerEvents): Listener<S> {
  server.maxConnections = limits.maxConnections;
  server.on('drop', () => events.refused('connections'));
  // What Node does without a listener, and counted: a timed-out or malformed request is answered
  // (when nothing was written yet) and its connection closed, which gives back its body's bytes.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const code = err.code ?? '';
    events.refused(code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'timeout' : code === 'HPE_HEADER_OVERFLOW' ? 'too-large' : 'bad-request');
    // As Node: an answer only where none has begun on this connection.
    const answering = (socket as { _httpMessage?: { _headerSent?: boolean } })._httpMessage;
    if (socket.writable && answering?._headerSent !== true) socket.write(CLIENT_ERROR_ANSWERS[code] ?? 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    socket.destroy();
  });
  return { server, bodies: new BodyBudget(limits.bodyBytes, events) };
}

function httpOptions(limits: ListenerLimits) {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.idleTimeoutMs,
    connectionsCheckingInterval: TIMEOUT_CHECK_MS,
    maxHeaderSize: MAX_HEADER_BYTES,
  };
}

/**
 * A plain HTTP listener for `handler`. Its budget is 0 unless `limits` say otherwise: a request
 * with a body is refused (413) before the handler sees it.
 */
export function plainListener(limits: ListenerLimits, events: ListenerEvents, handler: RequestListener): Listener<HttpServer> {
  const listener = guard(createHttpServer(httpOptions(limits)), limits, events);
  listener.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (limits.bodyBytes === 0 && hasBody(req)) {
      events.refused('too-large');
      refuse(res, 413, { error: { code: 'PAYLOAD_TOO_LARGE', message: 'this endpoint takes no request body' } });
      return;
    }
    handler(req, res);
  });
  return listener;
}

/**
 * An HTTPS listener; it serves once it has a certificate (`setSecureContext`, which is also how a
 * renewed one is swapped in). `tls`: more TLS options (client-certificate verification).
 */
export function secureListener(limits: ListenerLimits, events: ListenerEvents, tls: HttpsOptions = {}): Listener<HttpsServer> {
  return guard(createHttpsServer({ ...tls, ...httpOptions(limits), handshakeTimeout: limits.headersTimeoutMs }), limits, events);
}

/** Whether a request says it carries a body. */
function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/**
 * Answers `status` with a JSON body and closes the connection, without reading the request's
 * body: what is left of it is never held (Node discards it until the connection closes).
 */
export function refuse(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), connection: 'close' });
  res.end(text);
}

/** Why a body was not read: 413 over the request's limit, 503 over what the listener has left, 400 when the request ended early. */
export interface BodyRefusal {
  status: 400 | 413 | 503;
  message: string;
}

/**
 * Reads a request's body, at most `limit` bytes, against the listener's budget. On a refusal the
 * answer (written by the caller) closes the connection (`Connection: close` is set here) and no
 * more of the body is read; the bytes taken are given back at once. A body larger than the
 * budget has left is refused as soon as it says so (Content-Length) or grows past it.
 */
export function readBody(req: IncomingMessage, res: ServerResponse, options: { limit: number; budget: BodyBudget }): Promise<Buffer | BodyRefusal> {
  const { limit, budget } = options;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let held = 0;
    const finish = (result: Buffer | BodyRefusal) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('close', onGone);
      budget.give(held);
      held = 0;
      if (!Buffer.isBuffer(result)) {
        res.setHeader('connection', 'close');
        req.pause();
      }
      resolve(result);
    };
    const tooLarge = (): BodyRefusal => {
      budget.refused('too-large');
      return { status: 413, message: `the request body is larger than ${limit} bytes` };
    };
    const overBudget = (): BodyRefusal => {
      budget.refused('body-budget');
      return { status: 503, message: 'the server holds as many request bytes as it may; try again' };
    };
    const onData = (chunk: Buffer) => {
      if (held + chunk.length > limit) return finish(tooLarge());
      if (!budget.take(chunk.length)) return finish(overBudget());
      held += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = () => {
      // A small body comes in one chunk: no copy.
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, held);
      finish(body);
    };
    const onGone = () => finish({ status: 400, message: 'the request ended before its body' });
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return finish(tooLarge());
    if (declared > budget.available) return finish(overBudget());
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onGone);
    req.on('close', onGone);
  });
}
