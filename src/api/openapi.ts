/**
 * OpenAPI documents as kube-apiserver publishes them: /openapi/v3 (a root listing one document per
 * group-version, each URL carrying ?hash=<SHA-512 of the document>), /openapi/v3/<gv> (OpenAPI 3.0) and
 * /openapi/v2 (Swagger 2.0, everything in one document).
 *
 * kubectl reads them for three things. It sends fieldValidation=Strict (and skips client-side validation) when
 * the kind's PATCH operation lists a `fieldValidation` query parameter among its own parameters; `kubectl
 * apply` computes strategic merge patches from the schema's x-kubernetes-patch-merge-key/-strategy (found by
 * the x-kubernetes-group-version-kind list on the component schema); `kubectl explain` renders the schemas.
 * So operations carry their parameters inline, field schemas that reference a struct wrap the $ref in allOf
 * (the patch extensions sit on the wrapper, where strategicpatch.PatchMetaFromOpenAPIV3 reads them), and the
 * definitions come from the same client-node models that typed decoding uses. Documents are built once.
 */
import { createHash } from 'node:crypto';
import { resourceTypes } from '../model/registry.js';
import { encodeOpenApiV2 } from './openapi-proto.js';
import { structOf, type Schema, type StructSchema } from '../model/schema/index.js';
import type { PatchSchema, ResourceType } from '../model/types.js';

/** The API's one security scheme, in both documents' form (OpenAPI 3 securitySchemes, Swagger 2 securityDefinitions). */
const BEARER_TOKEN_SCHEME = {
  type: 'apiKey',
  description: 'Bearer Token authentication',
  name: 'authorization',
  in: 'header',
};

type Json = Record<string, unknown>;
type Flavour = 'v3' | 'v2';

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const SPECIAL: Record<string, { name: string; v3: Json; v2: Json }> = {
  time: {
    name: `${META}.Time`,
    v3: { type: 'string', format: 'date-time' },
    v2: { type: 'string', format: 'date-time' },
  },
  microTime: {
    name: `${META}.MicroTime`,
    v3: { type: 'string', format: 'date-time' },
    v2: { type: 'string', format: 'date-time' },
  },
  intOrString: {
    name: 'io.k8s.apimachinery.pkg.util.intstr.IntOrString',
    v3: { oneOf: [{ type: 'integer' }, { type: 'string' }], format: 'int-or-string' },
    v2: { type: 'string', format: 'int-or-string' },
  },
  quantity: {
    name: 'io.k8s.apimachinery.pkg.api.resource.Quantity',
    v3: { oneOf: [{ type: 'string' }, { type: 'number' }] },
    v2: { type: 'string' },
  },
};

/**
 * Where kube's types declare a list as a map keyed by fields (+listType=map, +listMapKey) or a set; kubectl's
 * client-side apply ignores these, server-side apply tooling reads them.
 */
const LIST_TYPES: Record<string, { type: 'map' | 'set' | 'atomic'; keys?: string[] }> = {
  'V1PodSpec.containers': { type: 'map', keys: ['name'] },
  'V1PodSpec.initContainers': { type: 'map', keys: ['name'] },
  'V1PodSpec.ephemeralContainers': { type: 'map', keys: ['name'] },
  'V1Container.ports': { type: 'map', keys: ['containerPort', 'protocol'] },
  'V1ServiceSpec.ports': { type: 'map', keys: ['port', 'protocol'] },
  'V1ServiceSpec.clusterIPs': { type: 'atomic' },
  'V1ServiceSpec.ipFamilies': { type: 'atomic' },
  'V1ObjectMeta.finalizers': { type: 'set' },
  'V1ObjectMeta.ownerReferences': { type: 'map', keys: ['uid'] },
};

function ref(flavour: Flavour, name: string): string {
  return flavour === 'v3' ? `#/components/schemas/${name}` : `#/definitions/${name}`;
}

class Definitions {
  readonly schemas: Record<string, Json> = {};
  constructor(readonly flavour: Flavour) {}

