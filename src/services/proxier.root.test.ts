/**
 * The sync loop against a real control plane and a real nftables table in a scratch namespace (tws-px): the
 * full sync on start, partial syncs that touch only what changed, stale chains deleted one sync later, a full
 * sync that repairs the table after a failure, and leftovers of an earlier process removed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestControlPlane, eventually, type TestControlPlane } from '../cli/testing.js';
import { Resources } from '../client/rest.js';
import { netnsAdd, netnsDelete } from '../linux/netns.js';
import { nftApply, nftListTable } from '../linux/nft.js';
import { run } from '../linux/exec.js';
import { Proxier, tableOf } from './proxier.js';
import { slice } from './testing.js';
import { metricsRegistry } from '../util/metrics.js';

const NETNS = 'tws-px';
let tcp: TestControlPlane;
let proxier: Proxier | undefined;

const chains = async () =>
  ((await nftListTable(tableOf('ip'), { netns: NETNS })) ?? [])
    .filter((o) => o.chain)
    .map((o) => String(o.chain.name));
const listText = async () => run(['nft', 'list', 'table', 'ip', 'twill-services'], { netns: NETNS });

before(async () => {
  await netnsDelete(NETNS);
  await netnsAdd(NETNS);
  tcp = await startTestControlPlane('twill-tws-px-');
  // A leftover of an earlier process: a chain this ruleset will not have.
  await nftApply(
    'add table ip twill-services\nadd chain ip twill-services endpoint-LEFTOVER-x/y/tcp/p__10.0.0.1/80\n',
    {
      tables: [tableOf('ip')],
      netns: NETNS,
    },
  );
});

after(async () => {
  try {
    await proxier?.stop();
    await tcp?.stop();
  } finally {
    await netnsDelete(NETNS);
  }
});

test(
  'full sync on start, partial syncs after, stale chains deleted a sync later, repair after failure',
  { timeout: 60_000 },
  async () => {
    const { client } = tcp;
    await client.create(Resources.services, 'default', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'manual' },
      spec: { clusterIP: '10.96.0.50', ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    });
    const eps = (ips: string[]) => ({
      ...slice(
        'default',
        'manual',
        [{ name: 'http', port: 8080 }],
        ips.map((ip) => ({ ip, node: 'n1' })),
        { name: 'manual-1' },
      ),
      metadata: { name: 'manual-1', labels: { 'kubernetes.io/service-name': 'manual' } },
    });
    await client.create(Resources.endpointslices, 'default', eps(['10.244.0.5', '10.244.0.6']));

    proxier = new Proxier({
      client,
      nodeName: 'n1',
      nodeIPs: ['198.51.100.11'],
      clusterCIDRs: ['10.244.0.0/16'],
      serviceCIDRs: ['10.96.0.0/12'],
      families: ['ip'],
      netns: NETNS,
    });
    await proxier.start();
    // The first (full) sync has run: the service is there, the leftover chain flushed (deleted next sync).
    let text = await listText();
    assert.match(text, /numgen random mod 2 vmap @dispatch-/);
    assert.ok((await chains()).includes('endpoint-LEFTOVER-x/y/tcp/p__10.0.0.1/80'));

    // One endpoint goes: a partial sync rewrites the service chain and flushes the endpoint's chain...
    const current = await client.get(Resources.endpointslices, 'default', 'manual-1');
    let synced = proxier.waitForSync();
    await client.update(Resources.endpointslices, 'default', {
      ...eps(['10.244.0.5']),
      metadata: current.metadata,
    });
    await synced;
    text = await listText();
    assert.match(text, /numgen random mod 1 vmap @dispatch-service-\S+\/manual\//);
    assert.match(text, /elements = \{ 0 : goto endpoint-\S+10\.244\.0\.5\/8080 \}/);
    const gone = (await chains()).filter((c) => c.includes('10.244.0.6'));
    assert.equal(gone.length, 1, 'flushed, still there this sync');
    // ...and the next sync (any change) deletes it, and the leftover.
    synced = proxier.waitForSync();
    await client.create(Resources.services, 'default', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'other' },
      spec: { clusterIP: '10.96.0.51', ports: [{ port: 81 }] },
    });
    await synced;
    const after2 = await chains();
    assert.ok(!after2.some((c) => c.includes('10.244.0.6') || c.includes('LEFTOVER')), after2.join('\n'));
    assert.match(await listText(), /10\.96\.0\.51 \. tcp \. 81 : goto reject-chain/);

    // Someone deletes our table: the next partial sync fails, and the full sync after it rebuilds everything.
    await nftApply('delete table ip twill-services\n', { tables: [tableOf('ip')], netns: NETNS });
    await client.delete(Resources.services, 'default', 'other');
    await eventually(
      'the table rebuilt by a full sync',
      async () => {
        const t = await listText().catch(() => '');
        return /10\.96\.0\.50 \. tcp \. 80 : goto service-/.test(t) && !t.includes('10.96.0.51')
          ? true
          : undefined;
      },
      15_000,
    );
    // The syncs are counted for this node: full ones (start, repair), partial ones, and the one that failed.
    const counted = await metricsRegistry.getSingleMetricAsString('twill_services_syncs_total');
    assert.match(counted, /twill_services_syncs_total\{node="n1",mode="full",result="success"\} [2-9]/);
    assert.match(counted, /twill_services_syncs_total\{node="n1",mode="partial",result="success"\} [1-9]/);
    assert.match(counted, /twill_services_syncs_total\{node="n1",mode="partial",result="error"\} 1/);
  },
);

test('the golden rulesets (both families) load into the kernel, and loading again is idempotent', async () => {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src/services/testdata');
  const ns = 'tws-gold';
  await netnsDelete(ns);
  await netnsAdd(ns);
  try {
    for (const [file, family] of [
      ['full-ip.nft', 'ip'],
      ['full-ip6.nft', 'ip6'],
    ] as const) {
      const text = fs.readFileSync(path.join(dir, file), 'utf8');
      await nftApply(text, { tables: [tableOf(family)], netns: ns });
      const first = await run(['nft', 'list', 'table', family, 'twill-services'], { netns: ns });
      await nftApply(text, { tables: [tableOf(family)], netns: ns });
      assert.equal(await run(['nft', 'list', 'table', family, 'twill-services'], { netns: ns }), first);
    }
  } finally {
    await netnsDelete(ns);
  }
});
