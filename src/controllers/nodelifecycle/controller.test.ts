import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runReadmeExample } from '../../util/readme-example.js';
import { expiredNodes, livenessSignal, type Observation } from './controller.js';
import type { KubeObject } from '../../model/types.js';

test('the README example runs', async () => {
  const { module } = await runReadmeExample('src/controllers/nodelifecycle');
  assert.deepEqual(module.expired, ['node-2']);
});

test('a heartbeat counts as a sign of life; deleting nodes are left alone; forgotten nodes leave the map', () => {
  const node = (hb: string, extra: Partial<KubeObject['metadata']> = {}): KubeObject => ({
    metadata: { name: 'n', uid: 'u', ...extra },
    status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: hb }] },
  });
  const seen = new Map<string, Observation>();
  assert.deepEqual(
    expiredNodes([node('t1')], () => undefined, seen, 0, 100),
    [],
  );
  assert.deepEqual(
    expiredNodes([node('t2')], () => undefined, seen, 150, 100),
    [],
  );
  assert.equal(expiredNodes([node('t2')], () => undefined, seen, 250, 100).length, 1);
  assert.deepEqual(
    expiredNodes([node('t2', { deletionTimestamp: 'x' })], () => undefined, seen, 400, 100),
    [],
  );
  expiredNodes([], () => undefined, seen, 500, 100);
  assert.equal(seen.size, 0);
  // A node recreated under the same name (another uid) starts afresh.
  assert.notEqual(livenessSignal(node('t'), undefined), livenessSignal(node('t', { uid: 'v' }), undefined));
});

test('a silent node turns Ready Unknown once, with the reason and message kube-controller-manager writes', async () => {
  const { silentNodes, readyUnknown } = await import('./controller.js');
  const status = {
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        lastHeartbeatTime: 'hb',
        lastTransitionTime: 't0',
        reason: 'KubeletReady',
      },
    ],
  };
  const n: KubeObject = { metadata: { name: 'n', uid: 'u' }, status };
  const seen = new Map<string, Observation>([['n', { signal: livenessSignal(n, undefined), atMs: 0 }]]);
  assert.deepEqual(silentNodes([n], seen, 39_999, 40_000), []);
  assert.deepEqual(silentNodes([n], seen, 40_000, 40_000), [n]);
  const next = readyUnknown(status, 't1');
  assert.deepEqual(next.conditions, [
    {
      type: 'Ready',
      status: 'Unknown',
      lastHeartbeatTime: 'hb',
      lastTransitionTime: 't1',
      reason: 'NodeStatusUnknown',
      message: 'Kubelet stopped posting node status.',
    },
  ]);
  const marked: KubeObject = { ...n, status: next };
  assert.deepEqual(silentNodes([marked], seen, 50_000, 40_000), [], 'once');
  assert.equal(livenessSignal(marked, undefined), livenessSignal(n, undefined), 'marking is no sign of life');
});