  /** The schema of a field (or list item, map value), adding referenced definitions. */
  field(s: Schema, patch: PatchSchema | undefined, owner?: string, name?: string): Json {
    let out: Json;
    switch (s.type) {
      case 'struct':
        this.struct(s, patch);
        out =
          this.flavour === 'v3'
            ? { allOf: [{ $ref: ref('v3', s.definition) }] }
            : { $ref: ref('v2', s.definition) };
        break;
      case 'list': {
        out = { type: 'array', items: this.field(s.items, patch?.items) };
        if (s.items.type === 'struct') (out.items as Json).default = {};
        const lt = owner && name ? LIST_TYPES[`${owner}.${name}`] : undefined;
        if (lt) {
          out['x-kubernetes-list-type'] = lt.type;
          if (lt.keys) out['x-kubernetes-list-map-keys'] = lt.keys;
        }
        break;
      }
      case 'map':
        out = { type: 'object', additionalProperties: this.field(s.values, patch?.items) };
        break;
      case 'string':
        out = { type: 'string' };
        break;
      case 'bytes':
        out = { type: 'string', format: 'byte' };
        break;
      case 'boolean':
        out = { type: 'boolean' };
        break;
      case 'int32':
      case 'int64':
        out = { type: 'integer', format: s.type };
        break;
      case 'double':
        out = { type: 'number', format: 'double' };
        break;
      case 'any':
        out = { type: 'object' };
        break;
      default: {
        const special = SPECIAL[s.type];
        this.schemas[special.name] ??= special[this.flavour];
        out =
          this.flavour === 'v3'
            ? { allOf: [{ $ref: ref('v3', special.name) }] }
            : { $ref: ref('v2', special.name) };
      }
    }
    if (patch?.mergeKey) out['x-kubernetes-patch-merge-key'] = patch.mergeKey;
    if (patch?.strategy) out['x-kubernetes-patch-strategy'] = patch.strategy;
    return out;
  }

  /** Adds a struct's definition; the patch schema of its first user decides its fields' extensions. */
  struct(s: StructSchema, patch: PatchSchema | undefined, gvk?: Json[]): void {
    if (this.schemas[s.definition]) {
      if (gvk) this.schemas[s.definition]['x-kubernetes-group-version-kind'] = gvk;
      return;
    }
    const def: Json = { type: 'object', description: `${s.goName} (${s.goType}).` };
    this.schemas[s.definition] = def;
    const properties: Json = {};
    for (const [name, fs] of s.fields) {
      properties[name] =
        s.model === 'V1WatchEvent' && name === 'object'
          ? this.rawExtension()
          : this.field(fs, patch?.fields?.[name], s.model, name);
    }
    def.properties = properties;
    if (gvk) def['x-kubernetes-group-version-kind'] = gvk;
  }

  rawExtension(): Json {
    const name = 'io.k8s.apimachinery.pkg.runtime.RawExtension';
    this.schemas[name] ??= { type: 'object', description: 'RawExtension: any object.' };
    return this.flavour === 'v3' ? { allOf: [{ $ref: ref('v3', name) }] } : { $ref: ref('v2', name) };
  }
}

function gvkOf(rt: ResourceType, kind = rt.kind): Json {
  return { group: rt.group, kind, version: rt.version };
}

/** "CoreV1", "DiscoveryV1": the group-version part of kube's operation IDs. */
function opGroup(rt: ResourceType): string {
  const g = rt.group === '' ? 'core' : rt.group.replace(/\.k8s\.io$/, '').split('.')[0];
  const camel = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
  return `${camel(g)}${camel(rt.version)}`;
}

function tagOf(rt: ResourceType): string {
  const g = rt.group === '' ? 'core' : rt.group.replace(/\.k8s\.io$/, '').split('.')[0];
  return `${g}_${rt.version}`;
}

interface ParamDef {
  name: string;
  in: 'query' | 'path';
  type: 'string' | 'integer' | 'boolean';
  description: string;
}

