/**
 * The vxlan backend on a real kernel, without a cluster: a namespace with an underlay veth; registering twice
 * adopts the VTEP (same ifindex: a restarted agent recreates nothing), a changed port recreates it, and sync
 * writes exactly the three entries per remote node and nothing on a repeat.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '../linux/exec.js';
import { netnsAdd, netnsDelete } from '../linux/netns.js';
import { linkGet } from '../linux/link.js';
import type { BackendContext } from './backend.js';
import type { Lease } from './lease.js';
import { readVtepState, vtepMac, vxlanBackend } from './vxlan.js';

test('vxlan: a re-registered VTEP is adopted, a changed one recreated; sync is exact and idempotent', async () => {
  const ns = 'twill-ovl6-vx';
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-ovl6-'));
  await netnsDelete(ns);
  await netnsAdd(ns);
  try {
    await run(['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1'], { netns: ns });
    await run(['ip', 'addr', 'add', '172.31.241.11/24', 'dev', 'eth0'], { netns: ns });
    await run(['ip', 'link', 'set', 'eth0', 'up'], { netns: ns });
    const ctx: BackendContext = {
      nodeName: 'node-1',
      podCIDRs: ['10.241.1.0/24'],
      underlay: { dev: 'eth0', ip: '172.31.241.11', prefixlen: 24, mtu: 1500 },
      netns: ns,
      dataDir,
    };
    const first = await vxlanBackend().registerNetwork(ctx, []);
    const link = await linkGet('twill.1', { netns: ns });
    assert.equal(link.mtu, 1450);
    assert.equal(link.mac, vtepMac('172.31.241.11'));
    assert.equal(first.mtu, 1450);
    const again = await vxlanBackend().registerNetwork(ctx, []);
    assert.equal((await linkGet('twill.1', { netns: ns })).index, link.index, 'adopted, not recreated');
    await vxlanBackend({ port: 8472 }).registerNetwork(ctx, []);
    assert.notEqual(
      (await linkGet('twill.1', { netns: ns })).index,
      link.index,
      'recreated for another port',
    );
    assert.match(await run(['ip', '-d', 'link', 'show', 'twill.1'], { netns: ns }), /dstport 8472/);

    const remote = (n: number): Lease => ({
      nodeName: `node-${n}`,
      podCIDRs: [`10.241.${n}.0/24`],
      publicIP: `172.31.241.${10 + n}`,
      backendType: 'vxlan',
      backendData: { VNI: 1, VtepMAC: vtepMac(`172.31.241.${10 + n}`) },
    });
    assert.deepEqual(await again.sync([remote(2), remote(3)]), { added: 2, removed: 0, refused: [] });
    const state = await readVtepState('twill.1', ns);
    assert.deepEqual(
      state.routes.sort((a, b) => a.dst.localeCompare(b.dst)),
      [
        { dst: '10.241.2.0/24', gateway: '10.241.2.0' },
        { dst: '10.241.3.0/24', gateway: '10.241.3.0' },
      ],
    );
    assert.equal(state.neigh.length, 2);
    assert.deepEqual(state.fdb.map((f) => f.dst).sort(), ['172.31.241.12', '172.31.241.13']);
    assert.deepEqual(await again.sync([remote(2), remote(3)]), { added: 0, removed: 0, refused: [] });
    assert.deepEqual(await again.sync([remote(3)]), { added: 0, removed: 1, refused: [] });
    const after = await readVtepState('twill.1', ns);
    assert.deepEqual([after.routes.length, after.neigh.length, after.fdb.length], [1, 1, 1]);
    await again.close(true);
    assert.equal(await run(['ip', 'link', 'show', 'type', 'vxlan'], { netns: ns }), '');
  } finally {
    await netnsDelete(ns);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
