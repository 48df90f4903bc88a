/**
 * Probes for real: an agent in the host namespace (bridge twq<id>), pods as namespaces. A pod whose liveness
 * probe fails is killed and started again (restartCount, lastState.terminated); a pod is Ready only once its
 * readiness probe passes; an exec probe runs inside the pod's namespace.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Resources } from '../client/rest.js';
import {
  type NodeFixture,
  condition,
  deletePodAndWait,
  eventually,
  nodeFixture,
  pod,
  podStatusOf,
  twillBin,
} from './testing.js';

let fx: NodeFixture;

before(async () => {
  fx = await nodeFixture(11);
  await fx.start();
});

after(async () => {
  await fx?.cleanup();
});

test('a pod whose liveness probe fails is killed and started again', async () => {
  const missing = `${fx.tmp}/never-there`;
  await fx.client.create(
    Resources.pods,
    'default',
    pod('live', fx.nodeName, {
      containers: [
        {
          name: 'c',
          image: 'twill',
          command: ['sleep', '3600'],
          livenessProbe: {
            exec: { command: ['test', '-e', missing] },
            periodSeconds: 1,
            failureThreshold: 2,
          },
        },
      ],
    }),
  );
  const s = await eventually(
    'live restarted',
    async () => {
      const st = await podStatusOf(fx.client, 'live');
      return (st.containerStatuses?.[0]?.restartCount ?? 0) >= 1 && st.containerStatuses![0].state.running
        ? st
        : undefined;
    },
    30_000,
  );
  const cs = s.containerStatuses![0];
  // SIGTERM from the agent: 128 + 15.
  assert.equal(cs.lastState.terminated.exitCode, 143);
  assert.equal(cs.lastState.terminated.reason, 'Error');
  assert.equal(s.phase, 'Running');
  await deletePodAndWait(fx.client, 'live');
});

test('restartPolicy Never: a liveness failure kills the container for good', async () => {
  await fx.client.create(
    Resources.pods,
    'default',
    pod('live-never', fx.nodeName, {
      restartPolicy: 'Never',
      containers: [
        {
          name: 'c',
          image: 'twill',
          command: ['sleep', '3600'],
          livenessProbe: { tcpSocket: { port: 9 }, periodSeconds: 1, failureThreshold: 1 },
        },
      ],
    }),
  );
  const s = await eventually('live-never Failed', async () => {
    const st = await podStatusOf(fx.client, 'live-never');
    return st.phase === 'Failed' ? st : undefined;
  });
  assert.equal(s.containerStatuses![0].restartCount, 0);
  assert.equal(s.containerStatuses![0].state.terminated.exitCode, 143);
  await deletePodAndWait(fx.client, 'live-never');
});

test('a pod becomes Ready only when its readiness probe passes', async () => {
  // netexec starts listening after 3 s; the readiness probe (httpGet /healthz) fails until then.
  const hostNet = fs.readlinkSync('/proc/self/ns/net');
  await fx.client.create(
    Resources.pods,
    'default',
    pod('ready', fx.nodeName, {
      containers: [
        {
          name: 'web',
          image: 'twill',
          command: ['sh', '-c', `sleep 3; exec ${process.execPath} ${twillBin} netexec --http 8080`],
          ports: [{ name: 'http', containerPort: 8080 }],
          readinessProbe: { httpGet: { port: 'http', path: '/healthz' }, periodSeconds: 1 },
          livenessProbe: { tcpSocket: { port: 8080 }, initialDelaySeconds: 10, periodSeconds: 1 },
        },
        {
          name: 'side',
          image: 'twill',
          command: ['sleep', '3600'],
          // Succeeds only outside the host's network namespace.
          readinessProbe: {
            exec: { command: ['sh', '-c', `[ "$(readlink /proc/self/ns/net)" != "${hostNet}" ]`] },
            periodSeconds: 1,
          },
        },
      ],
    }),
  );
  const notYet = await eventually('ready Running', async () => {
    const st = await podStatusOf(fx.client, 'ready');
    return st.phase === 'Running' ? st : undefined;
  });
  assert.equal(condition(notYet, 'Ready'), 'False');
  assert.equal(notYet.containerStatuses!.find((c) => c.name === 'web')!.ready, false);
  assert.equal(notYet.containerStatuses!.find((c) => c.name === 'web')!.started, true);
  const ready = await eventually('ready Ready', async () => {
    const st = await podStatusOf(fx.client, 'ready');
    return condition(st, 'Ready') === 'True' ? st : undefined;
  });
  assert.equal(condition(ready, 'ContainersReady'), 'True');
  assert.deepEqual(
    ready.containerStatuses!.map((c) => [c.name, c.ready, c.restartCount]),
    [
      ['web', true, 0],
      ['side', true, 0],
    ],
  );
  await deletePodAndWait(fx.client, 'ready');
});