const Q = (name: string, type: ParamDef['type'], description: string): ParamDef => ({
  name,
  in: 'query',
  type,
  description,
});

const PARAMS = {
  pretty: Q('pretty', 'string', "If 'true', then the output is pretty printed."),
  dryRun: Q(
    'dryRun',
    'string',
    'When present, indicates that modifications should not be persisted. Valid value: All.',
  ),
  fieldManager: Q(
    'fieldManager',
    'string',
    'A name associated with the actor or entity that is making these changes.',
  ),
  fieldValidation: Q(
    'fieldValidation',
    'string',
    'How the server handles unknown or duplicate fields in the object: Ignore, Warn (the default) or Strict.',
  ),
  force: Q('force', 'boolean', 'Force apply requests to take ownership of conflicting fields.'),
  allowWatchBookmarks: Q('allowWatchBookmarks', 'boolean', 'Requests watch events with type BOOKMARK.'),
  continue: Q('continue', 'string', 'The continue token of the previous page of a list.'),
  fieldSelector: Q('fieldSelector', 'string', 'Restricts the returned objects by their fields.'),
  labelSelector: Q('labelSelector', 'string', 'Restricts the returned objects by their labels.'),
  limit: Q('limit', 'integer', 'The maximum number of responses to return for a list call.'),
  resourceVersion: Q(
    'resourceVersion',
    'string',
    'Constrains what resource versions a request may be served from.',
  ),
  resourceVersionMatch: Q('resourceVersionMatch', 'string', 'How resourceVersion is applied to list calls.'),
  sendInitialEvents: Q(
    'sendInitialEvents',
    'boolean',
    'Starts a watch stream with synthetic events of the current state.',
  ),
  timeoutSeconds: Q('timeoutSeconds', 'integer', 'Timeout for the list/watch call.'),
  watch: Q('watch', 'boolean', 'Watch for changes to the described resources.'),
  gracePeriodSeconds: Q(
    'gracePeriodSeconds',
    'integer',
    'The duration in seconds before the object should be deleted.',
  ),
  ignoreStoreReadError: Q(
    'ignoreStoreReadErrorWithClusterBreakingPotential',
    'boolean',
    'If set to true, delete even if the object cannot be read from the store.',
  ),
  orphanDependents: Q('orphanDependents', 'boolean', 'Deprecated: use propagationPolicy.'),
  propagationPolicy: Q(
    'propagationPolicy',
    'string',
    'Whether and how garbage collection will be performed.',
  ),
};

const LIST_PARAMS = [
  PARAMS.allowWatchBookmarks,
  PARAMS.continue,
  PARAMS.fieldSelector,
  PARAMS.labelSelector,
  PARAMS.limit,
  PARAMS.resourceVersion,
  PARAMS.resourceVersionMatch,
  PARAMS.sendInitialEvents,
  PARAMS.timeoutSeconds,
  PARAMS.watch,
];
const WRITE_PARAMS = [PARAMS.dryRun, PARAMS.fieldManager, PARAMS.fieldValidation];
const DELETE_PARAMS = [
  PARAMS.dryRun,
  PARAMS.gracePeriodSeconds,
  PARAMS.ignoreStoreReadError,
  PARAMS.orphanDependents,
  PARAMS.propagationPolicy,
];
const DELETE_COLLECTION_PARAMS = [
  PARAMS.continue,
  PARAMS.dryRun,
  PARAMS.fieldSelector,
  PARAMS.gracePeriodSeconds,
  PARAMS.ignoreStoreReadError,
  PARAMS.labelSelector,
  PARAMS.limit,
  PARAMS.orphanDependents,
  PARAMS.propagationPolicy,
  PARAMS.resourceVersion,
  PARAMS.resourceVersionMatch,
  PARAMS.sendInitialEvents,
  PARAMS.timeoutSeconds,
];

const JSON_TYPES = ['application/json', 'application/yaml'];
const WATCH_TYPES = ['application/json', 'application/yaml', 'application/json;stream=watch'];
const PATCH_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
];

