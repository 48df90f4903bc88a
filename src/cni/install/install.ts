/**
 * `twill install-cni`: puts twill's CNI plugins where a runtime looks for them (--bin-dir, /opt/cni/bin by
 * convention) and a network config list where it reads them (--conf-dir, /etc/cni/net.d). The plugins are
 * installed as small launchers with absolute paths to this checkout's node and compiled code, so they work
 * from any directory a runtime execs them in.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/src/cni/install → the repository root. */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

export const PLUGINS: Record<string, string> = {
  'twill-cni': 'dist/src/cni/bridge/main.js',
  'twill-ipam': 'dist/src/cni/ipam/main.js',
  'twill-portmap': 'dist/src/cni/portmap/main.js',
};

export interface InstallOptions {
  binDir: string;
  confDir: string;
  /** The network's name (default "twill"); also the conflist's file name. */
  name?: string;
  bridge?: string;
  mtu?: number;
  ipMasq?: boolean;
  /** Chain twill-portmap (the reference portmap's hostPorts, in twill's own nft table) (default true). */
  portmap?: boolean;
  /**
   * cniVersion of the list (default 1.0.0: Debian's reference plugins speak up to 1.0.0; GC and STATUS need
   * 1.1.0, which is what the agent asks for when it does not chain them).
   */
  cniVersion?: string;
  /** More keys of twill-ipam's config (dataDir, podCIDRFile). */
  ipam?: Record<string, unknown>;
}

/** The conflist twill's agent and a runtime use: twill-cni with twill-ipam (the node's podCIDRs), then twill-portmap. */
export function conflist(opts: Omit<InstallOptions, 'binDir' | 'confDir'> = {}): Record<string, unknown> {
  const main: Record<string, unknown> = {
    type: 'twill-cni',
    bridge: opts.bridge ?? 'twill0',
    isGateway: true,
    isDefaultGateway: true,
    ipMasq: opts.ipMasq ?? false,
    hairpinMode: true,
    ipam: { type: 'twill-ipam', ...opts.ipam },
  };
  if (opts.mtu) main.mtu = opts.mtu;
  const plugins: Record<string, unknown>[] = [main];
  if (opts.portmap !== false) plugins.push({ type: 'twill-portmap', capabilities: { portMappings: true } });
  return { cniVersion: opts.cniVersion ?? '1.0.0', name: opts.name ?? 'twill', plugins };
}

function launcher(target: string): string {
  return `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(repoRoot, target))} "$@"\n`;
}

/** Writes the launchers and the conflist (atomically, replacing older ones); returns the paths written. */
export function installCni(opts: InstallOptions): string[] {
  fs.mkdirSync(opts.binDir, { recursive: true });
  fs.mkdirSync(opts.confDir, { recursive: true });
  const written: string[] = [];
  const write = (file: string, text: string, mode: number) => {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, text, { mode });
    fs.renameSync(tmp, file);
    written.push(file);
  };
  for (const [name, target] of Object.entries(PLUGINS))
    write(path.join(opts.binDir, name), launcher(target), 0o755);
  const name = opts.name ?? 'twill';
  write(
    path.join(opts.confDir, `10-${name}.conflist`),
    JSON.stringify(conflist(opts), null, 2) + '\n',
    0o644,
  );
  return written;
}
