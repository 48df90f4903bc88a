/**
 * The Kubernetes-compatible HTTP API. Routing follows kube-apiserver's URL scheme:
 *
 *   /api/v1/<resource>                                   cluster-scoped kinds, or all namespaces
 *   /api/v1/namespaces/<ns>/<resource>[/<name>[/<sub>]]  namespaced kinds
 *   /apis/<group>/<version>/...                          the same for named groups
 *
 * Everything but the public health and version endpoints needs a bearer token. Bodies are JSON (YAML is
 * accepted too), at most 3 MiB as kube-apiserver's default. Errors are Kubernetes Status objects.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import YAML from 'yaml';
import { Counter, Histogram } from 'prom-client';
import type { Store } from '../store/types.js';
import { isStoreError } from '../store/types.js';
import type { KubeObject, ResourceType } from '../model/types.js';
import { apiVersionOf, byResource } from '../model/registry.js';
import { logger } from '../util/log.js';
import { metricsRegistry } from '../util/metrics.js';
import type { HookRegistry } from './hooks.js';
import { RestStorage } from './rest.js';
import type { DeleteOptions, Target } from './rest.js';
import * as status from './status.js';
import { ApiError } from './status.js';
import { apiGroupDoc, apiGroupList, apiResourceList, apiVersions, versionInfo } from './discovery.js';
import { toPartialObjectMetadata, toTable } from './table.js';
import type { IncludeObject } from './table.js';
import { serveWatch } from './watch.js';
import { decodeTyped } from '../model/schema/index.js';
import type { FieldValidation } from '../model/schema/index.js';
import { JSON_PATCH, MERGE_PATCH, patchTypeOf } from './patch/index.js';
import { serveOpenApi } from './openapi-routes.js';
import { decodeProtobufBody, isProtobufContentType, PROTOBUF_MEDIA_TYPE } from './protobuf/index.js';

export const DEFAULT_MAX_REQUEST_BYTES = 3 * 1024 * 1024;

export interface ApiServerOptions {
  store: Store;
  host?: string;
  port?: number;
  /** Serve HTTPS with this certificate; without it, plain HTTP (tests only). */
  tls?: { certPem: string; keyPem: string };
  /** Accepted bearer tokens; undefined turns authentication off (tests only). */
  tokens?: Set<string>;
  hooks?: HookRegistry;
  maxRequestBytes?: number;
  /** Interval of watch bookmarks (default 10 s; tests shorten it). */
  bookmarkIntervalMs?: number;
  /** Extra readiness checks for /readyz, by name. */
  readyChecks?: Record<string, () => Promise<void>>;
}

export interface ApiServer {
  url: string;
  port: number;
  storage: RestStorage;
  close(): Promise<void>;
}

const log = logger('api');

