import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import {
  type Probe,
  type ProbeKind,
  type ProbeState,
  initialProbeState,
  probeStep,
  probeTiming,
  resolvePort,
  runProbe,
  shouldProbe,
} from './probe.js';
import { podStatus, type ContainerView } from './status.js';

function run(kind: ProbeKind, probe: Probe, outcomes: Array<'success' | 'failure'>) {
  let state: ProbeState = initialProbeState(kind);
  const published: string[] = [];
  let kills = 0;
  for (const o of outcomes) {
    const step = probeStep(kind, probe, state, o);
    state = step.state;
    published.push(state.result);
    if (step.kill) kills++;
  }
  return { state, published, kills };
}

test("Kubernetes' defaults for a probe", () => {
  assert.deepEqual(probeTiming({}), {
    initialDelaySeconds: 0,
    periodSeconds: 10,
    timeoutSeconds: 1,
    successThreshold: 1,
    failureThreshold: 3,
  });
});

test('initial results: liveness success, readiness failure, startup unknown', () => {
  assert.equal(initialProbeState('liveness').result, 'success');
  assert.equal(initialProbeState('readiness').result, 'failure');
  assert.equal(initialProbeState('startup').result, 'unknown');
});

test('liveness: published failure only after failureThreshold failures in a row, then on hold and kill', () => {
  const r = run('liveness', { failureThreshold: 3 }, ['failure', 'failure', 'success', 'failure', 'failure']);
  assert.deepEqual(r.published, ['success', 'success', 'success', 'success', 'success']);
  assert.equal(r.kills, 0);
  const k = run('liveness', { failureThreshold: 3 }, ['failure', 'failure', 'failure']);
  assert.deepEqual(k.published, ['success', 'success', 'failure']);
  assert.equal(k.kills, 1);
  assert.equal(k.state.onHold, true);
  assert.equal(shouldProbe('liveness', {}, k.state, { runningForMs: 1e9, started: true }), false);
});

test('readiness: successThreshold successes to become ready, failureThreshold failures to stop, never a kill', () => {
  const p = { successThreshold: 2, failureThreshold: 2 };
  const r = run('readiness', p, [
    'success',
    'success',
    'failure',
    'success',
    'failure',
    'failure',
    'failure',
  ]);
  assert.deepEqual(r.published, [
    'failure',
    'success',
    'success',
    'success',
    'success',
    'failure',
    'failure',
  ]);
  assert.equal(r.kills, 0);
  assert.equal(r.state.onHold, false);
});

test('startup gates the others; initialDelaySeconds holds probing back', () => {
  const s = initialProbeState('startup');
  assert.equal(shouldProbe('startup', {}, s, { runningForMs: 0, started: false }), true);
  assert.equal(shouldProbe('startup', {}, s, { runningForMs: 0, started: true }), false);
  assert.equal(
    shouldProbe('liveness', {}, initialProbeState('liveness'), { runningForMs: 0, started: false }),
    false,
  );
  const delayed = { initialDelaySeconds: 5 };
  assert.equal(
    shouldProbe('readiness', delayed, initialProbeState('readiness'), { runningForMs: 4999, started: true }),
    false,
  );
  assert.equal(
    shouldProbe('readiness', delayed, initialProbeState('readiness'), { runningForMs: 5000, started: true }),
    true,
  );
  const failed = run('startup', { failureThreshold: 1 }, ['failure']);
  assert.equal(failed.kills, 1);
});

test('named ports resolve through the container ports', () => {
  assert.equal(resolvePort('http', [{ name: 'http', containerPort: 8080 }]), 8080);
  assert.equal(resolvePort(81, undefined), 81);
  assert.throws(() => resolvePort('nope', []), /unable to find port "nope"/);
});

test('status: ready and started follow the probes; Ready and ContainersReady follow ready', () => {
  const c: ContainerView = {
    name: 'c',
    restartCount: 0,
    state: { kind: 'running', startedAt: '2026-01-01T00:00:00Z', id: 'twill://x' },
    started: true,
    ready: false,
  };
  const view = {
    restartPolicy: 'Always' as const,
    sandboxReady: true,
    podIPs: ['10.0.0.2'],
    containers: [c],
  };
  const s = podStatus(view, undefined, 'T') as any;
  assert.equal(s.phase, 'Running');
  assert.equal(s.containerStatuses[0].ready, false);
  assert.equal(s.containerStatuses[0].started, true);
  const ready = s.conditions.find((x: any) => x.type === 'Ready');
  assert.equal(ready.status, 'False');
  assert.equal(ready.message, 'containers with unready status: [c]');
  const s2 = podStatus({ ...view, containers: [{ ...c, ready: true }] }, s, 'T2') as any;
  assert.equal(s2.conditions.find((x: any) => x.type === 'ContainersReady').status, 'True');
  assert.equal(s2.conditions.find((x: any) => x.type === 'Ready').lastTransitionTime, 'T2');
});

test('handlers: tcpSocket, httpGet and exec against loopback', async () => {
  const srv = http.createServer((req, res) => {
    res.statusCode = req.url === '/healthz' ? 200 : 500;
    res.end(req.headers['user-agent']);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  const target = { podIP: '127.0.0.1', enter: [] };
  try {
    assert.equal((await runProbe({ tcpSocket: { port } }, target)).outcome, 'success');
    assert.equal((await runProbe({ httpGet: { port, path: '/healthz' } }, target)).outcome, 'success');
    const bad = await runProbe({ httpGet: { port, path: '/x' } }, target);
    assert.deepEqual(bad, { outcome: 'failure', message: 'HTTP probe failed with statuscode: 500' });
  } finally {
    await new Promise((r) => srv.close(r));
  }
  // Nothing listens on the port once the server is closed.
  assert.equal((await runProbe({ tcpSocket: { port } }, target)).outcome, 'failure');
  assert.equal((await runProbe({ exec: { command: ['true'] } }, target)).outcome, 'success');
  assert.equal((await runProbe({ exec: { command: ['sh', '-c', 'exit 1'] } }, target)).outcome, 'failure');
  const slow = await runProbe({ exec: { command: ['sleep', '5'] }, timeoutSeconds: 1 }, target);
  assert.deepEqual(slow, { outcome: 'failure', message: 'command timed out after 1s' });
});
