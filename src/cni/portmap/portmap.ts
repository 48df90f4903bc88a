/**
 * twill-portmap: hostPorts for a chained attachment, as the reference `portmap` plugin
 * (containernetworking/plugins, plugins/meta/portmap) gives them, in twill's own nftables tables
 * (`table ip twill-portmap`, `table ip6 twill-portmap`) and speaking CNI up to 1.1.0 (GC, STATUS), which
 * Debian's portmap does not.
 *
 *   table ip twill-portmap {
 *     chain prerouting  { type nat hook prerouting priority dstnat; policy accept; fib daddr type local jump hostports }
 *     chain output      { type nat hook output priority dstnat; policy accept; fib daddr type local jump hostports }
 *     chain hostports   { [ip daddr HOSTIP] tcp dport HOSTPORT dnat ip to PODIP:PORT comment "<key>" ... }
 *     chain postrouting { type nat hook postrouting priority srcnat; policy accept;
 *                         ip saddr PODIP ip daddr PODIP tcp dport PORT masquerade comment "<key>" ... }
 *   }
 *
 * The mappings come from `runtimeConfig.portMappings` (the `portMappings` capability, filled in by the
 * runtime: `{hostPort, containerPort, protocol, hostIP}`), the container's addresses from `prevResult` (the
 * first of each family). Traffic to a local address of the node (the reference's `--dst-type LOCAL`) on a
 * hostPort is DNATed to the pod, from outside (prerouting) and from the node itself (output); the postrouting
 * rule masquerades a pod reaching its own hostPort (hairpin), as the reference's SNAT for hairpin does. Every
 * rule carries the attachment's key as its comment, so DEL and GC find them without any other state.
 * Not done: the reference's `snat` for 127.0.0.1 (route_localnet), `conditionsV4/V6`, `markMasqBit`.
 */
import { masqComment } from '../bridge/masq.js';
import { nftApply, nftListTable, type NftTable } from '../../linux/nft.js';
import { parseResult } from '../skel/result.js';
import { type CmdArgs, validAttachments } from '../skel/skel.js';
import { CniError, CniErrorCode, type Result } from '../skel/types.js';

export const PORTMAP_TABLE = 'twill-portmap';
const TABLES: NftTable[] = [
  { family: 'ip', name: PORTMAP_TABLE },
  { family: 'ip6', name: PORTMAP_TABLE },
];

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  hostIP?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** runtimeConfig.portMappings, checked as the reference's parseConfig/checkPorts does. Pure. */
export function parsePortMappings(config: Record<string, unknown>): PortMapping[] {
  const rc = config.runtimeConfig;
  if (!isObject(rc) || rc.portMappings === undefined) return [];
  if (!Array.isArray(rc.portMappings)) {
    throw new CniError(
      CniErrorCode.DecodingFailure,
      'failed to parse network configuration: runtimeConfig.portMappings: not a list',
    );
  }
  const out: PortMapping[] = [];
  const seen = new Set<string>();
  for (const raw of rc.portMappings) {
    if (!isObject(raw))
      throw new CniError(
        CniErrorCode.DecodingFailure,
        'failed to parse network configuration: a port mapping is not an object',
      );
    const hostPort = Number(raw.hostPort);
    const containerPort = Number(raw.containerPort);
    const protocol = String(raw.protocol ?? 'tcp').toLowerCase();
    if (!Number.isInteger(containerPort) || containerPort <= 0 || containerPort > 65535) {
      throw new CniError(
        CniErrorCode.InvalidNetworkConfig,
        `Invalid container port number: ${String(raw.containerPort)}`,
      );
    }
    if (!Number.isInteger(hostPort) || hostPort <= 0 || hostPort > 65535) {
      throw new CniError(
        CniErrorCode.InvalidNetworkConfig,
        `Invalid host port number: ${String(raw.hostPort)}`,
      );
    }
    if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') {
      throw new CniError(CniErrorCode.InvalidNetworkConfig, `Invalid protocol: ${String(raw.protocol)}`);
    }
    const hostIP = typeof raw.hostIP === 'string' && raw.hostIP ? raw.hostIP : undefined;
    const k = `${hostIP ?? ''}/${hostPort}/${protocol}`;
    if (seen.has(k)) {
      throw new CniError(CniErrorCode.InvalidNetworkConfig, `duplicate port mapping ${protocol}/${hostPort}`);
    }
    seen.add(k);
    out.push({ hostPort, containerPort, protocol, ...(hostIP ? { hostIP } : {}) });
  }
  return out;
}

/** The first container address of each family in prevResult (the reference's ContainerIPv4/IPv6). */
export function containerIPs(prev: Result): { v4?: string; v6?: string } {
  const out: { v4?: string; v6?: string } = {};
  for (const ip of prev.ips ?? []) {
    const a = ip.address.split('/')[0];
    if (a.includes(':')) out.v6 ??= a;
    else out.v4 ??= a;
  }
  return out;
}

