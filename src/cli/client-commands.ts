/**
 * twill's thin kubectl-like commands: apply, get, delete. They find the cluster as kubectl does and print what
 * kubectl prints for the same request, so a user can switch between the two freely.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import YAML from 'yaml';
import { ApiClient, isNotFound } from '../client/rest.js';
import type { ResourceRef } from '../client/rest.js';
import { loadKubeconfig } from '../client/kubeconfig.js';
import { byKind, resourceTypes } from '../model/registry.js';
import type { KubeObject, ResourceType } from '../model/types.js';
import { ErrorCodes, TwillError } from '../util/errors.js';
import { threeWayMergePatch } from './apply.js';
import { renderTable } from './printer.js';

export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

export interface ClientOpts {
  kubeconfig?: string;
  namespace?: string;
}

/** A client for the kubeconfig's cluster and the namespace to use (-n, else the kubeconfig's). */
export function connect(o: ClientOpts): { client: ApiClient; namespace: string } {
  const cfg = loadKubeconfig({ kubeconfig: o.kubeconfig });
  const client = new ApiClient({
    server: cfg.server,
    caData: cfg.caData,
    token: cfg.token,
    insecureSkipTLSVerify: cfg.insecureSkipTLSVerify,
  });
  return { client, namespace: o.namespace ?? cfg.namespace };
}

/** kubectl's resource naming: plural, singular, short name or kind, optionally with the group ("pods", "po", "endpointslices.discovery.k8s.io"). */
export function resolveResource(arg: string): ResourceType {
  const a = arg.toLowerCase();
  const [name, ...groupParts] = a.split('.');
  const group = groupParts.join('.');
  const found = resourceTypes.find(
    (rt) =>
      (rt.plural === name ||
        rt.singular === name ||
        rt.kind.toLowerCase() === name ||
        rt.shortNames.includes(name)) &&
      (!group || rt.group === group),
  );
  if (!found) throw new TwillError(ErrorCodes.BadConfig, `the server doesn't have a resource type "${arg}"`);
  return found;
}

/** "service/web" and "endpointslice.discovery.k8s.io/x" as kubectl names objects in its messages. */
export function displayName(rt: ResourceType, name: string): string {
  const kind = rt.kind.toLowerCase();
  return `${rt.group ? `${kind}.${rt.group}` : kind}/${name}`;
}

export function readManifests(file: string): KubeObject[] {
  const texts: string[] = [];
  if (file === '-') texts.push(fs.readFileSync(0, 'utf8'));
  else if (fs.statSync(file).isDirectory()) {
    for (const f of fs.readdirSync(file).sort()) {
      if (/\.(ya?ml|json)$/.test(f)) texts.push(fs.readFileSync(path.join(file, f), 'utf8'));
    }
  } else texts.push(fs.readFileSync(file, 'utf8'));
  const objs: KubeObject[] = [];
  for (const text of texts) {
    for (const doc of YAML.parseAllDocuments(text)) {
      if (doc.errors.length)
        throw new TwillError(ErrorCodes.BadConfig, `error parsing ${file}: ${doc.errors[0].message}`);
      const v = doc.toJS() as KubeObject | null;
      if (!v) continue;
      if (
        typeof v.kind === 'string' &&
        v.kind.endsWith('List') &&
        Array.isArray((v as { items?: unknown }).items)
      ) {
        objs.push(...((v as unknown as { items: KubeObject[] }).items ?? []));
      } else objs.push(v);
    }
  }
  for (const o of objs) {
    if (!o || typeof o !== 'object' || !o.apiVersion || !o.kind) {
      throw new TwillError(
        ErrorCodes.BadConfig,
        `error validating "${file}": apiVersion and kind are required in every object`,
      );
    }
    o.metadata = o.metadata ?? {};
  }
  return objs;
}

