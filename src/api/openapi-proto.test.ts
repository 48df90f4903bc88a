/**
 * The OpenAPI v2 protobuf, read back with a small reader written from gnostic's OpenAPIv2.proto field numbers
 * (independently of the encoder's tables), must give back the JSON document exactly; and the HTTP route
 * negotiates it as kube-openapi does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeOpenApiV2, OpenApiProtoError } from './openapi-proto.js';
import { openapiV2, openapiV2JSON, openapiV2Protobuf } from './openapi.js';
import { negotiateOpenApi, OPENAPI_V2_PROTOBUF } from './openapi-routes.js';
import { readFields, utf8String, type WireField } from './protobuf/wire.js';
import { startApiServer } from './server.js';
import { MemoryStore } from '../store/memory.js';

type Json = Record<string, any>;

/** Fields by number, each a list in wire order. */
function read(buf: Uint8Array): Map<number, WireField[]> {
  const m = new Map<number, WireField[]>();
  for (const f of readFields(buf, 'test')) m.set(f.no, [...(m.get(f.no) ?? []), f]);
  return m;
}
const s = (f: WireField) => utf8String(f.bytes!);
const one = (m: Map<number, WireField[]>, no: number) => m.get(no)?.[0];
const all = (m: Map<number, WireField[]>, no: number) => m.get(no) ?? [];

/** Any { google.protobuf.Any value = 1; string yaml = 2 } — our yaml is JSON text. */
const any = (b: Uint8Array) => JSON.parse(s(one(read(b), 2)!));

/** NamedAny { name = 1; Any value = 2 } entries, as x- keys. */
function exts(m: Map<number, WireField[]>, no: number, out: Json): Json {
  for (const f of all(m, no)) {
    const n = read(f.bytes!);
    out[s(one(n, 1)!)] = any(one(n, 2)!.bytes!);
  }
  return out;
}

/** Repeated Named<T> { name = 1; T value = 2 } as a JSON object. */
function named(b: Uint8Array, no: number, value: (b: Uint8Array) => unknown): Json {
  const out: Json = {};
  for (const f of all(read(b), no)) {
    const n = read(f.bytes!);
    out[s(one(n, 1)!)] = value(one(n, 2)?.bytes ?? new Uint8Array());
  }
  return out;
}

function put(out: Json, key: string, f: WireField | undefined, as: 'str' | 'bool' | 'int') {
  if (!f) return;
  out[key] = as === 'str' ? s(f) : as === 'bool' ? f.varint === 1n : Number(f.varint);
}

// Schema: _ref 1, format 2, description 4, default 5, required 19, additionalProperties 21, type 22,
// items 23, allOf 24, properties 25, vendor_extension 31.
function schema(b: Uint8Array): Json {
  const m = read(b);
  const out: Json = {};
  put(out, '$ref', one(m, 1), 'str');
  put(out, 'format', one(m, 2), 'str');
  put(out, 'description', one(m, 4), 'str');
  if (one(m, 5)) out.default = any(one(m, 5)!.bytes!);
  if (m.has(19)) out.required = all(m, 19).map(s);
  if (one(m, 21)) {
    const ap = read(one(m, 21)!.bytes!); // AdditionalPropertiesItem: schema 1 | boolean 2
    out.additionalProperties = ap.has(1) ? schema(one(ap, 1)!.bytes!) : one(ap, 2)!.varint === 1n;
  }
  if (one(m, 22)) {
    const types = all(read(one(m, 22)!.bytes!), 1).map(s); // TypeItem.value 1
    out.type = types.length === 1 ? types[0] : types;
  }
  if (one(m, 23)) out.items = schema(one(read(one(m, 23)!.bytes!), 1)!.bytes!); // ItemsItem.schema 1
  if (m.has(24)) out.allOf = all(m, 24).map((f) => schema(f.bytes!));
  if (one(m, 25)) out.properties = named(one(m, 25)!.bytes!, 1, schema); // Properties.additional_properties 1
  for (const no of [3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 26, 27, 28, 29, 30])
    assert.ok(!m.has(no), `unexpected Schema field ${no}`);
  return exts(m, 31, out);
}

