/**
 * The Swagger 2.0 document in gnostic's OpenAPIv2 protobuf form (`openapi.v2.Document`), which is what
 * kube-apiserver sends for `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf` and the only
 * form kubectl asks /openapi/v2 for (client-side validation of `kind: List` items reads it).
 *
 * Design: a walk over the JSON document that writes each object as its gnostic message, fields by number.
 * gnostic's messages mirror the Swagger 2.0 JSON schema: maps become repeated (name, value) pairs in document
 * order, `x-` keys become `vendor_extension` NamedAny entries, oneOf choices become oneof wrappers
 * (ParametersItem → Parameter → BodyParameter | NonBodyParameter → Query/Path/Header/FormData sub-schema), and
 * free-form values (`default`, `enum`, extension values) become `Any` with the value as YAML text (we write
 * JSON, which is YAML; kube-openapi reads these with a YAML parser). The walk is strict: a key it has no field
 * for throws, so the protobuf can never silently lose part of the JSON document.
 */
import { ProtoWriter } from './protobuf/wire.js';

type Json = Record<string, unknown>;

export class OpenApiProtoError extends Error {
  constructor(where: string, key: string) {
    super(`openapi v2 protobuf: no gnostic field for "${key}" in ${where}`);
    this.name = 'OpenApiProtoError';
  }
}

/** Field numbers of one gnostic message, keyed by the JSON name; `ext` is its vendor_extension field. */
type Fields = Record<string, number>;

function checkKeys(where: string, o: Json, fields: Fields, others: string[] = []): void {
  for (const k of Object.keys(o)) {
    if (k in fields || others.includes(k)) continue;
    if (k.startsWith('x-') && 'ext' in fields) continue;
    throw new OpenApiProtoError(where, k);
  }
}

/** gnostic `Any`: the value as YAML text in field 2. */
function any(v: unknown): ProtoWriter {
  return new ProtoWriter().string(2, JSON.stringify(v));
}

/** NamedAny entries (field `no`) for the `x-` keys of an object, in document order. */
function vendorExtensions(w: ProtoWriter, no: number, o: Json): void {
  for (const [k, v] of Object.entries(o)) {
    if (k.startsWith('x-')) w.message(no, new ProtoWriter().string(1, k).message(2, any(v)));
  }
}

function str(o: Json, k: string): string | undefined {
  const v = o[k];
  return typeof v === 'string' ? v : undefined;
}
function strs(o: Json, k: string): string[] | undefined {
  return o[k] as string[] | undefined;
}
function bool(o: Json, k: string): boolean | undefined {
  return o[k] as boolean | undefined;
}

/** Scalar fields shared by Schema and the parameter sub-schemas, written by their per-message numbers. */
function scalars(w: ProtoWriter, o: Json, f: Fields): void {
  const ordered = Object.entries(f).sort(([, a], [, b]) => a - b);
  for (const [k, no] of ordered) {
    if (k === 'ext') {
      vendorExtensions(w, no, o);
      continue;
    }
    if (!(k in o)) continue;
    const v = o[k];
    switch (k) {
      case 'required':
        if (Array.isArray(v)) w.strings(no, v as string[]);
        else w.bool(no, v as boolean);
        break;
      case 'default':
      case 'example':
        w.message(no, any(v));
        break;
      case 'enum':
        for (const e of v as unknown[]) w.message(no, any(e));
        break;
      case 'maximum':
      case 'minimum':
      case 'multipleOf':
        w.double(no, v as number);
        break;
      case 'maxLength':
      case 'minLength':
      case 'maxItems':
      case 'minItems':
      case 'maxProperties':
      case 'minProperties':
        w.int64(no, v as number);
        break;
      case 'exclusiveMaximum':
      case 'exclusiveMinimum':
      case 'uniqueItems':
      case 'allowEmptyValue':
      case 'readOnly':
        w.bool(no, v as boolean);
        break;
      default:
        if (typeof v === 'string') w.string(no, v);
    }
  }
}

