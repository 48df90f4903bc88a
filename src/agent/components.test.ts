import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApiClient } from '../client/rest.js';
import {
  type NodeComponentFactory,
  type NodeContext,
  startComponents,
  stopComponents,
} from './components.js';

const ctx: NodeContext = {
  client: {} as ApiClient,
  nodeName: 'n1',
  node: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } },
  podCIDRs: ['10.244.0.0/24'],
  dataDir: '/nonexistent',
};

function recorder(events: string[], name: string, failStart = false): NodeComponentFactory {
  return async () => {
    if (failStart) throw new Error(`${name} failed`);
    events.push(`start ${name}`);
    return {
      name,
      stop: async (o) => {
        events.push(`stop ${name}${o?.teardown ? ' teardown' : ''}`);
      },
    };
  };
}

test('components start in order and stop in reverse, passing teardown', async () => {
  const events: string[] = [];
  const started = await startComponents([recorder(events, 'overlay'), recorder(events, 'services')], ctx);
  await stopComponents(started, { teardown: true });
  assert.deepEqual(events, [
    'start overlay',
    'start services',
    'stop services teardown',
    'stop overlay teardown',
  ]);
});

test('a component that fails to start stops the ones before it and the error reaches the caller', async () => {
  const events: string[] = [];
  await assert.rejects(
    startComponents([recorder(events, 'overlay'), recorder(events, 'services', true)], ctx),
    /services failed/,
  );
  assert.deepEqual(events, ['start overlay', 'stop overlay']);
});