/** The nft script that adds an attachment's rules (and makes the tables and base chains). Pure. */
export function renderPortmapAdd(
  mappings: PortMapping[],
  ips: { v4?: string; v6?: string },
  comment: string,
): string {
  const lines: string[] = [];
  for (const family of ['ip', 'ip6'] as const) {
    const podIP = family === 'ip' ? ips.v4 : ips.v6;
    if (!podIP) continue;
    const mine = mappings.filter(
      (m) =>
        !m.hostIP ||
        m.hostIP === '0.0.0.0' ||
        m.hostIP === '::' ||
        (family === 'ip') === !m.hostIP.includes(':'),
    );
    if (!mine.length) continue;
    lines.push(
      `table ${family} ${PORTMAP_TABLE} {`,
      '  chain prerouting { type nat hook prerouting priority dstnat; policy accept; }',
      '  chain output { type nat hook output priority -100; policy accept; }',
      '  chain hostports { }',
      '  chain postrouting { type nat hook postrouting priority srcnat; policy accept; }',
      '}',
      // The jumps are rewritten whole in every transaction, so concurrent ADDs never double them.
      `flush chain ${family} ${PORTMAP_TABLE} prerouting`,
      `add rule ${family} ${PORTMAP_TABLE} prerouting fib daddr type local jump hostports`,
      `flush chain ${family} ${PORTMAP_TABLE} output`,
      `add rule ${family} ${PORTMAP_TABLE} output fib daddr type local jump hostports`,
    );
    const target = family === 'ip' ? podIP : `[${podIP}]`;
    for (const m of mine) {
      const daddr =
        m.hostIP && m.hostIP !== '0.0.0.0' && m.hostIP !== '::' ? `${family} daddr ${m.hostIP} ` : '';
      lines.push(
        `add rule ${family} ${PORTMAP_TABLE} hostports ${daddr}${m.protocol} dport ${m.hostPort} ` +
          `dnat to ${target}:${m.containerPort} comment "${comment}"`,
        `add rule ${family} ${PORTMAP_TABLE} postrouting ${family} saddr ${podIP} ${family} daddr ${podIP} ` +
          `${m.protocol} dport ${m.containerPort} masquerade comment "${comment}"`,
      );
    }
  }
  return lines.length ? lines.join('\n') + '\n' : '';
}

/** Rules of our tables whose comment `drop` picks, deleted in one transaction; how many. */
async function prune(drop: (comment: string) => boolean): Promise<number> {
  const lines: string[] = [];
  for (const t of TABLES) {
    for (const o of (await nftListTable(t)) ?? []) {
      const rule = o.rule as { chain: string; handle: number; comment?: string } | undefined;
      if (rule?.comment !== undefined && drop(rule.comment)) {
        lines.push(`delete rule ${t.family} ${PORTMAP_TABLE} ${rule.chain} handle ${rule.handle}`);
      }
    }
  }
  if (lines.length) await nftApply(lines.join('\n') + '\n', { tables: TABLES });
  return lines.length;
}

/** The DNAT rules of an attachment, as nft prints them (CHECK, tests). */
export async function portmapRules(comment: string): Promise<string[]> {
  const out: string[] = [];
  for (const t of TABLES) {
    for (const o of (await nftListTable(t)) ?? []) {
      const rule = o.rule as { chain: string; comment?: string; expr: unknown[] } | undefined;
      if (rule?.comment === comment && rule.chain === 'hostports') out.push(JSON.stringify(rule.expr));
    }
  }
  return out;
}

function prevResultOf(args: CmdArgs): Result | undefined {
  const raw = (args.config as Record<string, unknown>).prevResult;
  if (raw === undefined) return undefined;
  try {
    return parseResult(raw);
  } catch (err) {
    throw new CniError(CniErrorCode.DecodingFailure, `failed to parse prevResult: ${(err as Error).message}`);
  }
}

const keyOf = (args: CmdArgs) => masqComment(String(args.config.name), args.containerID, args.ifName);

export async function cmdAdd(args: CmdArgs): Promise<Result> {
  const config = args.config as Record<string, unknown>;
  const prev = prevResultOf(args);
  if (!prev) throw new CniError(CniErrorCode.InvalidNetworkConfig, 'must be called as chained plugin');
  const mappings = parsePortMappings(config);
  if (mappings.length) {
    const script = renderPortmapAdd(mappings, containerIPs(prev), keyOf(args));
    // A repeated ADD for the same attachment replaces its rules.
    await prune((c) => c === keyOf(args));
    if (script) await nftApply(script, { tables: TABLES });
  }
  return prev;
}

export async function cmdDel(args: CmdArgs): Promise<void> {
  parsePortMappings(args.config as Record<string, unknown>);
  await prune((c) => c === keyOf(args));
}

export async function cmdCheck(args: CmdArgs): Promise<void> {
  const config = args.config as Record<string, unknown>;
  const prev = prevResultOf(args);
  if (!prev) throw new CniError(CniErrorCode.InvalidNetworkConfig, 'must be called as chained plugin');
  const mappings = parsePortMappings(config);
  const ips = containerIPs(prev);
  const want = mappings.filter((m) => (m.hostIP?.includes(':') ? ips.v6 : ips.v4 || ips.v6)).length;
  const have = (await portmapRules(keyOf(args))).length;
  if (have < want) {
    throw new CniError(CniErrorCode.Internal, `portmap: ${want - have} of ${want} port mappings missing`);
  }
}

export async function cmdGC(args: CmdArgs): Promise<void> {
  const valid = validAttachments(args.config);
  if (!valid) return;
  const network = String(args.config.name);
  const keep = new Set(valid.map((a) => masqComment(network, a.containerID, a.ifname)));
  await prune((c) => c.startsWith(`${network} `) && !keep.has(c));
}

export function cmdStatus(): void {
  // No state of its own to be ready: nft is checked on use.
}