const SCHEMA: Fields = {
  $ref: 1,
  format: 2,
  title: 3,
  description: 4,
  default: 5,
  multipleOf: 6,
  maximum: 7,
  exclusiveMaximum: 8,
  minimum: 9,
  exclusiveMinimum: 10,
  maxLength: 11,
  minLength: 12,
  pattern: 13,
  maxItems: 14,
  minItems: 15,
  uniqueItems: 16,
  maxProperties: 17,
  minProperties: 18,
  required: 19,
  enum: 20,
  discriminator: 26,
  readOnly: 27,
  example: 30,
  ext: 31,
};
const SCHEMA_MESSAGES = ['additionalProperties', 'type', 'items', 'allOf', 'properties'];

/** NamedSchema list (Definitions and Properties both carry it as field 1). */
function namedSchemas(map: Json, where: string): ProtoWriter {
  const w = new ProtoWriter();
  for (const [name, s] of Object.entries(map)) {
    w.message(1, new ProtoWriter().string(1, name).message(2, schema(s as Json, `${where}.${name}`)));
  }
  return w;
}

export function schema(s: Json, where = 'schema'): ProtoWriter {
  checkKeys(where, s, SCHEMA, SCHEMA_MESSAGES);
  const w = new ProtoWriter();
  // Fields 1-20 are scalars; the messages 21-25 sit between them and 26+, so write in two passes.
  const low = Object.fromEntries(Object.entries(SCHEMA).filter(([, n]) => n <= 20));
  const high = Object.fromEntries(Object.entries(SCHEMA).filter(([, n]) => n > 25));
  scalars(w, s, low);
  const ap = s.additionalProperties;
  if (ap !== undefined) {
    const item = new ProtoWriter();
    if (typeof ap === 'boolean') item.bool(2, ap);
    else item.message(1, schema(ap as Json, `${where}.additionalProperties`));
    w.message(21, item);
  }
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    w.message(22, new ProtoWriter().strings(1, types));
  }
  if (s.items !== undefined) {
    const items = Array.isArray(s.items) ? (s.items as Json[]) : [s.items as Json];
    const iw = new ProtoWriter();
    for (const i of items) iw.message(1, schema(i, `${where}.items`));
    w.message(23, iw);
  }
  for (const a of (s.allOf as Json[] | undefined) ?? []) w.message(24, schema(a, `${where}.allOf`));
  if (s.properties !== undefined) w.message(25, namedSchemas(s.properties as Json, where));
  scalars(w, s, high);
  return w;
}

const BODY_PARAMETER: Fields = { description: 1, name: 2, in: 3, required: 4, ext: 6 };
const QUERY_PARAMETER: Fields = {
  required: 1,
  in: 2,
  description: 3,
  name: 4,
  allowEmptyValue: 5,
  type: 6,
  format: 7,
  collectionFormat: 9,
  default: 10,
  maximum: 11,
  exclusiveMaximum: 12,
  minimum: 13,
  exclusiveMinimum: 14,
  maxLength: 15,
  minLength: 16,
  pattern: 17,
  maxItems: 18,
  minItems: 19,
  uniqueItems: 20,
  enum: 21,
  multipleOf: 22,
  ext: 23,
};
// Path and header sub-schemas have no allowEmptyValue, so every later field is one lower.
const PATH_PARAMETER: Fields = Object.fromEntries(
  Object.entries(QUERY_PARAMETER)
    .filter(([k]) => k !== 'allowEmptyValue')
    .map(([k, n]) => [k, n > 5 ? n - 1 : n]),
);
const NON_BODY: Record<string, { choice: number; fields: Fields }> = {
  header: { choice: 1, fields: PATH_PARAMETER },
  formData: { choice: 2, fields: QUERY_PARAMETER },
  query: { choice: 3, fields: QUERY_PARAMETER },
  path: { choice: 4, fields: PATH_PARAMETER },
};

