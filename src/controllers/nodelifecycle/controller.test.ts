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