function typeOf(obj: KubeObject): ResourceType {
  const [group, version] = obj.apiVersion!.includes('/') ? obj.apiVersion!.split('/') : ['', obj.apiVersion!];
  const rt = byKind(group, obj.kind!);
  if (!rt || rt.version !== version) {
    throw new TwillError(
      ErrorCodes.BadConfig,
      `no matches for kind "${obj.kind}" in version "${obj.apiVersion}"`,
    );
  }
  return rt;
}

async function applyOne(client: ApiClient, defaultNs: string, obj: KubeObject): Promise<string> {
  const rt = typeOf(obj);
  const ns = rt.namespaced ? (obj.metadata.namespace ?? defaultNs) : undefined;
  if (rt.namespaced) obj.metadata.namespace = ns;
  const name = obj.metadata.name;
  if (!name) throw new TwillError(ErrorCodes.BadConfig, `error when applying ${rt.kind}: name is required`);
  const ref = rt as ResourceRef;
  const config = JSON.parse(JSON.stringify(obj)) as KubeObject;
  const annotated = JSON.parse(JSON.stringify(obj)) as KubeObject;
  annotated.metadata.annotations = {
    ...(annotated.metadata.annotations ?? {}),
    [LAST_APPLIED]: JSON.stringify(config) + '\n',
  };
  let live: KubeObject;
  try {
    live = await client.get(ref, ns, name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await client.create(ref, ns, annotated);
    return `${displayName(rt, name)} created`;
  }
  let last: KubeObject | undefined;
  try {
    const text = live.metadata.annotations?.[LAST_APPLIED];
    last = text ? (JSON.parse(text) as KubeObject) : undefined;
  } catch {
    last = undefined;
  }
  const patch = threeWayMergePatch(last, annotated, live);
  if (!patch) return `${displayName(rt, name)} unchanged`;
  const after = await client.patch(ref, ns, name, patch, 'merge');
  return after.metadata.resourceVersion === live.metadata.resourceVersion
    ? `${displayName(rt, name)} unchanged`
    : `${displayName(rt, name)} configured`;
}

async function waitGone(
  client: ApiClient,
  ref: ResourceRef,
  ns: string | undefined,
  name: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      await client.get(ref, ns, name);
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new TwillError(ErrorCodes.ApiError, `timed out waiting for ${name} to be deleted`);
}

export function registerClientCommands(program: Command): void {
  program
    .command('apply')
    .description('create or update objects from manifests (client-side apply, as kubectl apply)')
    .requiredOption('-f, --filename <file>', 'a manifest file, a directory of them, or - for stdin')
    .option('-n, --namespace <ns>', 'namespace for objects that name none')
    .option('--kubeconfig <file>', 'kubeconfig to use')
    .action(async (o) => {
      const { client, namespace } = connect(o);
      try {
        for (const obj of readManifests(o.filename))
          process.stdout.write((await applyOne(client, namespace, obj)) + '\n');
      } finally {
        client.close();
      }
    });

  program
    .command('get')
    .description('list objects, or get one, printed as kubectl get prints them')
    .argument('<kind>', 'resource type (pods, svc, endpointslices, ...), or TYPE/NAME')
    .argument('[names...]', 'object names')
    .option('-n, --namespace <ns>', 'namespace')
    .option('-A, --all-namespaces', 'across all namespaces')
    .option('-o, --output <format>', 'wide, yaml, json or name')
    .option('-l, --selector <selector>', 'label selector')
    .option('--field-selector <selector>', 'field selector')
    .option('--kubeconfig <file>', 'kubeconfig to use')
    .action(async (kindArg: string, names: string[], o) => {
      const { client, namespace } = connect(o);
      try {
        let kind = kindArg;
        if (kind.includes('/'))
          [kind, ...names] = [kind.split('/')[0], kind.split('/').slice(1).join('/'), ...names];
        const rt = resolveResource(kind);
        const ns = rt.namespaced ? (o.allNamespaces ? undefined : namespace) : undefined;
        let objs: KubeObject[];
        if (names.length) objs = await Promise.all(names.map((n) => client.get(rt as ResourceRef, ns, n)));
        else {
          const list = await client.list(rt as ResourceRef, ns, {
            labelSelector: o.selector,
            fieldSelector: o.fieldSelector,
          });
          objs = list.items;
        }
        const out = o.output as string | undefined;
        if (out === 'json' || out === 'yaml') {
          const doc =
            names.length === 1
              ? objs[0]
              : { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items: objs };
          process.stdout.write(out === 'json' ? JSON.stringify(doc, null, 4) + '\n' : YAML.stringify(doc));
        } else if (out === 'name') {
          for (const obj of objs) process.stdout.write(displayName(rt, obj.metadata.name!) + '\n');
        } else if (out === undefined || out === 'wide') {
          if (!objs.length) {
            process.stderr.write(ns ? `No resources found in ${ns} namespace.\n` : 'No resources found\n');
            return;
          }
          process.stdout.write(
            renderTable(rt, objs, {
              wide: out === 'wide',
              withNamespace: !!o.allNamespaces && rt.namespaced,
            }),
          );
        } else
          throw new TwillError(
            ErrorCodes.BadConfig,
            `unable to match a printer suitable for the output format "${out}"`,
          );
      } finally {
        client.close();
      }
    });

  program
    .command('delete')
    .description('delete objects by name or from manifests, waiting until they are gone (as kubectl delete)')
    .argument('[kind]', 'resource type, or TYPE/NAME')
    .argument('[names...]', 'object names')
    .option('-f, --filename <file>', 'delete the objects in these manifests')
    .option('-n, --namespace <ns>', 'namespace')
    .option('--grace-period <seconds>', 'seconds a pod gets to stop')
    .option('--wait <bool>', 'wait until the objects are gone', 'true')
    .option('--ignore-not-found', 'treat "not found" as success')
    .option('--kubeconfig <file>', 'kubeconfig to use')
    .action(async (kindArg: string | undefined, names: string[], o) => {
      const { client, namespace } = connect(o);
      try {
        const targets: { rt: ResourceType; ns?: string; name: string }[] = [];
        if (o.filename) {
          for (const obj of readManifests(o.filename)) {
            const rt = typeOf(obj);
            targets.push({
              rt,
              ns: rt.namespaced ? (obj.metadata.namespace ?? namespace) : undefined,
              name: obj.metadata.name!,
            });
          }
        } else {
          if (!kindArg)
            throw new TwillError(
              ErrorCodes.BadConfig,
              'you must provide one or more resources by argument or filename',
            );
          let kind = kindArg;
          if (kind.includes('/'))
            [kind, ...names] = [kind.split('/')[0], kind.split('/').slice(1).join('/'), ...names];
          if (!names.length)
            throw new TwillError(
              ErrorCodes.BadConfig,
              'resource(s) were provided, but no name was specified',
            );
          const rt = resolveResource(kind);
          for (const name of names) targets.push({ rt, ns: rt.namespaced ? namespace : undefined, name });
        }
        const grace = o.gracePeriod !== undefined ? Number(o.gracePeriod) : undefined;
        for (const t of targets) {
          try {
            await client.delete(
              t.rt as ResourceRef,
              t.ns,
              t.name,
              grace !== undefined ? { gracePeriodSeconds: grace } : {},
            );
          } catch (err) {
            if (o.ignoreNotFound && isNotFound(err)) continue;
            throw err;
          }
          process.stdout.write(
            `${t.rt.kind.toLowerCase()}${t.rt.group ? '.' + t.rt.group : ''} "${t.name}" deleted\n`,
          );
        }
        if (o.wait !== 'false') {
          for (const t of targets) await waitGone(client, t.rt as ResourceRef, t.ns, t.name, 60_000);
        }
      } finally {
        client.close();
      }
    });
}