// ParametersItem { Parameter parameter = 1 }; Parameter { BodyParameter 1 | NonBodyParameter 2 };
// NonBodyParameter { header 1 | formData 2 | query 3 | path 4 }.
function parameter(b: Uint8Array): Json {
  const p = read(one(read(b), 1)!.bytes!);
  const out: Json = {};
  if (p.has(1)) {
    const m = read(one(p, 1)!.bytes!); // BodyParameter: description 1, name 2, in 3, required 4, schema 5
    put(out, 'name', one(m, 2), 'str');
    put(out, 'in', one(m, 3), 'str');
    put(out, 'required', one(m, 4), 'bool');
    out.schema = schema(one(m, 5)!.bytes!);
    return out;
  }
  const nb = read(one(p, 2)!.bytes!);
  const [choice] = [...nb.keys()];
  const m = read(one(nb, choice)!.bytes!);
  // Query/FormData: required 1, in 2, description 3, name 4, type 6, unique_items 20;
  // Header/Path: required 1, in 2, description 3, name 4, type 5, unique_items 19.
  const q = choice === 2 || choice === 3;
  put(out, 'name', one(m, 4), 'str');
  put(out, 'in', one(m, 2), 'str');
  put(out, 'description', one(m, 3), 'str');
  put(out, 'required', one(m, 1), 'bool');
  put(out, 'type', one(m, q ? 6 : 5), 'str');
  put(out, 'uniqueItems', one(m, q ? 20 : 19), 'bool');
  assert.equal(out.in, { 1: 'header', 2: 'formData', 3: 'query', 4: 'path' }[choice]);
  return out;
}

// Operation: tags 1, description 3, operation_id 5, produces 6, consumes 7, parameters 8, responses 9,
// schemes 10, vendor_extension 13. Responses { NamedResponseValue response_code = 1 };
// ResponseValue { Response response = 1 }; Response { description 1, SchemaItem schema 2 { Schema schema 1 } }.
function operation(b: Uint8Array): Json {
  const m = read(b);
  const out: Json = {};
  out.tags = all(m, 1).map(s);
  put(out, 'description', one(m, 3), 'str');
  put(out, 'operationId', one(m, 5), 'str');
  if (m.has(6)) out.produces = all(m, 6).map(s);
  if (m.has(7)) out.consumes = all(m, 7).map(s);
  out.parameters = all(m, 8).map((f) => parameter(f.bytes!));
  out.responses = named(one(m, 9)!.bytes!, 1, (rv) => {
    const r = read(one(read(rv), 1)!.bytes!);
    const resp: Json = { description: s(one(r, 1)!) };
    if (one(r, 2)) resp.schema = schema(one(read(one(r, 2)!.bytes!), 1)!.bytes!);
    return resp;
  });
  if (m.has(10)) out.schemes = all(m, 10).map(s);
  return exts(m, 13, out);
}

// PathItem: get 2, put 3, post 4, delete 5, patch 8, parameters 9.
function pathItem(b: Uint8Array): Json {
  const m = read(b);
  const out: Json = { parameters: all(m, 9).map((f) => parameter(f.bytes!)) };
  for (const [no, verb] of [
    [2, 'get'],
    [3, 'put'],
    [4, 'post'],
    [5, 'delete'],
    [8, 'patch'],
  ] as const)
    if (one(m, no)) out[verb] = operation(one(m, no)!.bytes!);
  return out;
}

/** Document: swagger 1, info 2 {title 1, version 2}, paths 8 {path 2}, definitions 9, security 12,
 * security_definitions 13 { NamedSecurityDefinitionsItem 1 { ApiKeySecurity 2 {type 1, name 2, in 3,
 * description 4} } }. SecurityRequirement { NamedStringArray 1 { name 1, StringArray 2 { value 1 } } }. */
function document(b: Uint8Array): Json {
  const m = read(b);
  const info = read(one(m, 2)!.bytes!);
  return {
    swagger: s(one(m, 1)!),
    info: { title: s(one(info, 1)!), version: s(one(info, 2)!) },
    paths: named(one(m, 8)!.bytes!, 2, pathItem),
    definitions: named(one(m, 9)!.bytes!, 1, schema),
    securityDefinitions: named(one(m, 13)!.bytes!, 1, (item) => {
      const k = read(one(read(item), 2)!.bytes!);
      return { type: s(one(k, 1)!), description: s(one(k, 4)!), name: s(one(k, 2)!), in: s(one(k, 3)!) };
    }),
    security: all(m, 12).map((f) => named(f.bytes!, 1, (a) => all(read(a), 1).map(s))),
  };
}

