/**
 * Serving the OpenAPI documents the way kube-apiserver's kube-openapi handlers do: /openapi/v3 lists one
 * document per group-version with a content hash in its URL; a request with the current hash may be cached
 * for good, one with an old hash is redirected to the current one. /openapi/v2 is negotiated on Accept between
 * JSON and gnostic's OpenAPIv2 protobuf (kubectl asks only for the protobuf, to validate `kind: List` items
 * client-side); the v3 documents are JSON only. Every document carries an ETag (the SHA-512 of the JSON bytes;
 * the protobuf keeps its JSON's, as in kube-openapi) and a matching If-None-Match gets 304, as
 * http.ServeContent answers there.
 */
import type { ServerResponse } from 'node:http';
import { openapiV2JSON, openapiV2Protobuf, openapiV3DocumentJSON, openapiV3RootJSON } from './openapi.js';
import * as status from './status.js';

/**
 * The v2 protobuf media types: kubectl asks for the `@v1.0` spelling (deprecated in kube-openapi), and the
 * answer's Content-Type is always the `.v1.0` one, because Go's mime.ParseMediaType refuses the `@`.
 */
export const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';
const OPENAPI_V2_PROTOBUF_DEPRECATED = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';

type Representation = 'json' | 'protobuf';

/**
 * The first representation the Accept header takes, clauses in order of q (stable for equal q); a wildcard
 * gets JSON. An empty header is `*\/*`. Undefined when nothing matches.
 */
export function negotiateOpenApi(
  accept: string | undefined,
  offers: readonly Representation[],
): Representation | undefined {
  const clauses = (accept?.trim() ? accept : '*/*')
    .split(',')
    .map((c, i) => {
      const [type, ...params] = c.split(';').map((s) => s.trim().toLowerCase());
      const q = params.find((p) => p.startsWith('q='));
      return { type, q: q ? Number(q.slice(2)) : 1, i };
    })
    .filter((c) => c.type && !(c.q <= 0))
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const { type } of clauses) {
    if (
      offers.includes('json') &&
      (type === 'application/json' || type === 'application/*' || type === '*/*')
    )
      return 'json';
    if (
      offers.includes('protobuf') &&
      (type === OPENAPI_V2_PROTOBUF || type === OPENAPI_V2_PROTOBUF_DEPRECATED)
    )
      return 'protobuf';
  }
  return undefined;
}

/** If-None-Match against one strong ETag (a list, `*`, or weak forms, compared weakly as Go's net/http does). */
function notModified(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === '*' || t === etag);
}

function sendDoc(
  res: ServerResponse,
  ifNoneMatch: string | undefined,
  doc: { body: string | Buffer; hash: string },
  contentType: string,
  extra: Record<string, string> = {},
): void {
  const etag = `"${doc.hash}"`;
  const headers = { ETag: etag, Vary: 'Accept', ...extra };
  if (notModified(ifNoneMatch, etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(doc.body),
    ...headers,
  });
  res.end(doc.body);
}

export function serveOpenApi(
  path: string,
  q: URLSearchParams,
  headers: { accept?: string; 'if-none-match'?: string },
  res: ServerResponse,
): void {
  const { accept, 'if-none-match': ifNoneMatch } = headers;
  if (path === '/openapi/v2') {
    const rep = negotiateOpenApi(accept, ['json', 'protobuf']);
    if (rep === 'protobuf') return sendDoc(res, ifNoneMatch, openapiV2Protobuf(), OPENAPI_V2_PROTOBUF);
    if (rep === 'json') return sendDoc(res, ifNoneMatch, openapiV2JSON(), 'application/json');
    throw status.notAcceptable(accept ?? '');
  }
  if (!negotiateOpenApi(accept, ['json'])) throw status.notAcceptable(accept ?? '');
  if (path === '/openapi/v3') return sendDoc(res, ifNoneMatch, openapiV3RootJSON(), 'application/json');
  const gvPath = path.slice('/openapi/v3/'.length);
  const doc = openapiV3DocumentJSON(gvPath);
  if (!doc) throw status.pageNotFound();
  const hash = q.get('hash');
  if (hash && hash !== doc.hash) {
    res.writeHead(301, { Location: `/openapi/v3/${gvPath}?hash=${doc.hash}` });
    res.end();
    return;
  }
  const cache: Record<string, string> = hash
    ? {
        'Cache-Control': 'public, immutable',
        Expires: new Date(Date.now() + 365 * 24 * 3600_000).toUTCString(),
      }
    : {};
  sendDoc(res, ifNoneMatch, doc, 'application/json', cache);
}
