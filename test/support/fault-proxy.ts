/**
 * A fault-injecting reverse proxy on loopback between the client and the registry. It forwards every request on its
 * own upstream connection and counts body bytes per direction and per request, and on demand: cuts the connection
 * after N body bytes (both sockets destroyed, as a dropped link does), stalls (stops forwarding, holds the socket),
 * forwards the body at a capped rate (throttle), or answers itself (503, 429 with Retry-After, 401 with the
 * registry's challenge) without forwarding anything, or rewrites the registry's answer (headers: a Location sent to
 * another host; body: a manifest naming digests that are not digests). With `tls` it speaks https in front of the
 * plain-http registry, as a TLS-terminating front end does.
 * The Host header is passed through, so the registry's Location URLs point back at the proxy.
 */

import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders, request, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';

export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
}

export type Fault =
  | { readonly kind: 'cut'; readonly afterBytes: number }
  | { readonly kind: 'stall'; readonly afterBytes: number }
  /** Forwards the request body at this rate, as a slow uplink does. */
  | { readonly kind: 'throttle'; readonly bytesPerSecond: number }
  /** Stops forwarding the request body after `afterBytes`, calls `onHold`, and goes on when `until` settles. */
  | { readonly kind: 'hold'; readonly afterBytes: number; readonly until: Promise<void>; readonly onHold?: () => void }
  | {
      readonly kind: 'respond';
      readonly status: number;
      readonly headers?: Record<string, string>;
      readonly body?: string | Buffer;
    }
  /**
   * Forward, then change the registry's response headers (a Location sent to another host) and/or its body (a
   * manifest naming digests that are not digests) before the client sees them.
   */
  | {
      readonly kind: 'rewrite';
      readonly headers?: (h: IncomingHttpHeaders) => OutgoingHttpHeaders;
      readonly body?: (original: Buffer) => Buffer | string;
    };

interface Rule {
  readonly when: (req: ProxiedRequest) => boolean;
  readonly fault: Fault | ((req: ProxiedRequest) => Fault | undefined);
  times: number;
}

export interface RequestRecord extends ProxiedRequest {
  /** Request body bytes that reached the registry. */
  sent: number;
  /** Response body bytes that reached the client. */
  received: number;
  status?: number;
  fault?: Fault['kind'];
}

export interface FaultProxy {
  /** `127.0.0.1:PORT` */
  readonly host: string;
  readonly requests: RequestRecord[];
  /** Body bytes forwarded to the registry, by all requests so far. */
  uploaded(filter?: (r: RequestRecord) => boolean): number;
  /** Injects `fault` into the next `times` requests matching `when` (a function fault may decline with undefined). */
  inject(when: (req: ProxiedRequest) => boolean, fault: Rule['fault'], times?: number): void;
  clearFaults(): void;
  close(): Promise<void>;
}