/** ParametersItem { Parameter parameter = 1 { BodyParameter = 1 | NonBodyParameter = 2 } }. */
function parametersItem(p: Json, where: string): ProtoWriter {
  const at = `${where}.parameters[${str(p, 'name')}]`;
  const parameter = new ProtoWriter();
  if (p.in === 'body') {
    checkKeys(at, p, BODY_PARAMETER, ['schema']);
    const b = new ProtoWriter();
    b.string(1, str(p, 'description'))
      .string(2, str(p, 'name'))
      .string(3, str(p, 'in'))
      .bool(4, bool(p, 'required'));
    if (p.schema) b.message(5, schema(p.schema as Json, `${at}.schema`));
    vendorExtensions(b, 6, p);
    parameter.message(1, b);
  } else {
    const kind = NON_BODY[String(p.in)];
    if (!kind) throw new OpenApiProtoError(at, `in: ${String(p.in)}`);
    checkKeys(at, p, kind.fields);
    const sub = new ProtoWriter();
    scalars(sub, p, kind.fields);
    parameter.message(2, new ProtoWriter().message(kind.choice, sub));
  }
  return new ProtoWriter().message(1, parameter);
}

const RESPONSE: Fields = { description: 1, ext: 5 };

function responses(r: Json, where: string): ProtoWriter {
  const w = new ProtoWriter();
  for (const [code, v] of Object.entries(r)) {
    if (code.startsWith('x-')) continue;
    const resp = v as Json;
    const at = `${where}.responses.${code}`;
    checkKeys(at, resp, RESPONSE, ['schema']);
    const rw = new ProtoWriter().string(1, str(resp, 'description'));
    // SchemaItem { Schema schema = 1 | FileSchema file_schema = 2 }
    if (resp.schema) rw.message(2, new ProtoWriter().message(1, schema(resp.schema as Json, at)));
    vendorExtensions(rw, 5, resp);
    // ResponseValue { Response response = 1 | JsonReference json_reference = 2 }
    w.message(1, new ProtoWriter().string(1, code).message(2, new ProtoWriter().message(1, rw)));
  }
  vendorExtensions(w, 2, r);
  return w;
}

const OPERATION: Fields = {
  tags: 1,
  summary: 2,
  description: 3,
  operationId: 5,
  produces: 6,
  consumes: 7,
  parameters: 8,
  responses: 9,
  schemes: 10,
  deprecated: 11,
  ext: 13,
};

function operation(op: Json, where: string): ProtoWriter {
  checkKeys(where, op, OPERATION);
  const w = new ProtoWriter()
    .strings(1, strs(op, 'tags'))
    .string(2, str(op, 'summary'))
    .string(3, str(op, 'description'))
    .string(5, str(op, 'operationId'))
    .strings(6, strs(op, 'produces'))
    .strings(7, strs(op, 'consumes'));
  for (const p of (op.parameters as Json[] | undefined) ?? []) w.message(8, parametersItem(p, where));
  if (op.responses) w.message(9, responses(op.responses as Json, where));
  w.strings(10, strs(op, 'schemes')).bool(11, bool(op, 'deprecated'));
  vendorExtensions(w, 13, op);
  return w;
}

const PATH_ITEM: Fields = {
  $ref: 1,
  get: 2,
  put: 3,
  post: 4,
  delete: 5,
  options: 6,
  head: 7,
  patch: 8,
  parameters: 9,
  ext: 10,
};

function pathItem(item: Json, where: string): ProtoWriter {
  checkKeys(where, item, PATH_ITEM);
  const w = new ProtoWriter().string(1, str(item, '$ref'));
  for (const m of ['get', 'put', 'post', 'delete', 'options', 'head', 'patch']) {
    if (item[m]) w.message(PATH_ITEM[m], operation(item[m] as Json, `${where}.${m}`));
  }
  for (const p of (item.parameters as Json[] | undefined) ?? []) w.message(9, parametersItem(p, where));
  vendorExtensions(w, 10, item);
  return w;
}

