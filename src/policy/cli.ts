/**
 * `twill probe`, `twill reachability` and `twill explain`: what the policies mean, measured from inside the pods
 * and computed from the policies alone, printed as the e2e netpol suite prints its truth tables.
 *
 * `probe` runs one worker per source pod inside that pod's network namespace (`ip netns exec`, through
 * src/linux): `twill probe-worker` reads its targets as JSON on stdin and dials them all in parallel with
 * netexec's `connect` (agnhost's semantics: TCP handshake, UDP reply), printing one result per target. One
 * process per pod instead of one `twill connect` per pair keeps a 9×8×4 table to nine Node start-ups.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { podNetnsName } from '../agent/agent.js';
import { ApiClient, Resources } from '../client/rest.js';
import { netnsExec, netnsExists } from '../linux/netns.js';
import { nftListTable } from '../linux/nft.js';
import type { KubeObject } from '../model/types.js';
import { dial } from '../netexec/connect.js';
import { parseGoDuration } from '../netexec/protocol.js';
import { ErrorCodes, TwillError } from '../util/errors.js';
import { denialText, parseDenials, podsByIP } from './denials.js';
import { POLICY_TABLE } from './render.js';
import {
  evaluate,
  explainText,
  formatTruthTable,
  podFromObject,
  probeKeyText,
  reachability,
  sortPods,
  stateFromObjects,
  type PolicyPod,
  type PolicyState,
  type ProbeKey,
  type Protocol,
  type TruthTable,
} from './semantics.js';

const twillBin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/twill');

interface TableFlags {
  kubeconfig?: string;
  namespaces: string;
  ports: string;
  protocols: string;
  output: string;
  timeout?: string;
}

const client = (kubeconfig?: string): ApiClient => ApiClient.fromKubeconfig({ kubeconfig });

const list = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

export function parseKeys(ports: string, protocols: string): ProbeKey[] {
  const nums = list(ports).map((p) => {
    const n = Number(p);
    if (!/^\d+$/.test(p) || n < 1 || n > 65535)
      throw new TwillError(ErrorCodes.BadConfig, `--ports: "${p}" is not a port number (1-65535)`);
    return n;
  });
  const protos = list(protocols).map((p) => {
    const u = p.toUpperCase();
    if (u !== 'TCP' && u !== 'UDP' && u !== 'SCTP')
      throw new TwillError(ErrorCodes.BadConfig, `--protocols: "${p}" is not one of tcp, udp, sctp`);
    return u as Protocol;
  });
  if (nums.length === 0 || protos.length === 0)
    throw new TwillError(ErrorCodes.BadConfig, '--ports and --protocols need at least one entry each');
  return protos.flatMap((protocol) => nums.map((port) => ({ protocol, port })));
}

/** The cluster's state and the pods of the table: running, with an address, not hostNetwork. */
async function loadState(
  c: ApiClient,
  namespaces: string[],
): Promise<{ state: PolicyState; pods: PolicyPod[]; raw: KubeObject[] }> {
  const [pols, pods, nss] = await Promise.all([
    c.listAll(Resources.networkpolicies),
    c.listAll(Resources.pods),
    c.listAll(Resources.namespaces),
  ]);
  const state = stateFromObjects(pols.items, pods.items, nss.items);
  const raw = pods.items.filter(
    (p) =>
      namespaces.includes(p.metadata.namespace ?? '') &&
      (p.status as { phase?: string } | undefined)?.phase === 'Running' &&
      !(p.spec as { hostNetwork?: boolean } | undefined)?.hostNetwork,
  );
  const table = sortPods(raw.map(podFromObject).filter((p): p is PolicyPod => !!p && p.ips.length > 0));
  return { state, pods: table, raw };
}

export function tableJson(t: TruthTable): Record<string, unknown> {
  return { pods: t.pods, ...t.tables };
}

function print(t: TruthTable, output: string): void {
  if (output === 'json') process.stdout.write(JSON.stringify(tableJson(t), null, 2) + '\n');
  else process.stdout.write(formatTruthTable(t));
}

