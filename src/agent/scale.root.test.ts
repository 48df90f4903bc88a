/**
 * 200 pods created at once on one node (the agent in the host namespace, bridge twq<id>, podCIDR
 * 10.246.14.0/24) all run, with 200 distinct addresses from the podCIDR. Bounded: 6 minutes; everything is
 * removed afterwards by the fixture (processes, namespaces, bridge, reservations).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Resources } from '../client/rest.js';
import { type NodeFixture, eventually, nodeFixture, pod } from './testing.js';

const PODS = 200;
let fx: NodeFixture;

before(async () => {
  fx = await nodeFixture(14);
  await fx.start();
});

after(async () => {
  await fx?.cleanup();
});

test(`${PODS} pods created at once get ${PODS} distinct addresses`, { timeout: 420_000 }, async () => {
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: PODS }, (_, i) =>
      fx.client.create(
        Resources.pods,
        'default',
        pod(`s${i}`, fx.nodeName, {
          containers: [{ name: 'c', image: 'twill', command: ['sleep', '3600'] }],
        }),
      ),
    ),
  );
  type Listed = { status?: { phase?: string; podIP?: string } };
  const all = await eventually(
    `${PODS} pods Running`,
    async () => {
      const items = (await fx.client.listAll(Resources.pods, 'default')).items as unknown as Listed[];
      return items.length === PODS && items.every((p) => p.status?.phase === 'Running' && p.status.podIP)
        ? items
        : undefined;
    },
    360_000,
  );
  const ips = all.map((p) => p.status!.podIP!);
  assert.equal(new Set(ips).size, PODS);
  for (const ip of ips) assert.match(ip, /^10\.246\.14\.\d+$/);
  process.stderr.write(`# ${PODS} pods Running in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
});
