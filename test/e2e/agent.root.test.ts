/**
 * A user's first pod, end to end: `twill up`, `twill agent` (in the host namespace, on a bridge of its own),
 * `kubectl run` — the scheduler binds the pod, the agent runs it in a network namespace through the CNI
 * plugins, and the pod answers on its own IP; `kubectl delete` takes it all away again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import {
  kubectl,
  run,
  startTwill,
  tempDir,
  twillBin,
  waitFor,
  connectEventually,
  runNetexecPod,
} from './harness.js';

test(
  'kubectl run on a twill agent gives a pod reachable on its own IP; delete removes it',
  { timeout: 120_000 },
  async () => {
    const dir = tempDir('agent-e2e');
    const id = crypto.randomBytes(3).toString('hex');
    const bridge = `twt${id}`;
    const node = `e2e${id}`;
    const forwarding = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
    const bridgeNf = ['iptables', 'ip6tables']
      .map((t) => `/proc/sys/net/bridge/bridge-nf-call-${t}`)
      .filter((f) => fs.existsSync(f))
      .map((f) => [f, fs.readFileSync(f, 'utf8')] as const);
    const twill = await startTwill({
      dataDir: path.join(dir, 'cp'),
      extraArgs: ['--cluster-cidr', '10.244.0.0/16'],
    });
    const agent = spawn(
      process.execPath,
      [
        twillBin,
        'agent',
        '--node',
        node,
        '--kubeconfig',
        twill.kubeconfig,
        '--data-dir',
        path.join(dir, 'agent'),
        '--cni-conf-dir',
        path.join(dir, 'net.d'),
        '--bridge',
        bridge,
      ],
      { env: { ...process.env, TWILL_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let agentLog = '';
    agent.stderr!.on('data', (d) => (agentLog += d));
    const k = (...args: string[]) => kubectl(twill.kubeconfig, args);
    try {
      await waitFor(
        'the node to be Ready',
        async () =>
          (await k('get', 'node', node, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')) ===
          'True',
        20_000,
      );
      const pod = await runNetexecPod(twill.kubeconfig, 'web', 30_000);
      assert.equal(pod.spec.nodeName, node);
      const ip: string = pod.status.podIP;
      assert.match(ip, /^10\.244\.\d+\.\d+$/);
      await connectEventually(`${ip}:8080`);
      await connectEventually(`${ip}:8081`);
      const hostname = await fetch(`http://${ip}:8081/hostname`, { signal: AbortSignal.timeout(3000) });
      assert.equal(await hostname.text(), 'web');
      assert.equal(
        (await run('ip', ['netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith(`twill-${node}-`))
          .length,
        1,
      );

      await k('delete', 'pod', 'web', '--timeout=60s');
      assert.equal(
        (await run('ip', ['netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith(`twill-${node}-`))
          .length,
        0,
      );
      // Its veth is gone from the bridge (no traffic is sent to check: once the pod is gone the address
      // belongs to nobody).
      const ports = JSON.parse((await run('ip', ['-j', 'link', 'show', 'master', bridge])).stdout || '[]');
      assert.deepEqual(ports, []);
    } catch (err) {
      console.log(`agent log:\n${agentLog.slice(-4000)}`);
      throw err;
    } finally {
      agent.kill('SIGTERM');
      await new Promise((r) => (agent.exitCode !== null ? r(null) : agent.once('exit', r)));
      await twill.stop();
      for (const ns of (await run('ip', ['netns', 'list'])).stdout.split('\n')) {
        const name = ns.split(' ')[0];
        if (name.startsWith(`twill-${node}-`)) await run('ip', ['netns', 'delete', name]);
      }
      await run('ip', ['link', 'delete', bridge]);
      // The agent's Services and NetworkPolicy tables stay when the agent stops, as kube-proxy's and a
      // policy agent's do; the bridge-netfilter switch the policy component turned on goes back.
      await run('nft', ['delete', 'table', 'ip', 'twill-services']);
      await run('nft', ['delete', 'table', 'inet', 'twill-policy']);
      for (const [f, v] of bridgeNf) fs.writeFileSync(f, v);
      fs.writeFileSync('/proc/sys/net/ipv4/ip_forward', forwarding);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