const DOCUMENT: Fields = {
  swagger: 1,
  info: 2,
  host: 3,
  basePath: 4,
  schemes: 5,
  consumes: 6,
  produces: 7,
  paths: 8,
  definitions: 9,
  security: 12,
  securityDefinitions: 13,
  tags: 14,
  ext: 16,
};

/** SecurityRequirement { repeated NamedStringArray additional_properties = 1 }. */
function securityRequirement(r: Json): ProtoWriter {
  const w = new ProtoWriter();
  for (const [name, scopes] of Object.entries(r)) {
    w.message(
      1,
      new ProtoWriter().string(1, name).message(2, new ProtoWriter().strings(1, scopes as string[])),
    );
  }
  return w;
}

/** SecurityDefinitions: only the apiKey and basic schemes (the ones an API server has) are known. */
function securityDefinitions(d: Json): ProtoWriter {
  const w = new ProtoWriter();
  for (const [name, v] of Object.entries(d)) {
    const s = v as Json;
    const item = new ProtoWriter();
    if (s.type === 'apiKey') {
      checkKeys(`securityDefinitions.${name}`, s, { type: 1, name: 2, in: 3, description: 4, ext: 5 });
      const k = new ProtoWriter()
        .string(1, str(s, 'type'))
        .string(2, str(s, 'name'))
        .string(3, str(s, 'in'))
        .string(4, str(s, 'description'));
      vendorExtensions(k, 5, s);
      item.message(2, k);
    } else if (s.type === 'basic') {
      checkKeys(`securityDefinitions.${name}`, s, { type: 1, description: 2, ext: 3 });
      const b = new ProtoWriter().string(1, str(s, 'type')).string(2, str(s, 'description'));
      vendorExtensions(b, 3, s);
      item.message(1, b);
    } else {
      throw new OpenApiProtoError(`securityDefinitions.${name}`, `type: ${String(s.type)}`);
    }
    w.message(1, new ProtoWriter().string(1, name).message(2, item));
  }
  return w;
}

/** Encodes a Swagger 2.0 document (as openapi.ts builds it) as gnostic's `openapi.v2.Document`. */
export function encodeOpenApiV2(doc: Json): Uint8Array {
  checkKeys('document', doc, DOCUMENT);
  const w = new ProtoWriter().string(1, str(doc, 'swagger'));
  if (doc.info) {
    const info = doc.info as Json;
    checkKeys('info', info, { title: 1, version: 2, description: 3, termsOfService: 4, ext: 7 });
    const iw = new ProtoWriter()
      .string(1, str(info, 'title'))
      .string(2, str(info, 'version'))
      .string(3, str(info, 'description'))
      .string(4, str(info, 'termsOfService'));
    vendorExtensions(iw, 7, info);
    w.message(2, iw);
  }
  w.string(3, str(doc, 'host'))
    .string(4, str(doc, 'basePath'))
    .strings(5, strs(doc, 'schemes'))
    .strings(6, strs(doc, 'consumes'))
    .strings(7, strs(doc, 'produces'));
  if (doc.paths) {
    const paths = doc.paths as Json;
    const pw = new ProtoWriter();
    vendorExtensions(pw, 1, paths);
    for (const [p, item] of Object.entries(paths)) {
      if (!p.startsWith('x-'))
        pw.message(2, new ProtoWriter().string(1, p).message(2, pathItem(item as Json, p)));
    }
    w.message(8, pw);
  }
  if (doc.definitions) w.message(9, namedSchemas(doc.definitions as Json, 'definitions'));
  for (const r of (doc.security as Json[] | undefined) ?? []) w.message(12, securityRequirement(r));
  if (doc.securityDefinitions) w.message(13, securityDefinitions(doc.securityDefinitions as Json));
  for (const t of (doc.tags as Json[] | undefined) ?? []) {
    checkKeys('tags', t, { name: 1, description: 2, ext: 4 });
    const tw = new ProtoWriter().string(1, str(t, 'name')).string(2, str(t, 'description'));
    vendorExtensions(tw, 4, t);
    w.message(14, tw);
  }
  vendorExtensions(w, 16, doc);
  return w.finish();
}