function param(flavour: Flavour, p: ParamDef, required = false): Json {
  const out: Json = { name: p.name, in: p.in, description: p.description };
  if (p.in === 'path' || required) out.required = true;
  if (flavour === 'v3') out.schema = { type: p.type, uniqueItems: true };
  else Object.assign(out, { type: p.type, uniqueItems: true });
  return out;
}

interface OpSpec {
  action: 'get' | 'list' | 'watch' | 'watchlist' | 'post' | 'put' | 'patch' | 'delete' | 'deletecollection';
  id: string;
  description: string;
  params: ParamDef[];
  /** Definition name of the request body. */
  body?: string;
  bodyTypes?: string[];
  /** Status code → definition name. */
  responses: Record<string, string>;
  produces: string[];
  gvk: Json;
}

function operation(flavour: Flavour, op: OpSpec, tag: string): Json {
  const out: Json = {
    description: op.description,
    operationId: op.id,
    tags: [tag],
    parameters: op.params.map((p) => param(flavour, p)),
  };
  const responses: Json = {};
  for (const [code, def] of Object.entries(op.responses)) {
    responses[code] =
      flavour === 'v3'
        ? {
            description: code === '201' ? 'Created' : code === '202' ? 'Accepted' : 'OK',
            content: Object.fromEntries(op.produces.map((t) => [t, { schema: { $ref: ref('v3', def) } }])),
          }
        : {
            description: code === '201' ? 'Created' : code === '202' ? 'Accepted' : 'OK',
            schema: { $ref: ref('v2', def) },
          };
  }
  responses['401'] = { description: 'Unauthorized' };
  out.responses = responses;
  if (op.body) {
    const types = op.bodyTypes ?? ['*/*'];
    if (flavour === 'v3') {
      out.requestBody = {
        content: Object.fromEntries(types.map((t) => [t, { schema: { $ref: ref('v3', op.body!) } }])),
        required: true,
      };
    } else {
      (out.parameters as Json[]).push({
        name: 'body',
        in: 'body',
        required: true,
        schema: { $ref: ref('v2', op.body) },
      });
      out.consumes = types;
    }
  } else if (flavour === 'v2') {
    out.consumes = ['*/*'];
  }
  if (flavour === 'v2') {
    out.produces = op.produces;
    out.schemes = ['https'];
  }
  out['x-kubernetes-action'] = op.action;
  out['x-kubernetes-group-version-kind'] = op.gvk;
  return out;
}

