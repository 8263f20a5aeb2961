/**
 * Options of the HTTPS server that serves the resolver API and the admission webhooks (made in
 * main.ts).
 */
import type { ServerOptions } from 'node:https';

/**
 * How long the server keeps an idle connection open: longer than its clients keep one, so that
 * the client always closes first. The kube-apiserver calls webhooks through Go's HTTP client,
 * which keeps idle connections for 90 s (apimachinery's transport defaults) and sends the next
 * call on one. With Node's default (5 s), every admission after a pause paid a new TCP connection
 * and TLS handshake, and a call sent just as Node closed the connection failed with "connection
 * reset by peer", which failurePolicy Fail turns into a refused create.
 */
export const IDLE_CONNECTION_TIMEOUT_MS = 120_000;

/** For `https.createServer`. */
export const secureServerOptions: ServerOptions = { keepAliveTimeout: IDLE_CONNECTION_TIMEOUT_MS };
