/**
 * For the agent's root tests: an in-process control plane (memory store) and one agent in the host namespace
 * with a bridge of its own (`twq<id>`), node `twq-<id>`, pods in 10.246.<slot>.0/24. `cleanup()` stops both
 * and removes every namespace, the bridge and the temp dirs, even after a failure; the host's ip_forward is
 * put back.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startControlPlane, type ControlPlane } from '../cli/controlplane.js';
import { ApiClient, Resources, isNotFound } from '../client/rest.js';
import { linkDelete } from '../linux/link.js';
import { netnsDelete } from '../linux/netns.js';
import type { KubeObject } from '../model/types.js';
import { type Agent, type AgentOptions, startAgent } from './agent.js';

export const exec = promisify(execFile);
export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const twillBin = path.join(repo, 'bin', 'twill');

export interface NodeFixture {
  id: string;
  nodeName: string;
  bridge: string;
  podCIDR: string;
  tmp: string;
  agentDir: string;
  cp: ControlPlane;
  client: ApiClient;
  agent?: Agent;
  /** Kubeconfig for CLI commands (`twill exec`, `twill run`...). */
  kubeconfig: string;
  agentOptions(extra?: Partial<AgentOptions>): AgentOptions;
  start(extra?: Partial<AgentOptions>): Promise<Agent>;
  cleanup(): Promise<void>;
}

export async function nodeFixture(slot: number, o: { controllers?: boolean } = {}): Promise<NodeFixture> {
  const id = crypto.randomBytes(3).toString('hex');
  const nodeName = `twq-${id}`;
  const bridge = `twq${id}`;
  const podCIDR = `10.246.${slot}.0/24`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-twq-'));
  const agentDir = path.join(tmp, 'agent');
  const forwardBefore = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
  const cp = await startControlPlane({
    dataDir: path.join(tmp, 'cp'),
    apiListen: '127.0.0.1:0',
    store: 'memory',
    serviceCIDRs: ['10.94.0.0/16'],
    clusterCIDRs: [podCIDR],
    controllers: o.controllers ?? false,
  });
  const client = new ApiClient({ server: cp.url, caData: cp.caPem, token: cp.adminToken });
  const fx: NodeFixture = {
    id,
    nodeName,
    bridge,
    podCIDR,
    tmp,
    agentDir,
    cp,
    client,
    kubeconfig: cp.kubeconfigPath,
    agentOptions: (extra) => ({
      client,
      nodeName,
      dataDir: agentDir,
      cniBinDir: [path.join(repo, 'bin'), '/usr/lib/cni'],
      cniConfDir: path.join(tmp, 'net.d'),
      bridge,
      heartbeatMs: 1000,
      ...extra,
    }),
    async start(extra) {
      fx.agent = await startAgent(fx.agentOptions(extra));
      return fx.agent;
    },
    async cleanup() {
      await fx.agent?.stop().catch(() => undefined);
      const ours = fs.existsSync('/var/run/netns')
        ? fs.readdirSync('/var/run/netns').filter((n) => n.startsWith(`twill-${nodeName}-`))
        : [];
      for (const ns of ours) {
        await exec('ip', ['netns', 'pids', ns])
          .then(({ stdout }) =>
            stdout
              .split(/\s+/)
              .filter(Boolean)
              .forEach((p) => process.kill(Number(p), 'SIGKILL')),
          )
          .catch(() => undefined);
        await netnsDelete(ns);
        fs.rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
      }
      await linkDelete(bridge);
      if (forwardBefore === '0') fs.writeFileSync('/proc/sys/net/ipv4/ip_forward', '0');
      client.close();
      await cp.stop();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
  return fx;
}

export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  ms = 30_000,
): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

export type PodStatus = {
  phase?: string;
  podIP?: string;
  conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
  containerStatuses?: Array<{
    name: string;
    ready: boolean;
    started?: boolean;
    restartCount: number;
    state: Record<string, any>;
    lastState: Record<string, any>;
  }>;
};

export async function podStatusOf(client: ApiClient, name: string, ns = 'default'): Promise<PodStatus> {
  return ((await client.get(Resources.pods, ns, name)).status ?? {}) as PodStatus;
}

export const condition = (s: PodStatus, type: string) => s.conditions?.find((c) => c.type === type)?.status;

export async function deletePodAndWait(client: ApiClient, name: string, ns = 'default'): Promise<void> {
  await client.delete(Resources.pods, ns, name).catch(() => undefined);
  await eventually(`pod ${name} gone`, async () => {
    try {
      await client.get(Resources.pods, ns, name);
      return undefined;
    } catch (err) {
      return isNotFound(err) || undefined;
    }
  });
}

export function pod(name: string, nodeName: string, spec: Record<string, unknown>): KubeObject {
  return {
    metadata: { name, namespace: 'default' },
    spec: { nodeName, terminationGracePeriodSeconds: 2, ...spec },
  };
}