/** Paths of one kind, keyed by URL, each with path-level parameters and operations. */
function kindPaths(flavour: Flavour, rt: ResourceType, defs: Definitions): Record<string, Json> {
  const schema = structOf(`V1${rt.kind}`);
  const gvk = gvkOf(rt);
  defs.struct(schema, rt.patchSchema, [gvk]);
  const listDef = listDefinition(defs, rt, schema);
  const kindDef = schema.definition;
  const status = `${META}.Status`;
  const prefix = rt.group ? `/apis/${rt.group}/${rt.version}` : `/api/${rt.version}`;
  const G = opGroup(rt);
  const ns = rt.namespaced ? 'Namespaced' : '';
  const tag = tagOf(rt);
  const nsPath = rt.namespaced ? '/namespaces/{namespace}' : '';
  const pathParam = (name: string, description: string): ParamDef => ({
    name,
    in: 'path',
    type: 'string',
    description,
  });
  const nameP = pathParam('name', `name of the ${rt.kind}`);
  const nsP = pathParam('namespace', 'object name and auth scope, such as for teams and projects');
  const scopeParams = rt.namespaced ? [nsP, PARAMS.pretty] : [PARAMS.pretty];
  const itemParams = rt.namespaced ? [nameP, nsP, PARAMS.pretty] : [nameP, PARAMS.pretty];
  const watchEvent = `${META}.WatchEvent`;

  const paths: Record<string, Json> = {};
  const put = (path: string, params: ParamDef[], ops: Record<string, OpSpec>) => {
    const entry: Json = { parameters: params.map((p) => param(flavour, p)) };
    for (const [method, op] of Object.entries(ops)) entry[method] = operation(flavour, op, tag);
    paths[path] = entry;
  };

  put(`${prefix}${nsPath}/${rt.plural}`, scopeParams, {
    get: {
      action: 'list',
      id: `list${G}${ns}${rt.kind}`,
      description: `list or watch objects of kind ${rt.kind}`,
      params: LIST_PARAMS,
      responses: { '200': listDef },
      produces: WATCH_TYPES,
      gvk,
    },
    post: {
      action: 'post',
      id: `create${G}${ns}${rt.kind}`,
      description: `create a ${rt.kind}`,
      params: WRITE_PARAMS,
      body: kindDef,
      responses: { '200': kindDef, '201': kindDef, '202': kindDef },
      produces: JSON_TYPES,
      gvk,
    },
    delete: {
      action: 'deletecollection',
      id: `delete${G}Collection${ns}${rt.kind}`,
      description: `delete collection of ${rt.kind}`,
      params: DELETE_COLLECTION_PARAMS,
      body: `${META}.DeleteOptions`,
      responses: { '200': status },
      produces: JSON_TYPES,
      gvk,
    },
  });
  put(`${prefix}${nsPath}/${rt.plural}/{name}`, itemParams, {
    get: {
      action: 'get',
      id: `read${G}${ns}${rt.kind}`,
      description: `read the specified ${rt.kind}`,
      params: [],
      responses: { '200': kindDef },
      produces: JSON_TYPES,
      gvk,
    },
    put: {
      action: 'put',
      id: `replace${G}${ns}${rt.kind}`,
      description: `replace the specified ${rt.kind}`,
      params: WRITE_PARAMS,
      body: kindDef,
      responses: { '200': kindDef, '201': kindDef },
      produces: JSON_TYPES,
      gvk,
    },
    patch: {
      action: 'patch',
      id: `patch${G}${ns}${rt.kind}`,
      description: `partially update the specified ${rt.kind}`,
      params: [...WRITE_PARAMS, PARAMS.force],
      body: `${META}.Patch`,
      bodyTypes: PATCH_TYPES,
      responses: { '200': kindDef, '201': kindDef },
      produces: JSON_TYPES,
      gvk,
    },
    delete: {
      action: 'delete',
      id: `delete${G}${ns}${rt.kind}`,
      description: `delete a ${rt.kind}`,
      params: DELETE_PARAMS,
      body: `${META}.DeleteOptions`,
      responses: { '200': status, '202': status },
      produces: JSON_TYPES,
      gvk,
    },
  });
  if (rt.hasStatus) {
    put(`${prefix}${nsPath}/${rt.plural}/{name}/status`, itemParams, {
      get: {
        action: 'get',
        id: `read${G}${ns}${rt.kind}Status`,
        description: `read status of the specified ${rt.kind}`,
        params: [],
        responses: { '200': kindDef },
        produces: JSON_TYPES,
        gvk,
      },
      put: {
        action: 'put',
        id: `replace${G}${ns}${rt.kind}Status`,
        description: `replace status of the specified ${rt.kind}`,
        params: WRITE_PARAMS,
        body: kindDef,
        responses: { '200': kindDef, '201': kindDef },
        produces: JSON_TYPES,
        gvk,
      },
      patch: {
        action: 'patch',
        id: `patch${G}${ns}${rt.kind}Status`,
        description: `partially update status of the specified ${rt.kind}`,
        params: [...WRITE_PARAMS, PARAMS.force],
        body: `${META}.Patch`,
        bodyTypes: PATCH_TYPES,
        responses: { '200': kindDef, '201': kindDef },
        produces: JSON_TYPES,
        gvk,
      },
    });
  }
  if (rt.kind === 'Namespace') {
    put(`${prefix}/namespaces/{name}/finalize`, [nameP, PARAMS.pretty], {
      put: {
        action: 'put',
        id: `replace${G}NamespaceFinalize`,
        description: 'replace finalize of the specified Namespace',
        params: WRITE_PARAMS,
        body: kindDef,
        responses: { '200': kindDef, '201': kindDef },
        produces: JSON_TYPES,
        gvk,
      },
    });
  }
  if (rt.namespaced) {
    put(`${prefix}/${rt.plural}`, [PARAMS.pretty, ...LIST_PARAMS], {
      get: {
        action: 'list',
        id: `list${G}${rt.kind}ForAllNamespaces`,
        description: `list or watch objects of kind ${rt.kind}`,
        params: [],
        responses: { '200': listDef },
        produces: WATCH_TYPES,
        gvk,
      },
    });
  }
  // The deprecated /watch/ paths kube still serves.
  const watchOp = (action: 'watch' | 'watchlist', id: string): Record<string, OpSpec> => ({
    get: {
      action,
      id,
      description: `watch ${rt.kind} objects`,
      params: [],
      responses: { '200': watchEvent },
      produces: WATCH_TYPES,
      gvk,
    },
  });
  put(
    `${prefix}/watch${nsPath}/${rt.plural}`,
    [...scopeParams, ...LIST_PARAMS],
    watchOp('watchlist', `watch${G}${ns}${rt.kind}List`),
  );
  put(
    `${prefix}/watch${nsPath}/${rt.plural}/{name}`,
    [...itemParams, ...LIST_PARAMS],
    watchOp('watch', `watch${G}${ns}${rt.kind}`),
  );
  if (rt.namespaced) {
    put(
      `${prefix}/watch/${rt.plural}`,
      [PARAMS.pretty, ...LIST_PARAMS],
      watchOp('watchlist', `watch${G}${rt.kind}ListForAllNamespaces`),
    );
  }
  return paths;
}