const requestsTotal = new Counter({
  name: 'twill_api_requests_total',
  help: 'API requests by verb, resource and HTTP code.',
  labelNames: ['verb', 'resource', 'code'] as const,
  registers: [metricsRegistry],
});
const requestSeconds = new Histogram({
  name: 'twill_api_request_duration_seconds',
  help: 'API request latency by verb and resource (watches excluded).',
  labelNames: ['verb', 'resource'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [metricsRegistry],
});

interface Route {
  rt: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
}

function parseRoute(segments: string[]): Route | 'discovery' | undefined {
  let group = '';
  let version: string;
  let rest: string[];
  if (segments[0] === 'api') {
    if (segments.length < 2) return 'discovery';
    version = segments[1];
    rest = segments.slice(2);
  } else if (segments[0] === 'apis') {
    if (segments.length < 3) return 'discovery';
    group = segments[1];
    version = segments[2];
    rest = segments.slice(3);
  } else return undefined;
  if (rest.length === 0) return 'discovery';
  const lookup = (plural: string) => {
    const rt = byResource(group, plural);
    return rt && rt.version === version ? rt : undefined;
  };
  if (
    rest[0] === 'namespaces' &&
    rest.length >= 3 &&
    !(rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize'))
  ) {
    const rt = lookup(rest[2]);
    if (!rt || !rt.namespaced || rest.length > 5) return undefined;
    return { rt, namespace: rest[1], name: rest[3], subresource: rest[4] };
  }
  const rt = lookup(rest[0]);
  if (!rt || rest.length > 3) return undefined;
  if (rt.namespaced && rest.length > 1) return undefined;
  return { rt, name: rest[1], subresource: rest[2] };
}

interface Negotiated {
  table: boolean;
  partial: boolean;
}

function negotiate(accept: string | undefined): Negotiated {
  const table = !!accept && /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept);
  const partial = !!accept && !table && /as=PartialObjectMetadata/.test(accept);
  if (accept && !table && !partial) {
    const ok = accept
      .split(',')
      .some(
        (a) => /^\s*(application\/json|application\/\*|\*\/\*|application\/yaml)/.test(a) && !/as=/.test(a),
      );
    if (!ok) throw status.notAcceptable(accept);
  }
  return { table, partial };
}

async function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw status.tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw status.tooLarge(limit);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

const BODY_MEDIA_TYPES = ['application/json', 'application/yaml', PROTOBUF_MEDIA_TYPE];

/**
 * A request body in any media type kube-apiserver takes for objects: JSON, YAML, or Kubernetes protobuf (what
 * kubectl's typed commands send). expect: the endpoint's apiVersion and kind, which a protobuf envelope may leave
 * out.
 */
function parseBody(
  buf: Buffer,
  contentType: string | undefined,
  expect?: { apiVersion: string; kind: string },
): unknown {
  if (buf.length === 0) return undefined;
  const ct = (contentType || 'application/json').split(';')[0].trim().toLowerCase();
  if (!BODY_MEDIA_TYPES.includes(ct)) {
    throw status.unsupportedMediaType(ct, BODY_MEDIA_TYPES);
  }
  if (isProtobufContentType(ct)) return decodeProtobufBody(buf, expect).object;
  const text = buf.toString('utf8');
  try {
    if (ct === 'application/yaml') return YAML.parse(text);
    return JSON.parse(text);
  } catch (err) {
    throw status.badRequest(`the body of the request could not be decoded: ${(err as Error).message}`);
  }
}

function fieldValidationParam(q: URLSearchParams): FieldValidation {
  const v = q.get('fieldValidation');
  if (v === null || v === '') return 'Warn';
  if (v === 'Strict' || v === 'Warn' || v === 'Ignore') return v;
  throw status.badRequest(`fieldValidation must be one of "Ignore", "Warn", or "Strict", got "${v}"`);
}

function boolParam(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v === 'true' || v === '1';
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw status.badRequest(`invalid value for ${name}: "${v}"`);
  return Number(v);
}

function deleteOptions(q: URLSearchParams, body: unknown): DeleteOptions {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, any>;
  const opts: DeleteOptions = {};
  const grace = intParam(q, 'gracePeriodSeconds') ?? b.gracePeriodSeconds;
  if (grace !== undefined && grace !== null) opts.gracePeriodSeconds = Number(grace);
  opts.propagationPolicy = q.get('propagationPolicy') ?? b.propagationPolicy ?? undefined;
  if (b.preconditions) opts.preconditions = b.preconditions;
  opts.dryRun = q.getAll('dryRun').includes('All') || (Array.isArray(b.dryRun) && b.dryRun.includes('All'));
  return opts;
}

function tokenOk(tokens: Set<string>, header: string | undefined): boolean {
  const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!m) return false;
  const given = Buffer.from(m[1]);
  for (const t of tokens) {
    const want = Buffer.from(t);
    if (want.length === given.length && timingSafeEqual(want, given)) return true;
  }
  return false;
}