export async function startFaultProxy(
  upstreamPort: number,
  opts: { readonly tls?: { readonly cert: string; readonly key: string } } = {},
): Promise<FaultProxy> {
  const rules: Rule[] = [];
  const requests: RequestRecord[] = [];

  const pickFault = (req: ProxiedRequest): Fault | undefined => {
    for (const rule of rules) {
      if (rule.times <= 0 || !rule.when(req)) continue;
      const fault = typeof rule.fault === 'function' ? rule.fault(req) : rule.fault;
      if (!fault) continue;
      rule.times--;
      return fault;
    }
    return undefined;
  };

  const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    const seen: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers };
    const record: RequestRecord = { ...seen, sent: 0, received: 0 };
    requests.push(record);
    const fault = pickFault(seen);
    if (fault) record.fault = fault.kind;
    if (fault?.kind === 'respond') {
      // Answer without reading the body, as a busy front end does; the client sees the status or a reset.
      record.status = fault.status;
      res.writeHead(fault.status, { 'content-type': 'application/json', connection: 'close', ...fault.headers });
      res.end(fault.body ?? '{"errors":[{"code":"UNAVAILABLE","message":"injected by the fault proxy"}]}');
      req.resume();
      return;
    }
    const upstream = request({
      host: '127.0.0.1',
      port: upstreamPort,
      method: req.method,
      path: req.url,
      headers: req.headers,
      agent: false,
    });
    let interrupted = false;
    let released = false;
    let holding = false;
    const pending: Buffer[] = [];
    const kill = () => {
      upstream.destroy();
      req.socket.destroy();
    };
    upstream.on('error', () => req.socket.destroy());
    req.on('error', () => upstream.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    upstream.on('response', (up) => {
      record.status = up.statusCode;
      const headers = fault?.kind === 'rewrite' && fault.headers ? fault.headers(up.headers) : up.headers;
      const rewriteBody = fault?.kind === 'rewrite' ? fault.body : undefined;
      if (rewriteBody) {
        const chunks: Buffer[] = [];
        up.on('data', (d: Buffer) => chunks.push(d));
        up.on('end', () => {
          const body = Buffer.from(rewriteBody(Buffer.concat(chunks)));
          record.received = body.length;
          res.writeHead(up.statusCode ?? 502, { ...headers, 'content-length': String(body.length) });
          res.end(body);
        });
        return;
      }
      res.writeHead(up.statusCode ?? 502, headers);
      up.on('data', (d: Buffer) => {
        record.received += d.length;
      });
      up.pipe(res);
    });
    req.on('data', (d: Buffer) => {
      if (holding) {
        // A drain may resume the request while it is held: keep what arrives until the hold ends.
        pending.push(d);
        req.pause();
        return;
      }
      if (fault?.kind === 'hold' && !released && record.sent + d.length > fault.afterBytes) {
        released = true;
        holding = true;
        const head = d.subarray(0, Math.max(0, fault.afterBytes - record.sent));
        pending.push(d.subarray(head.length));
        record.sent += head.length;
        if (head.length > 0) upstream.write(head);
        req.pause();
        fault.onHold?.();
        fault.until.then(() => {
          holding = false;
          for (const p of pending.splice(0)) {
            record.sent += p.length;
            upstream.write(p);
          }
          req.resume();
        });
        return;
      }
      if (fault && (fault.kind === 'cut' || fault.kind === 'stall') && record.sent + d.length > fault.afterBytes) {
        interrupted = true;
        const head = d.subarray(0, Math.max(0, fault.afterBytes - record.sent));
        record.sent += head.length;
        if (head.length > 0) upstream.write(head);
        if (fault.kind === 'cut') {
          // Let the registry read what got through before the link dies.
          setTimeout(kill, 50);
        } else {
          req.pause();
          req.removeAllListeners('data');
        }
        return;
      }
      record.sent += d.length;
      if (fault?.kind === 'throttle') {
        upstream.write(d);
        req.pause();
        setTimeout(() => req.resume(), (d.length * 1000) / fault.bytesPerSecond);
        return;
      }
      if (!upstream.write(d)) {
        req.pause();
        upstream.once('drain', () => req.resume());
      }
    });
    req.on('end', () => {
      if (!interrupted) upstream.end();
    });
  };
  const server: Server = opts.tls
    ? (createTlsServer(
        { cert: readFileSync(opts.tls.cert), key: readFileSync(opts.tls.key) },
        handler,
      ) as unknown as Server)
    : createServer(handler);
  server.keepAliveTimeout = 1000;
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    requests,
    uploaded: (filter) => requests.filter(filter ?? (() => true)).reduce((n, r) => n + r.sent, 0),
    inject(when, fault, times = 1) {
      rules.push({ when, fault, times });
    },
    clearFaults() {
      rules.length = 0;
    },
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** Matches the PATCH requests of blob uploads. */
export const isUploadPatch = (r: ProxiedRequest): boolean => r.method === 'PATCH' && r.path.includes('/blobs/uploads/');
