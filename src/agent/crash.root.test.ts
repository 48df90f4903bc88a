/**
 * The agent killed with SIGKILL in the middle of ADDs and started again: `twill agent` as a child process in
 * the host namespace with its own bridge (twq<id>), 24 pods created at once, the agent killed as soon as the
 * first few run (so others are mid-ADD), then a new agent. Every pod ends Running with an address of its own;
 * the IPAM store holds exactly one reservation per pod, owned by that pod; no namespace or veth is left over.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Resources } from '../client/rest.js';
import { type NodeFixture, eventually, exec, nodeFixture, pod, twillBin } from './testing.js';

const PODS = 24;
let fx: NodeFixture;
let agent: ChildProcess | undefined;

function startAgentProcess(): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      twillBin,
      'agent',
      '--node',
      fx.nodeName,
      '--kubeconfig',
      fx.kubeconfig,
      '--data-dir',
      fx.agentDir,
      '--cni-conf-dir',
      path.join(fx.tmp, 'net.d'),
      '--bridge',
      fx.bridge,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TWILL_LOG_LEVEL: 'warn' } },
  );
  child.stderr!.resume();
  return child;
}

async function killAgent(): Promise<void> {
  if (!agent || agent.exitCode !== null) return;
  const exited = new Promise((r) => agent!.once('exit', r));
  agent.kill('SIGKILL');
  await exited;
}

before(async () => {
  fx = await nodeFixture(13);
});

after(async () => {
  await killAgent();
  await fx?.cleanup();
});

type Listed = { metadata: { name: string; uid: string }; status?: { phase?: string; podIP?: string } };

async function pods(): Promise<Listed[]> {
  return (await fx.client.list(Resources.pods, 'default')).items as unknown as Listed[];
}

test(
  'SIGKILL in the middle of ADDs, then a new agent: no leaked or duplicated address',
  { timeout: 300_000 },
  async () => {
    agent = startAgentProcess();
    await eventually(
      'the Node registered',
      async () => fx.client.get(Resources.nodes, undefined, fx.nodeName),
      30_000,
    );
    await Promise.all(
      Array.from({ length: PODS }, (_, i) =>
        fx.client.create(
          Resources.pods,
          'default',
          pod(`p${i}`, fx.nodeName, {
            containers: [{ name: 'c', image: 'twill', command: ['sleep', '3600'] }],
          }),
        ),
      ),
    );
    const before = await eventually(
      'the first pods running',
      async () => {
        const running = (await pods()).filter((p) => p.status?.phase === 'Running').length;
        return running >= 3 ? running : undefined;
      },
      120_000,
    );
    await killAgent();
    assert.ok(before < PODS, `all ${PODS} pods ran before the kill: nothing was cut short`);

    agent = startAgentProcess();
    const all = await eventually(
      'every pod Running with an address',
      async () => {
        const list = await pods();
        return list.length === PODS && list.every((p) => p.status?.phase === 'Running' && p.status.podIP)
          ? list
          : undefined;
      },
      240_000,
    );
    const ips = all.map((p) => p.status!.podIP!);
    assert.equal(new Set(ips).size, PODS, `duplicated addresses: ${ips.sort().join(' ')}`);
    for (const ip of ips) assert.ok(ip.startsWith('10.246.13.'), ip);

    // IPAM: exactly the pods' addresses are reserved, each by its pod.
    const ipamDir = path.join(fx.agentDir, 'cni', 'networks', 'twill');
    const reserved = fs.readdirSync(ipamDir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
    assert.deepEqual(reserved.sort(), [...ips].sort(), 'leaked reservations');
    for (const p of all) {
      const owner = fs.readFileSync(path.join(ipamDir, p.status!.podIP!), 'utf8').split(/\r?\n/)[0];
      assert.equal(owner, p.metadata.uid);
    }
    // One namespace and one veth per pod, nothing else.
    const namespaces = fs.readdirSync('/var/run/netns').filter((n) => n.startsWith(`twill-${fx.nodeName}-`));
    assert.equal(namespaces.length, PODS);
    const { stdout } = await exec('ip', ['-o', 'link', 'show', 'master', fx.bridge]);
    assert.equal(stdout.trim().split('\n').length, PODS);
  },
);