function checkOutput(o: string): void {
  if (o !== 'json' && o !== 'table')
    throw new TwillError(ErrorCodes.BadConfig, `-o: expected json or table, got "${o}"`);
}

/** The netns of a pod on this machine: its node's name in the agent's naming, found under /var/run/netns. */
export function findPodNetns(pod: KubeObject): string | undefined {
  const uid = pod.metadata.uid ?? '';
  const node = (pod.spec as { nodeName?: string })?.nodeName ?? '';
  const suffix = podNetnsName('', uid).split('-').pop()!;
  let names: string[] = [];
  try {
    names = fs.readdirSync('/var/run/netns');
  } catch {
    return undefined;
  }
  const mine = names.filter((n) => n.endsWith(`-${suffix}`) && n.startsWith('twill-'));
  return mine.find((n) => n === podNetnsName(node, uid) || n.endsWith(`-${node}-${suffix}`)) ?? mine[0];
}

interface ProbeTarget {
  host: string;
  port: number;
  protocol: 'tcp' | 'udp';
}

/** Probes from every pod to every other pod, in parallel, and fills the table. */
export async function probeTable(
  pods: PolicyPod[],
  raw: KubeObject[],
  keys: ProbeKey[],
  timeoutMs: number,
): Promise<TruthTable> {
  if (keys.some((k) => k.protocol === 'SCTP'))
    throw new TwillError(
      ErrorCodes.BadConfig,
      '--protocols: SCTP cannot be probed (this kernel has no SCTP)',
    );
  const ref = (p: PolicyPod) => `${p.namespace}/${p.name}`;
  const rows = new Map<string, Map<string, string>>();
  await Promise.all(
    pods.map(async (from) => {
      const obj = raw.find((r) => r.metadata.namespace === from.namespace && r.metadata.name === from.name)!;
      const netns = findPodNetns(obj);
      if (!netns)
        throw new TwillError(
          ErrorCodes.LinuxNotFound,
          `no network namespace for pod ${ref(from)} on this machine (probe runs where the pods run)`,
        );
      const targets: ProbeTarget[] = [];
      for (const k of keys)
        for (const to of pods)
          if (to !== from)
            targets.push({
              host: to.ips[0],
              port: k.port,
              protocol: k.protocol.toLowerCase() as 'tcp' | 'udp',
            });
      const out = await netnsExec(
        netns,
        [process.execPath, twillBin, 'probe-worker', '--timeout-ms', String(timeoutMs)],
        JSON.stringify(targets),
      );
      const results = JSON.parse(out) as boolean[];
      const byKey = new Map<string, string>();
      let i = 0;
      for (const k of keys) {
        let row = '';
        for (const to of pods) row += to === from ? '-' : results[i++] ? '1' : '0';
        byKey.set(probeKeyText(k), row);
      }
      rows.set(ref(from), byKey);
    }),
  );
  const t: TruthTable = { pods: pods.map(ref), tables: {} };
  for (const k of keys) {
    const key = probeKeyText(k);
    t.tables[key] = {};
    for (const p of pods) t.tables[key][ref(p)] = rows.get(ref(p))!.get(key)!;
  }
  return t;
}

function tableOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--namespaces <list>', 'namespaces whose pods make the table, e.g. x,y,z')
    .option('--ports <list>', 'ports to check', '80,81')
    .option('--protocols <list>', 'tcp, udp (and sctp for reachability)', 'tcp')
    .addOption(new Option('-o, --output <format>', 'table or json').default('table'))
    .option('--kubeconfig <file>', 'kubeconfig to use');
}

function podArg(flag: string, v: string): [string, string] {
  const m = /^([^/]+)\/([^/]+)$/.exec(v);
  if (!m) throw new TwillError(ErrorCodes.BadConfig, `${flag}: expected NAMESPACE/POD, got "${v}"`);
  return [m[1], m[2]];
}

/**
 * `twill logs --denied`: the connections NetworkPolicy denied in the last minute, from the denial record of each
 * node on this machine.
 */
