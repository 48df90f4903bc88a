/**
 * `twill dns` (the cluster DNS as its own process, as CoreDNS runs) and the DNS that `twill up` starts in its
 * own process (`--dns-listen`).
 */
import { publishKubeDns } from './kubedns.js';
import net from 'node:net';
import type { Command } from 'commander';
import { ApiClient } from '../client/rest.js';
import { startDns, type DnsService } from './service.js';
import { ErrorCodes, TwillError } from '../util/errors.js';

/** twill up's default: loopback, the DNS port (free on a machine without a local resolver on 127.0.0.1). */
export const DEFAULT_DNS_LISTEN = '127.0.0.1:53';

/** Refuses anything but IP:PORT (IPv6 in brackets) before any work is done. */
export function checkListen(listen: string, flag: string): void {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
  if (!m || !net.isIP(m[1] ?? m[2]) || Number(m[3]) > 65535) {
    throw new TwillError(
      ErrorCodes.BadConfig,
      `${flag}: expected IP:PORT${flag === '--dns-listen' ? ' or "off"' : ''}, got "${listen}"`,
    );
  }
}

export function registerDnsCommand(program: Command): void {
  program
    .command('dns')
    .description('serve the cluster DNS zone from the API (Services, EndpointSlices, Pods), CoreDNS-style')
    .option(
      '--listen <host:port>',
      'where to answer, UDP and TCP (server blocks on port 53 or no port)',
      '127.0.0.1:53',
    )
    .option(
      '--corefile <file>',
      'read the Corefile from this file (default: the ConfigMap kube-system/coredns)',
    )
    .option('--cluster-domain <domain>', 'the zone of the default Corefile', 'cluster.local')
    .option('--kubeconfig <file>', 'the cluster to serve (default: as kubectl finds it)')
    .action(async (o: { listen: string; corefile?: string; clusterDomain: string; kubeconfig?: string }) => {
      checkListen(o.listen, '--listen');
      const client = ApiClient.fromKubeconfig({ kubeconfig: o.kubeconfig });
      const dns = await startDns({
        listen: o.listen,
        listenFlag: '--listen',
        corefilePath: o.corefile,
        configMap: !o.corefile,
        client,
        clusterDomain: o.clusterDomain,
      });
      process.stdout.write(`twill: DNS at ${dns.address} (UDP and TCP)\n`);
      await new Promise<void>((resolve) => {
        const stop = () => void dns.stop().finally(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      client.close();
    });
}

/**
 * The DNS of `twill up`: in-process, fed by the control plane's API with the admin credentials, the Corefile
 * from the ConfigMap kube-system/coredns (twill's default Corefile while there is none). `off` disables it.
 */
export async function startControlPlaneDns(
  listen: string,
  api: { url: string; caPem: string; token: string },
  kubeDns?: { clusterIP: string },
): Promise<
  | {
      dns: DnsService;
      /** Serves on `host` too and points the kube-dns Service's EndpointSlice there (./kubedns.ts). */
      exposeTo(host: string): Promise<void>;
      stop(): Promise<void>;
    }
  | undefined
> {
  if (listen === 'off' || listen === '') return undefined;
  checkListen(listen, '--dns-listen');
  const client = new ApiClient({ server: api.url, caData: api.caPem, token: api.token });
  try {
    const dns = await startDns({ listen, listenFlag: '--dns-listen', configMap: true, client });
    if (kubeDns) await publishKubeDns(client, { clusterIP: kubeDns.clusterIP });
    return {
      dns,
      async exposeTo(host) {
        const port = await dns.serveAlsoOn(host);
        if (kubeDns)
          await publishKubeDns(client, { clusterIP: kubeDns.clusterIP, endpoint: { ip: host, port } });
      },
      stop: async () => {
        await dns.stop();
        client.close();
      },
    };
  } catch (err) {
    client.close();
    throw err;
  }
}