function listDefinition(defs: Definitions, rt: ResourceType, item: StructSchema): string {
  const name = `${item.definition}List`;
  const listMeta = structOf('V1ListMeta');
  defs.struct(listMeta, undefined);
  defs.schemas[name] ??= {
    type: 'object',
    description: `${rt.listKind} is a list of ${rt.kind} objects.`,
    properties: {
      apiVersion: { type: 'string' },
      items: { type: 'array', items: defs.field(item, undefined) },
      kind: { type: 'string' },
      metadata: defs.field(listMeta, undefined),
    },
    required: ['items'],
    'x-kubernetes-group-version-kind': [gvkOf(rt, rt.listKind)],
  };
  return name;
}

/** The definitions every document has besides the kinds'. */
function commonDefinitions(defs: Definitions): void {
  for (const m of ['V1Status', 'V1DeleteOptions', 'V1WatchEvent']) defs.struct(structOf(m), undefined);
  const meta = (kind: string): Json[] => ['v1', 'v1beta1'].map((version) => ({ group: '', kind, version }));
  defs.schemas[`${META}.Status`]['x-kubernetes-group-version-kind'] = meta('Status').slice(0, 1);
  defs.schemas[`${META}.DeleteOptions`]['x-kubernetes-group-version-kind'] = meta('DeleteOptions');
  defs.schemas[`${META}.WatchEvent`]['x-kubernetes-group-version-kind'] = meta('WatchEvent');
  defs.schemas[`${META}.Patch`] = {
    type: 'object',
    description: 'Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.',
  };
}

/** "api/v1", "apis/discovery.k8s.io/v1": the key of a group-version in the v3 root. */
function gvPathOf(rt: ResourceType): string {
  return rt.group ? `apis/${rt.group}/${rt.version}` : `api/${rt.version}`;
}

const INFO = { title: 'Kubernetes', version: 'unversioned' };

