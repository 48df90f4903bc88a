/**
 * The wireguard backend: an encrypted overlay. The kernel here has no WireGuard module, so the device is
 * Debian's `wireguard-go` (a TUN device with a userspace data path), configured with `wg`, as flannel's
 * wireguard backend configures the kernel's.
 *
 * Each node makes its key pair at first start: the private key is written to
 * `<agent data dir>/overlay/wireguard/private.key` (mode 0600) and never leaves the node (it reaches the device
 * by file, `wg set … private-key FILE`); the public key is published on the Node in backend-data
 * ({"PublicKey": "…"}). The device `twg<8 hex>` (named after the node, unique on the machine because
 * wireguard-go's control socket /var/run/wireguard/<dev>.sock is not per namespace) holds the podCIDR's network
 * address, MTU underlay − 80 (outer IPv4 20 + UDP 8 + WireGuard 32 + 20 spare for IPv6 underlays, flannel's
 * figure). For each remote node: one peer (its public key, endpoint <underlay IP>:51820, allowed-ips its
 * podCIDRs) and one route `<podCIDR> dev twg… proto 77`. A restarted agent finds the device (wireguard-go runs
 * as a daemon and outlives the agent), the key and the peers, and changes only what differs.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ipBatch, run } from '../linux/exec.js';
import { linkDelete, linkShow } from '../linux/link.js';
import { networkAddress, type BackendContext, type OverlayBackend, type SyncResult } from './backend.js';
import type { Lease } from './lease.js';
import { ROUTE_PROTO } from './vxlan.js';

export const WIREGUARD_PORT = 51820;
export const WIREGUARD_OVERHEAD = 80;

export function wireguardDevName(nodeName: string, netns?: string): string {
  return `twg${crypto
    .createHash('sha256')
    .update(`${netns ?? ''}/${nodeName}`)
    .digest('hex')
    .slice(0, 8)}`;
}

export interface WgPeer {
  publicKey: string;
  endpoint: string;
  allowedIPs: string[];
}

/** Reads `wg show DEV dump` (pure): the first line is the interface, then one line per peer. */
export function parseWgDump(text: string): { publicKey: string; port: number; peers: WgPeer[] } {
  const lines = text.trim().split('\n').filter(Boolean);
  const [, pub, port] = (lines[0] ?? '').split('\t');
  const peers = lines.slice(1).map((l) => {
    const f = l.split('\t');
    return {
      publicKey: f[0],
      endpoint: f[2] === '(none)' ? '' : f[2],
      allowedIPs: f[3] === '(none)' ? [] : f[3].split(',').sort(),
    };
  });
  return { publicKey: pub ?? '', port: Number(port), peers };
}

/** `wg set` arguments (after "wg set DEV") that take the peers from cur to want (pure). */
export function planWgPeers(cur: WgPeer[], want: WgPeer[]): string[] {
  const args: string[] = [];
  const wantBy = new Map(want.map((w) => [w.publicKey, w]));
  for (const c of cur) if (!wantBy.has(c.publicKey)) args.push('peer', c.publicKey, 'remove');
  for (const w of want) {
    const c = cur.find((x) => x.publicKey === w.publicKey);
    if (c && c.endpoint === w.endpoint && c.allowedIPs.join(',') === [...w.allowedIPs].sort().join(','))
      continue;
    args.push('peer', w.publicKey, 'endpoint', w.endpoint, 'allowed-ips', w.allowedIPs.join(','));
  }
  return args;
}

/** The node's private key file: made once, 0600, never sent anywhere. */
async function ensureKey(dir: string, netns?: string): Promise<{ keyFile: string; publicKey: string }> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keyFile = path.join(dir, 'private.key');
  if (!fs.existsSync(keyFile)) {
    const key = (await run(['wg', 'genkey'], { netns })).trim();
    const tmp = `${keyFile}.tmp`;
    fs.writeFileSync(tmp, `${key}\n`, { mode: 0o600 });
    fs.renameSync(tmp, keyFile);
  }
  const publicKey = (await run(['wg', 'pubkey'], { input: fs.readFileSync(keyFile, 'utf8') })).trim();
  return { keyFile, publicKey };
}

export function wireguardBackend(): OverlayBackend {
  return {
    type: 'wireguard',
    async registerNetwork(ctx: BackendContext) {
      const { netns, underlay } = ctx;
      const dev = wireguardDevName(ctx.nodeName, netns);
      const mtu = underlay.mtu - WIREGUARD_OVERHEAD;
      const { keyFile, publicKey } = await ensureKey(path.join(ctx.dataDir, 'wireguard'), netns);
      const sock = `/var/run/wireguard/${dev}.sock`;
      // A device whose daemon is gone cannot be configured: make it again.
      if ((await linkShow(dev, { netns })) && !fs.existsSync(sock)) await linkDelete(dev, { netns });
      if (!(await linkShow(dev, { netns }))) await run(['wireguard-go', dev], { netns });
      await run(['wg', 'set', dev, 'private-key', keyFile, 'listen-port', String(WIREGUARD_PORT)], { netns });
      await ipBatch(
        [
          ['addr', 'replace', `${networkAddress(ctx.podCIDRs[0])}/32`, 'dev', dev],
          ['link', 'set', 'dev', dev, 'mtu', String(mtu), 'up'],
        ],
        { netns },
      );
      const lease: Lease = {
        nodeName: ctx.nodeName,
        podCIDRs: ctx.podCIDRs,
        publicIP: underlay.ip,
        backendType: 'wireguard',
        backendData: { PublicKey: publicKey },
      };
      const readRoutes = async () =>
        (
          JSON.parse(
            (await run(['ip', '-j', '-4', 'route', 'show', 'proto', ROUTE_PROTO, 'dev', dev], { netns })) ||
              '[]',
          ) as Array<{ dst: string }>
        ).map((r) => r.dst);
      return {
        lease,
        mtu,
        async sync(remotes: Lease[]): Promise<SyncResult> {
          const want: WgPeer[] = [];
          for (const l of remotes) {
            const key = (l.backendData as { PublicKey?: string } | null)?.PublicKey;
            if (l.backendType !== 'wireguard' || typeof key !== 'string') continue;
            want.push({
              publicKey: key,
              endpoint: `${l.publicIP}:${WIREGUARD_PORT}`,
              allowedIPs: l.podCIDRs,
            });
          }
          const cur = parseWgDump(await run(['wg', 'show', dev, 'dump'], { netns }));
          const wantRoutes = want.flatMap((w) => w.allowedIPs);
          const haveRoutes = await readRoutes();
          const dels = haveRoutes
            .filter((r) => !wantRoutes.includes(r))
            .map((r) => ['route', 'del', r, 'dev', dev, 'proto', ROUTE_PROTO]);
          const adds = wantRoutes
            .filter((r) => !haveRoutes.includes(r))
            .map((r) => ['route', 'replace', r, 'dev', dev, 'proto', ROUTE_PROTO]);
          // Routes go before their peer is removed and after it is added.
          if (dels.length) await ipBatch(dels, { netns, force: true });
          const peerArgs = planWgPeers(cur.peers, want);
          if (peerArgs.length) await run(['wg', 'set', dev, ...peerArgs], { netns });
          if (adds.length) await ipBatch(adds, { netns });
          return { added: adds.length, removed: dels.length, refused: [] };
        },
        async close(teardown: boolean) {
          // wireguard-go ends when its device is deleted.
          if (teardown) await linkDelete(dev, { netns });
        },
      };
    },
  };
}
