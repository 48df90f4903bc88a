/**
 * The real kubectl against a small HTTP server that serves twill's discovery and OpenAPI documents and
 * decodes pod writes with decodeTyped: checks that kubectl reads the v3 documents as kube-apiserver's (sends
 * fieldValidation=Strict, never falls back to /openapi/v2), computes the same apply patches from them as from
 * its compiled-in types, and explains fields from them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { apiGroupList, apiResourceList, apiVersions, versionInfo } from './discovery.js';
import { openapiV2Protobuf, openapiV3DocumentJSON, openapiV3RootJSON } from './openapi.js';
import { OPENAPI_V2_PROTOBUF } from './openapi-routes.js';
import { ApiError, notFound } from './status.js';
import { byKind } from '../model/registry.js';
import { decodeTyped, type FieldValidation } from '../model/schema/index.js';
import type { KubeObject } from '../model/types.js';

const run = promisify(execFile);
const podType = byKind('', 'Pod')!;

interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  accept: string;
  contentType: string;
  body: string;
}

let server: Server;
let base = '';
let dir = '';
const seen: Seen[] = [];
const pods = new Map<string, KubeObject>();
let rv = 1;

function send(
  res: ServerResponse,
  code: number,
  body: unknown,
  headers: Record<string, string | string[]> = {},
) {
  res.writeHead(code, { 'Content-Type': 'application/json', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

function handle(req: IncomingMessage, res: ServerResponse, raw: string): void {
  const url = new URL(req.url ?? '/', base);
  const p = url.pathname;
  seen.push({
    method: req.method ?? '',
    path: p,
    query: url.searchParams,
    accept: req.headers.accept ?? '',
    contentType: req.headers['content-type'] ?? '',
    body: raw,
  });
  if (p === '/version') return send(res, 200, versionInfo());
  if (p === '/api') return send(res, 200, apiVersions(url.host));
  if (p === '/apis') return send(res, 200, apiGroupList());
  if (p === '/openapi/v3') return send(res, 200, openapiV3RootJSON().body);
  if (p.startsWith('/openapi/v3/')) {
    const doc = openapiV3DocumentJSON(p.slice('/openapi/v3/'.length));
    return doc ? send(res, 200, doc.body, { ETag: `"${doc.hash}"` }) : send(res, 404, {});
  }
  if (p === '/openapi/v2') {
    // As twill serves it (kubectl asks only for the protobuf); the tests check kubectl never needs it here.
    const doc = openapiV2Protobuf();
    res.writeHead(200, { 'Content-Type': OPENAPI_V2_PROTOBUF, ETag: `"${doc.hash}"` });
    res.end(doc.body);
    return;
  }
  const gv = /^\/api\/v1$|^\/apis\/([^/]+)\/([^/]+)$/.exec(p);
  if (gv) {
    const list = p === '/api/v1' ? apiResourceList('', 'v1') : apiResourceList(gv[1], gv[2]);
    return list ? send(res, 200, list) : send(res, 404, {});
  }
  const m = /^\/api\/v1\/namespaces\/default\/pods(?:\/([^/]+))?$/.exec(p);
  if (!m) return send(res, 404, {});
  const name = m[1];
  try {
    if (req.method === 'GET' && name) {
      const pod = pods.get(name);
      if (!pod) throw notFound({ group: '', resource: 'pods' }, name);
      return send(res, 200, pod);
    }
    if (req.method === 'POST') {
      const mode = (url.searchParams.get('fieldValidation') ?? 'Warn') as FieldValidation;
      const { obj, warnings } = decodeTyped(podType, JSON.parse(raw), mode);
      obj.metadata = {
        ...obj.metadata,
        namespace: 'default',
        uid: `uid-${rv}`,
        resourceVersion: String(++rv),
      };
      pods.set(obj.metadata.name!, obj);
      const headers: Record<string, string[]> = warnings.length
        ? { Warning: warnings.map((w) => `299 - ${JSON.stringify(w)}`) }
        : {};
      return send(res, 201, obj, headers);
    }
    if (req.method === 'PATCH' && name) {
      const pod = pods.get(name);
      if (!pod) throw notFound({ group: '', resource: 'pods' }, name);
      return send(res, 200, pod);
    }
    send(res, 405, {});
  } catch (e) {
    if (e instanceof ApiError) return send(res, e.code, e.status);
    throw e;
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'twill-openapi-'));
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => handle(req, res, raw));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  assert.ok(addr && typeof addr === 'object');
  base = `http://127.0.0.1:${addr.port}`;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

async function kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, HOME: dir, KUBECONFIG: join(dir, 'none') };
  try {
    const { stdout, stderr } = await run(
      '/usr/bin/kubectl',
      [`--server=${base}`, `--cache-dir=${join(dir, 'cache')}`, '-n', 'default', ...args],
      { env },
    );
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

function manifest(name: string, containers: string, extra = ''): string {
  const file = join(dir, `${name}-${rv++}.yaml`);
  writeFileSync(
    file,
    `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  labels: {app: web}\nspec:\n  containers:\n${containers}${extra}`,
  );
  return file;
}

const CONTAINERS_V1 = `  - name: web\n    image: nginx:1.25\n    ports:\n    - containerPort: 80\n  - name: side\n    image: busybox\n`;
const CONTAINERS_V2 = `  - name: web\n    image: nginx:1.27\n    ports:\n    - containerPort: 80\n    - containerPort: 443\n  - name: log\n    image: fluentd\n  - name: side\n    image: busybox\n`;

test('kubectl create sends fieldValidation=Strict and shows the strict decoding error', async () => {
  const file = manifest('strict', `  - name: web\n    image: nginx\n    foo: bar\n`);
  const r = await kubectl('create', '-f', file);
  assert.equal(r.code, 1);
  const post = seen.find((s) => s.method === 'POST' && s.body.includes('"strict"'));
  assert.equal(post?.query.get('fieldValidation'), 'Strict');
  assert.equal(
    r.stderr.trim(),
    `Error from server (BadRequest): error when creating "${file}": Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.containers[0].foo"`,
  );
  assert.equal(pods.has('strict'), false);
  assert.equal(seen.filter((s) => s.path === '/openapi/v2').length, 0, 'kubectl fell back to /openapi/v2');
});

test('kubectl create --validate=warn prints the server warning and the field is dropped', async () => {
  const file = manifest('warned', `  - name: web\n    image: nginx\n    foo: bar\n`);
  const r = await kubectl('create', '--validate=warn', '-f', file);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Warning: unknown field "spec.containers\[0\].foo"/);
  const post = seen.find((s) => s.method === 'POST' && s.body.includes('"warned"'));
  assert.equal(post?.query.get('fieldValidation'), 'Warn');
  const containers = (pods.get('warned')!.spec as { containers: Record<string, unknown>[] }).containers;
  assert.deepEqual(containers, [{ name: 'web', image: 'nginx' }]);
});

test('kubectl apply computes the same strategic merge patch from our OpenAPI v3 as from its built-in types', async () => {
  const patches: Record<string, unknown> = {};
  for (const [name, flags] of [
    ['from-openapi', []],
    ['from-builtins', ['--openapi-patch=false']],
  ] as const) {
    const created = await kubectl('apply', '-f', manifest(name, CONTAINERS_V1));
    assert.equal(created.code, 0, created.stderr);
    const before = seen.length;
    const applied = await kubectl('apply', ...flags, '-f', manifest(name, CONTAINERS_V2));
    assert.equal(applied.code, 0, applied.stderr);
    assert.doesNotMatch(applied.stderr, /error calculating patch/);
    const patch = seen.slice(before).find((s) => s.method === 'PATCH');
    assert.equal(patch?.contentType, 'application/strategic-merge-patch+json');
    patches[name] = JSON.parse(patch.body);
  }
  const fromOpenapi = patches['from-openapi'] as Record<string, Record<string, unknown>>;
  // Merge keys were found: containers are merged by name, with the order directive, not replaced whole.
  assert.deepEqual(fromOpenapi.spec['$setElementOrder/containers'], [
    { name: 'web' },
    { name: 'log' },
    { name: 'side' },
  ]);
  const stripAnnotation = (p: Record<string, Record<string, unknown>>) => ({ ...p, metadata: undefined });
  assert.deepEqual(
    stripAnnotation(fromOpenapi),
    stripAnnotation(patches['from-builtins'] as typeof fromOpenapi),
  );
  assert.equal(seen.filter((s) => s.path === '/openapi/v2').length, 0, 'kubectl fell back to /openapi/v2');
  assert.ok(seen.some((s) => s.path === '/openapi/v3/api/v1' && s.query.get('hash')));
});

test('kubectl explain reads the v3 documents', async () => {
  const r = await kubectl('explain', 'pods.spec.containers.ports');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /FIELD: ports <\[\]ContainerPort>/);
  assert.match(r.stdout, /containerPort\s+<integer>/);
  assert.match(r.stdout, /protocol\s+<string>/);
});