function buildV3(gvPath: string): Json | undefined {
  const kinds = resourceTypes.filter((rt) => gvPathOf(rt) === gvPath);
  if (kinds.length === 0) return undefined;
  const defs = new Definitions('v3');
  commonDefinitions(defs);
  const paths: Record<string, Json> = {};
  for (const rt of kinds) Object.assign(paths, kindPaths('v3', rt, defs));
  return {
    openapi: '3.0.0',
    info: INFO,
    paths,
    components: {
      schemas: sorted(defs.schemas),
      securitySchemes: {
        BearerToken: BEARER_TOKEN_SCHEME,
      },
    },
    security: [{ BearerToken: [] }],
  };
}

function sorted<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export interface SerializedDocument {
  /** The exact bytes to send (the hash is over them). */
  body: string;
  /** Upper-case hex SHA-512 of body: the `hash` query parameter and, quoted, the ETag. */
  hash: string;
}

const v3Cache = new Map<string, SerializedDocument | null>();

/** A group-version document, serialized once; undefined for a group-version twill does not serve. */
export function openapiV3DocumentJSON(gvPath: string): SerializedDocument | undefined {
  let doc = v3Cache.get(gvPath);
  if (doc === undefined) {
    const built = buildV3(gvPath);
    doc = built ? serialize(built) : null;
    v3Cache.set(gvPath, doc);
  }
  return doc ?? undefined;
}

function serialize(doc: unknown): SerializedDocument {
  const body = JSON.stringify(doc);
  return { body, hash: createHash('sha512').update(body).digest('hex').toUpperCase() };
}

/** The OpenAPI 3.0 document of "api/v1" or "apis/<group>/<version>", or undefined. */
export function openapiV3Document(gvPath: string): unknown | undefined {
  const doc = openapiV3DocumentJSON(gvPath);
  return doc && JSON.parse(doc.body);
}

/** The group-versions served, as the v3 root lists them ("api/v1", "apis/discovery.k8s.io/v1", ...). */
export function openapiV3Paths(): string[] {
  return [...new Set(resourceTypes.map(gvPathOf))].sort();
}

let rootCache: SerializedDocument | undefined;

/** /openapi/v3: each group-version's document URL with the hash of its content. */
export function openapiV3Root(): unknown {
  return JSON.parse(openapiV3RootJSON().body);
}

export function openapiV3RootJSON(): SerializedDocument {
  rootCache ??= serialize({
    paths: Object.fromEntries(
      openapiV3Paths().map((p) => [
        p,
        { serverRelativeURL: `/openapi/v3/${p}?hash=${openapiV3DocumentJSON(p)!.hash}` },
      ]),
    ),
  });
  return rootCache;
}

let v2Cache: SerializedDocument | undefined;

/** /openapi/v2: one Swagger 2.0 document with every kind's paths and definitions. */
export function openapiV2(): unknown {
  return JSON.parse(openapiV2JSON().body);
}

export function openapiV2JSON(): SerializedDocument {
  if (!v2Cache) {
    const defs = new Definitions('v2');
    commonDefinitions(defs);
    const paths: Record<string, Json> = {};
    for (const rt of resourceTypes) Object.assign(paths, kindPaths('v2', rt, defs));
    v2Cache = serialize({
      swagger: '2.0',
      info: INFO,
      paths: sorted(paths),
      definitions: sorted(defs.schemas),
      securityDefinitions: {
        BearerToken: BEARER_TOKEN_SCHEME,
      },
      security: [{ BearerToken: [] }],
    });
  }
  return v2Cache;
}

let v2ProtoCache: { body: Buffer; hash: string } | undefined;

/**
 * /openapi/v2 as gnostic's OpenAPIv2 protobuf (what kubectl asks for), encoded once from the same document.
 * hash is the JSON document's: kube-openapi derives the protobuf from the JSON and keeps its ETag (the
 * responses differ by Vary: Accept).
 */
export function openapiV2Protobuf(): { body: Buffer; hash: string } {
  if (!v2ProtoCache) {
    const body = Buffer.from(encodeOpenApiV2(openapiV2() as Json));
    v2ProtoCache = { body, hash: openapiV2JSON().hash };
  }
  return v2ProtoCache;
}
