import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildOneConfig, type NetworkConfigList } from '../../agent/cni.js';
import { portMappings } from '../../agent/agent.js';
import { containerIPs, parsePortMappings, renderPortmapAdd } from './portmap.js';

test('runtimeConfig.portMappings reach only plugins declaring the capability (libcni injectRuntimeConfig)', () => {
  const list = { name: 'twill', cniVersion: '1.1.0' } as NetworkConfigList;
  const caps = { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], bandwidth: {} };
  const withCap = buildOneConfig(
    list,
    { type: 'twill-portmap', capabilities: { portMappings: true } },
    undefined,
    caps,
  );
  assert.deepEqual(withCap.runtimeConfig, { portMappings: caps.portMappings });
  const without = buildOneConfig(list, { type: 'twill-cni' }, undefined, caps);
  assert.equal(without.runtimeConfig, undefined);
  const off = buildOneConfig(list, { type: 'x', capabilities: { portMappings: false } }, undefined, caps);
  assert.equal(off.runtimeConfig, undefined);
});

test('the pod’s hostPorts as containerd passes them', () => {
  assert.deepEqual(
    portMappings({
      metadata: {},
      spec: {
        containers: [
          {
            name: 'a',
            ports: [{ containerPort: 80, hostPort: 8080, protocol: 'TCP' }, { containerPort: 81 }],
          },
          {
            name: 'b',
            ports: [{ containerPort: 53, hostPort: 5353, protocol: 'UDP', hostIP: '198.51.100.1' }],
          },
        ],
      },
    }),
    [
      { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '198.51.100.1' },
    ],
  );
});

test('port mappings are checked as the reference portmap checks them', () => {
  const rc = (m: unknown[]) => ({ runtimeConfig: { portMappings: m } });
  assert.deepEqual(parsePortMappings({}), []);
  assert.throws(
    () => parsePortMappings(rc([{ hostPort: 0, containerPort: 80 }])),
    /Invalid host port number: 0/,
  );
  assert.throws(
    () => parsePortMappings(rc([{ hostPort: 80, containerPort: 70000 }])),
    /Invalid container port number: 70000/,
  );
  assert.throws(
    () => parsePortMappings(rc([{ hostPort: 80, containerPort: 80, protocol: 'icmp' }])),
    /Invalid protocol: icmp/,
  );
});

test('the rules: DNAT from local addresses on the hostPort, hairpin masquerade, per family', () => {
  const ips = containerIPs({
    cniVersion: '1.1.0',
    ips: [{ address: '198.51.100.5/24' }, { address: '2001:db8::5/64' }, { address: '198.51.100.6/24' }],
  });
  assert.deepEqual(ips, { v4: '198.51.100.5', v6: '2001:db8::5' });
  const script = renderPortmapAdd(
    [
      { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '203.0.113.1' },
    ],
    ips,
    'twill c1 eth0',
  );
  const lines = script.split('\n');
  assert.ok(lines.includes('add rule ip twill-portmap prerouting fib daddr type local jump hostports'));
  assert.ok(lines.includes('add rule ip twill-portmap output fib daddr type local jump hostports'));
  assert.ok(
    lines.includes(
      'add rule ip twill-portmap hostports tcp dport 8080 dnat to 198.51.100.5:80 comment "twill c1 eth0"',
    ),
  );
  assert.ok(
    lines.includes(
      'add rule ip twill-portmap hostports ip daddr 203.0.113.1 udp dport 5353 dnat to 198.51.100.5:53 comment "twill c1 eth0"',
    ),
  );
  assert.ok(
    lines.includes(
      'add rule ip twill-portmap postrouting ip saddr 198.51.100.5 ip daddr 198.51.100.5 tcp dport 80 masquerade comment "twill c1 eth0"',
    ),
  );
  // The IPv4 hostIP mapping has no IPv6 rule; the wildcard one has.
  assert.ok(
    lines.includes(
      'add rule ip6 twill-portmap hostports tcp dport 8080 dnat to [2001:db8::5]:80 comment "twill c1 eth0"',
    ),
  );
  assert.equal(lines.filter((l) => l.startsWith('add rule ip6 twill-portmap hostports')).length, 1);
  assert.equal(renderPortmapAdd([], ips, 'k'), '');
});