export async function printDeniedConnections(o: { kubeconfig?: string }): Promise<void> {
  const c = client(o.kubeconfig);
  try {
    const pods = (await c.listAll(Resources.pods)).items;
    // A node's namespace is its pods' namespace names without the pod part (`<node netns>-<uid8>`); a node
    // whose pods live under the host's namespace (a real host) is read there.
    const targets = new Set<string | undefined>();
    for (const p of pods) {
      const podNs = findPodNetns(p);
      if (!podNs) continue;
      const nodeNs = podNs.slice(0, podNs.lastIndexOf('-'));
      targets.add(netnsExists(nodeNs) ? nodeNs : undefined);
    }
    const byIP = podsByIP(pods.map(podFromObject).filter((p): p is PolicyPod => !!p));
    for (const netns of targets) {
      for (const d of parseDenials(await nftListTable(POLICY_TABLE, { netns })))
        process.stdout.write(`${denialText(d, byIP)}\n`);
    }
  } finally {
    c.close();
  }
}

export function registerPolicyCommands(program: Command): void {
  tableOptions(
    program
      .command('probe')
      .description(
        'connect from every pod to every other pod and print what is allowed (run where the pods run)',
      ),
  )
    .option('--timeout <duration>', 'how long one probe waits', '1s')
    .action(async (o: TableFlags) => {
      checkOutput(o.output);
      const keys = parseKeys(o.ports, o.protocols);
      const c = client(o.kubeconfig);
      try {
        const { pods, raw } = await loadState(c, list(o.namespaces));
        print(await probeTable(pods, raw, keys, parseGoDuration(o.timeout ?? '1s')), o.output);
      } finally {
        c.close();
      }
    });

  tableOptions(
    program.command('reachability').description('the same table as probe, computed from the policies alone'),
  ).action(async (o: TableFlags) => {
    checkOutput(o.output);
    const keys = parseKeys(o.ports, o.protocols);
    const c = client(o.kubeconfig);
    try {
      const { state, pods } = await loadState(c, list(o.namespaces));
      print(reachability(state, pods, keys), o.output);
    } finally {
      c.close();
    }
  });

  program
    .command('explain')
    .description('say whether one connection is allowed, and which policies and rules decide it')
    .requiredOption('--from <ns/pod>', 'the client pod')
    .requiredOption('--to <ns/pod>', 'the server pod')
    .requiredOption('--port <port/proto>', 'e.g. 80/TCP (TCP when the protocol is left out)')
    .option('--kubeconfig <file>', 'kubeconfig to use')
    .action(async (o: { from: string; to: string; port: string; kubeconfig?: string }) => {
      const [fromNs, fromName] = podArg('--from', o.from);
      const [toNs, toName] = podArg('--to', o.to);
      const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/i.exec(o.port);
      if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535)
        throw new TwillError(
          ErrorCodes.BadConfig,
          `--port: expected PORT/PROTO such as 80/TCP, got "${o.port}"`,
        );
      const c = client(o.kubeconfig);
      try {
        const [from, to] = await Promise.all([
          c.get(Resources.pods, fromNs, fromName),
          c.get(Resources.pods, toNs, toName),
        ]);
        const { state } = await loadState(c, []);
        const conn = {
          from: podFromObject(from)!,
          to: podFromObject(to)!,
          port: Number(m[1]),
          protocol: (m[2] ?? 'TCP').toUpperCase() as Protocol,
        };
        if (!conn.from || !conn.to)
          throw new TwillError(ErrorCodes.BadConfig, 'a pod that has finished has no address');
        const v = evaluate(state, conn);
        process.stdout.write(explainText(conn, v));
      } finally {
        c.close();
      }
    });

  program
    .command('probe-worker', { hidden: true })
    .description('(internal) dial the JSON list of targets on stdin in parallel; print one boolean each')
    .requiredOption('--timeout-ms <ms>', 'per target')
    .action(async (o: { timeoutMs: string }) => {
      const input = fs.readFileSync(0, 'utf8');
      const targets = JSON.parse(input) as ProbeTarget[];
      const timeoutMs = Number(o.timeoutMs);
      const results = await Promise.all(targets.map(async (t) => (await dial({ ...t, timeoutMs })).ok));
      process.stdout.write(JSON.stringify(results) + '\n');
    });
}