const PUBLIC_PATHS = new Set(['/healthz', '/livez', '/readyz', '/version']);

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const storage = new RestStorage(opts.store, opts.hooks ?? new Map(), log);
  const maxBytes = opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const host = opts.host ?? '127.0.0.1';
  let serverAddress = '';
  const openStreams = new Set<() => void>();

  const send = (res: http.ServerResponse, code: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };

  const health = async (path: string, q: URLSearchParams, res: http.ServerResponse) => {
    const checks: Record<string, () => Promise<void>> = { ping: async () => {} };
    if (path !== '/livez') {
      checks.store = async () => {
        await opts.store.currentRevision();
      };
      Object.assign(checks, opts.readyChecks ?? {});
    }
    const lines: string[] = [];
    let failed = false;
    for (const [name, check] of Object.entries(checks)) {
      try {
        await check();
        lines.push(`[+]${name} ok`);
      } catch {
        failed = true;
        lines.push(`[-]${name} failed: reason withheld`);
      }
    }
    const what = path.slice(1);
    const verbose = q.has('verbose');
    const text =
      verbose || failed ? `${lines.join('\n')}\n${what} check ${failed ? 'failed' : 'passed'}\n` : 'ok';
    res.writeHead(failed ? 500 : 200, {
      'Content-Type': 'text/plain; charset=utf-8',
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(text);
  };

  const handle = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): Promise<{ verb: string; resource: string }> => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const q = url.searchParams;
    const method = req.method ?? 'GET';
    if (opts.tokens && !PUBLIC_PATHS.has(path) && !tokenOk(opts.tokens, req.headers.authorization)) {
      throw status.unauthorized();
    }
    if (path === '/healthz' || path === '/livez' || path === '/readyz') {
      await health(path, q, res);
      return { verb: 'get', resource: path };
    }
    if (path === '/version') {
      send(res, 200, versionInfo());
      return { verb: 'get', resource: 'version' };
    }
    if (path === '/metrics') {
      const text = await metricsRegistry.metrics();
      res.writeHead(200, { 'Content-Type': metricsRegistry.contentType });
      res.end(text);
      return { verb: 'get', resource: 'metrics' };
    }
    if (path === '/openapi/v2' || path === '/openapi/v3' || path.startsWith('/openapi/v3/')) {
      if (method !== 'GET') throw status.methodNotAllowed();
      serveOpenApi(path, q, req.headers, res);
      return { verb: 'get', resource: 'openapi' };
    }
    const segments = path.split('/').filter(Boolean).map(decodeURIComponent);
    const route = parseRoute(segments);
    if (route === 'discovery') {
      if (method !== 'GET') throw status.methodNotAllowed();
      let doc: unknown;
      if (segments[0] === 'api')
        doc = segments.length === 1 ? apiVersions(serverAddress) : apiResourceList('', segments[1]);
      else if (segments.length === 1) doc = apiGroupList();
      else if (segments.length === 2) doc = apiGroupDoc(segments[1]);
      else doc = apiResourceList(segments[1], segments[2]);
      if (!doc) throw status.pageNotFound();
      send(res, 200, doc);
      return { verb: 'get', resource: 'discovery' };
    }
    if (!route) throw status.pageNotFound();
    const { rt } = route;
    const t: Target = { rt, namespace: route.namespace, name: route.name, subresource: route.subresource };
    const resource = rt.group ? `${rt.plural}.${rt.group}` : rt.plural;
    if (t.subresource) {
      const ok =
        (t.subresource === 'status' && rt.hasStatus) ||
        (t.subresource === 'finalize' && !rt.group && rt.plural === 'namespaces') ||
        (t.subresource === 'binding' && !rt.group && rt.plural === 'pods');
      if (!ok || !t.name) throw status.pageNotFound();
    }
    const neg = negotiate(req.headers.accept);
    const dryRun = q.getAll('dryRun').includes('All');
    const fieldValidation = fieldValidationParam(q);
    const self = { apiVersion: apiVersionOf(rt), kind: rt.kind };
    // Unknown fields are dropped; the client hears of them as Warning headers (or a 400 with Strict).
    const warnings: string[] = [];
    const warn = (ws: string[]) => {
      if (!ws.length) return;
      warnings.push(...ws);
      res.setHeader(
        'Warning',
        warnings.map((w) => `299 - ${JSON.stringify(w)}`),
      );
    };
    const typed = (body: unknown, verb: 'create' | 'update'): unknown => {
      if (!body || typeof body !== 'object' || Array.isArray(body)) return body;
      const d = decodeTyped(rt, body, fieldValidation, { verb });
      warn(d.warnings);
      return d.obj;
    };
    const include = (q.get('includeObject') as IncludeObject | null) ?? 'Metadata';
    const render = (obj: KubeObject) =>
      neg.table ? toTable(rt, [obj], {}, include) : neg.partial ? toPartialObjectMetadata(obj) : obj;

    if (method === 'GET' && (boolParam(q, 'watch') || segments.includes('watch'))) {
      if (t.subresource) throw status.methodNotAllowed();
      const timeout = intParam(q, 'timeoutSeconds');
      let cancel: (() => void) | undefined;
      req.on('close', () => cancel?.());
      await serveWatch(
        res,
        storage,
        t,
        {
          resourceVersion: q.get('resourceVersion'),
          labelSelector: q.get('labelSelector'),
          fieldSelector: q.get('fieldSelector'),
          allowWatchBookmarks: boolParam(q, 'allowWatchBookmarks'),
          timeoutSeconds: timeout,
          bookmarkIntervalMs: opts.bookmarkIntervalMs,
          sendInitialEvents: q.has('sendInitialEvents') ? boolParam(q, 'sendInitialEvents') : undefined,
        },
        (obj) => render(obj),
        (fn) => {
          cancel = () => {
            openStreams.delete(fn);
            fn();
          };
          openStreams.add(fn);
          if (req.destroyed) cancel();
        },
      );
      return { verb: 'watch', resource };
    }

    switch (method) {
      case 'GET': {
        if (t.name) {
          send(res, 200, render(await storage.get(t)));
          return { verb: 'get', resource };
        }
        const list = await storage.list(t, {
          labelSelector: q.get('labelSelector'),
          fieldSelector: q.get('fieldSelector'),
          limit: intParam(q, 'limit'),
          continueToken: q.get('continue'),
          resourceVersion: q.get('resourceVersion'),
          resourceVersionMatch: q.get('resourceVersionMatch'),
        });
        const listMeta: Record<string, string> = { resourceVersion: list.resourceVersion };
        if (list.continueToken) listMeta.continue = list.continueToken;
        if (neg.table) send(res, 200, toTable(rt, list.items, listMeta, include));
        else if (neg.partial) {
          send(res, 200, {
            kind: 'PartialObjectMetadataList',
            apiVersion: 'meta.k8s.io/v1',
            metadata: listMeta,
            items: list.items.map(toPartialObjectMetadata),
          });
        } else
          send(res, 200, {
            kind: rt.listKind,
            apiVersion: apiVersionOf(rt),
            metadata: listMeta,
            items: list.items,
          });
        return { verb: 'list', resource };
      }
      case 'POST': {
        if (t.subresource === 'binding') {
          const body = parseBody(await readBody(req, maxBytes), req.headers['content-type'], {
            apiVersion: 'v1',
            kind: 'Binding',
          });
          send(res, 201, await storage.bind(t, body, dryRun));
          return { verb: 'create', resource: 'pods/binding' };
        }
        if (t.name) throw status.methodNotAllowed();
        const body = typed(
          parseBody(await readBody(req, maxBytes), req.headers['content-type'], self),
          'create',
        );
        if (rt.namespaced && !t.namespace) throw status.pageNotFound();
        const created = await storage.create(t, body, dryRun);
        send(res, 201, render(created));
        return { verb: 'create', resource };
      }
      case 'PUT': {
        if (!t.name) throw status.methodNotAllowed();
        const body = typed(
          parseBody(await readBody(req, maxBytes), req.headers['content-type'], self),
          'update',
        );
        send(res, 200, render(await storage.update(t, body, dryRun)));
        return { verb: 'update', resource };
      }
      case 'PATCH': {
        if (!t.name || t.subresource === 'finalize') throw status.methodNotAllowed();
        const buf = await readBody(req, maxBytes);
        const ct = req.headers['content-type'] ?? '';
        let patch: unknown;
        try {
          patch = JSON.parse(buf.toString('utf8'));
        } catch (err) {
          throw status.badRequest(`the body of the request could not be decoded: ${(err as Error).message}`);
        }
        const type = patchTypeOf(ct);
        const patchType = type === JSON_PATCH ? 'json' : type === MERGE_PATCH ? 'merge' : 'strategic';
        const decode = (patched: KubeObject) => {
          const d = decodeTyped(rt, patched, fieldValidation, { verb: 'patch', patchType, patch });
          warn(d.warnings);
          return d.obj;
        };
        send(res, 200, render(await storage.patch(t, ct, patch, dryRun, decode)));
        return { verb: 'patch', resource };
      }
      case 'DELETE': {
        if (t.subresource) throw status.methodNotAllowed();
        const body = parseBody(await readBody(req, maxBytes), req.headers['content-type'], {
          apiVersion: apiVersionOf(rt),
          kind: 'DeleteOptions',
        });
        const dopts = deleteOptions(q, body);
        if (t.name) {
          send(res, 200, render(await storage.delete(t, dopts)));
          return { verb: 'delete', resource };
        }
        const list = await storage.deleteCollection(
          t,
          { labelSelector: q.get('labelSelector'), fieldSelector: q.get('fieldSelector') },
          dopts,
        );
        send(res, 200, {
          kind: rt.listKind,
          apiVersion: apiVersionOf(rt),
          metadata: { resourceVersion: list.resourceVersion },
          items: list.items,
        });
        return { verb: 'deletecollection', resource };
      }
      default:
        throw status.methodNotAllowed();
    }
  };

  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const started = process.hrtime.bigint();
    handle(req, res).then(
      ({ verb, resource }) => {
        requestsTotal.inc({ verb, resource, code: String(res.statusCode) });
        if (verb !== 'watch')
          requestSeconds.observe({ verb, resource }, Number(process.hrtime.bigint() - started) / 1e9);
      },
      (err: unknown) => {
        const apiErr =
          err instanceof ApiError
            ? err
            : isStoreError(err, 'Unavailable')
              ? status.serviceUnavailable(`the store is unavailable: ${err.message}`)
              : status.internalError((err as Error)?.message ?? String(err));
        if (!(err instanceof ApiError))
          log.error({ err, method: req.method, url: req.url }, 'request failed');
        requestsTotal.inc({
          verb: (req.method ?? '').toLowerCase(),
          resource: '',
          code: String(apiErr.code),
        });
        if (res.headersSent) {
          res.end();
          return;
        }
        // Drain what the client still sends so that it reads our answer instead of a reset.
        if (!req.complete) req.resume();
        send(res, apiErr.code, apiErr.status);
      },
    );
  };

  const server = opts.tls
    ? https.createServer({ cert: opts.tls.certPem, key: opts.tls.keyPem }, listener)
    : http.createServer(listener);
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 0; // watches are long-lived
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  serverAddress = `${urlHost}:${port}`;
  const url = `${opts.tls ? 'https' : 'http'}://${serverAddress}`;
  log.info({ url }, 'API server listening');
  return {
    url,
    port,
    storage,
    close: async () => {
      for (const fn of [...openStreams]) fn();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
