/**
 * The LoadBalancer controller against a real control plane (API server on SQLite over HTTPS): addresses from
 * a two-address pool, a pending Service served once an address is freed, the status cleared when a Service
 * stops being a LoadBalancer.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startTestControlPlane, type TestControlPlane } from '../../cli/testing.js';
import { Resources, type ApiClient } from '../../client/rest.js';
import type { KubeObject } from '../../model/types.js';
import { LoadBalancerController } from './controller.js';

let env: TestControlPlane;
let client: ApiClient;
let ctrl: LoadBalancerController;

before(async () => {
  env = await startTestControlPlane('twill-lb-');
  ({ client } = env);
  // 203.0.113.0/30: .1 and .2 are given out.
  ctrl = new LoadBalancerController({ client, pools: ['203.0.113.0/30'] });
  await ctrl.start();
});

after(async () => {
  await ctrl?.stop();
  await env?.stop();
});

const create = (name: string) =>
  client.create(Resources.services, 'default', {
    metadata: { name },
    spec: { type: 'LoadBalancer', selector: { app: name }, ports: [{ port: 80 }] },
  });
const ingressOf = async (name: string) => {
  const s = await client.get<KubeObject & { status?: any }>(Resources.services, 'default', name);
  return (s.status?.loadBalancer?.ingress ?? []).map((i: { ip: string }) => i.ip) as string[];
};

test(
  'addresses from the pool; a pending Service gets the one freed; a ClusterIP Service loses its status',
  { timeout: 30_000 },
  async () => {
    await create('a');
    assert.deepEqual(
      await eventually('a gets an address', async () =>
        (await ingressOf('a')).length ? ingressOf('a') : undefined,
      ),
      ['203.0.113.1'],
    );
    await create('b');
    assert.deepEqual(
      await eventually('b gets an address', async () =>
        (await ingressOf('b')).length ? ingressOf('b') : undefined,
      ),
      ['203.0.113.2'],
    );
    await create('c');
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(await ingressOf('c'), [], 'the pool is full: c is pending');

    await client.delete(Resources.services, 'default', 'a');
    assert.deepEqual(
      await eventually('c gets the freed address', async () =>
        (await ingressOf('c')).length ? ingressOf('c') : undefined,
      ),
      ['203.0.113.1'],
    );

    await client.patch(Resources.services, 'default', 'b', { spec: { type: 'ClusterIP' } }, 'merge');
    await eventually('b loses its ingress', async () =>
      (await ingressOf('b')).length === 0 ? true : undefined,
    );
  },
);