test('the protobuf reads back as the JSON document, every path, parameter and definition', () => {
  const json = openapiV2() as Json;
  const back = document(openapiV2Protobuf().body);
  // Key parts first, for readable failures.
  assert.deepEqual(back.info, json.info);
  assert.deepEqual(Object.keys(back.definitions), Object.keys(json.definitions));
  assert.deepEqual(
    back.definitions['io.k8s.api.core.v1.ConfigMap'],
    json.definitions['io.k8s.api.core.v1.ConfigMap'],
  );
  const pod = back.definitions['io.k8s.api.core.v1.PodSpec'].properties.containers;
  assert.equal(pod['x-kubernetes-patch-merge-key'], 'name');
  assert.deepEqual(pod.items, { $ref: '#/definitions/io.k8s.api.core.v1.Container', default: {} });
  assert.deepEqual(back.definitions['io.k8s.api.core.v1.Service']['x-kubernetes-group-version-kind'], [
    { group: '', kind: 'Service', version: 'v1' },
  ]);
  assert.deepEqual(Object.keys(back.paths), Object.keys(json.paths));
  const cm = '/api/v1/namespaces/{namespace}/configmaps/{name}';
  assert.deepEqual(back.paths[cm].patch, json.paths[cm].patch);
  // Then all of it (key order aside: the reader writes keys in its own order).
  const canon = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canon)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.entries(v)
              .sort(([a], [b]) => (a < b ? -1 : 1))
              .map(([k, x]) => [k, canon(x)]),
          )
        : v;
  assert.deepEqual(canon(back), canon(json));
});

test("the bytes are built once and carry the JSON document's ETag", () => {
  assert.equal(openapiV2Protobuf(), openapiV2Protobuf());
  assert.equal(openapiV2Protobuf().hash, openapiV2JSON().hash);
});

test('a key the encoder has no gnostic field for is refused, not dropped', () => {
  assert.throws(
    () => encodeOpenApiV2({ swagger: '2.0', definitions: { X: { type: 'object', nullable: true } } }),
    new OpenApiProtoError('definitions.X', 'nullable'),
  );
  assert.throws(() => encodeOpenApiV2({ swagger: '2.0', webhooks: {} }), OpenApiProtoError);
});

test('Accept negotiation follows kube-openapi: wildcards get JSON, q orders clauses, both protobuf spellings', () => {
  const both = ['json', 'protobuf'] as const;
  assert.equal(negotiateOpenApi(undefined, both), 'json');
  assert.equal(negotiateOpenApi('*/*', both), 'json');
  assert.equal(
    negotiateOpenApi('application/com.github.proto-openapi.spec.v2@v1.0+protobuf', both),
    'protobuf',
  );
  assert.equal(negotiateOpenApi(OPENAPI_V2_PROTOBUF, both), 'protobuf');
  assert.equal(negotiateOpenApi(`application/json;q=0.5, ${OPENAPI_V2_PROTOBUF}`, both), 'protobuf');
  assert.equal(negotiateOpenApi(`${OPENAPI_V2_PROTOBUF}, application/json`, both), 'protobuf');
  assert.equal(negotiateOpenApi(OPENAPI_V2_PROTOBUF, ['json']), undefined);
  assert.equal(negotiateOpenApi('text/html', both), undefined);
});

test('GET /openapi/v2 over HTTP: protobuf when asked, JSON otherwise, 304 on a matching If-None-Match, 406 for text', async () => {
  const api = await startApiServer({ store: new MemoryStore() });
  try {
    const get = (headers: Record<string, string>) => fetch(`${api.url}/openapi/v2`, { headers });
    const pb = await get({ Accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf' });
    assert.equal(pb.status, 200);
    assert.equal(pb.headers.get('content-type'), OPENAPI_V2_PROTOBUF);
    assert.equal(pb.headers.get('vary'), 'Accept');
    const bytes = new Uint8Array(await pb.arrayBuffer());
    assert.equal(document(bytes).swagger, '2.0');
    const etag = pb.headers.get('etag')!;
    assert.equal(etag, `"${openapiV2JSON().hash}"`);

    const json = await get({ Accept: 'application/json' });
    assert.equal(json.headers.get('content-type'), 'application/json');
    assert.equal(((await json.json()) as Json).swagger, '2.0');

    const cached = await get({ Accept: OPENAPI_V2_PROTOBUF, 'If-None-Match': etag });
    assert.equal(cached.status, 304);
    assert.equal((await cached.arrayBuffer()).byteLength, 0);
    const stale = await get({ Accept: OPENAPI_V2_PROTOBUF, 'If-None-Match': '"OLD"' });
    assert.equal(stale.status, 200);
    await stale.arrayBuffer();

    const html = await get({ Accept: 'text/html' });
    assert.equal(html.status, 406);
    await html.arrayBuffer();
  } finally {
    await api.close();
  }
});
