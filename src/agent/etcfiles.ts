/**
 * A pod's /etc/hosts and /etc/resolv.conf, as the kubelet makes them (pkg/kubelet/kubelet_pods.go
 * managedHostsFileContent, pkg/kubelet/network/dns/dns.go GetPodDNS) and the runtime writes them (containerd:
 * `search`, then `nameserver` lines, then `options`). Pure: the node's resolv.conf text comes in.
 *
 * They reach the pod's processes through `ip netns exec NAME`, which bind-mounts every file of
 * /etc/netns/NAME/ over the one of the same name in /etc (`writePodEtcFiles`).
 */
import fs from 'node:fs';
import path from 'node:path';

export interface HostAlias {
  ip: string;
  hostnames?: string[];
}

export interface PodDNSSpec {
  namespace: string;
  name: string;
  hostNetwork?: boolean;
  hostname?: string;
  subdomain?: string;
  dnsPolicy?: string;
  dnsConfig?: {
    nameservers?: string[];
    searches?: string[];
    options?: Array<{ name: string; value?: string }>;
  };
  hostAliases?: HostAlias[];
}

/** Kubernetes' limits (pkg/apis/core/validation): nameservers, search domains, search line length. */
export const MAX_DNS_NAMESERVERS = 3;
export const MAX_DNS_SEARCH_PATHS = 32;
export const MAX_DNS_SEARCH_LIST_CHARS = 2048;
const MAX_DOMAIN_LENGTH = 253;

/** The pod's hostname: spec.hostname, else the pod name cut to 63 characters without a trailing '-' or '.'. */
export function podHostname(pod: Pick<PodDNSSpec, 'name' | 'hostname'>): string {
  if (pod.hostname) return pod.hostname;
  let h = pod.name.length > 63 ? pod.name.slice(0, 63) : pod.name;
  while (h.endsWith('-') || h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

function aliasLines(aliases: HostAlias[] | undefined): string {
  if (!aliases?.length) return '';
  let s = '\n# Entries added by HostAliases.\n';
  for (const a of aliases) s += `${a.ip}\t${(a.hostnames ?? []).join('\t')}\n`;
  return s;
}

/** The kubelet's managed hosts file for a pod with its own network namespace. */
export function hostsFile(pod: PodDNSSpec, podIPs: string[], clusterDomain: string): string {
  const hostname = podHostname(pod);
  let s = '# Kubernetes-managed hosts file.\n';
  s += '127.0.0.1\tlocalhost\n';
  s += '::1\tlocalhost ip6-localhost ip6-loopback\n';
  s += 'fe00::0\tip6-localnet\n';
  s += 'fe00::0\tip6-mcastprefix\n';
  s += 'fe00::1\tip6-allnodes\n';
  s += 'fe00::2\tip6-allrouters\n';
  const domain = pod.subdomain ? `${pod.subdomain}.${pod.namespace}.svc.${clusterDomain}` : '';
  for (const ip of podIPs)
    s += domain ? `${ip}\t${hostname}.${domain}\t${hostname}\n` : `${ip}\t${hostname}\n`;
  return s + aliasLines(pod.hostAliases);
}

/** The kubelet's hosts file for a hostNetwork pod: the node's own, under its header, plus hostAliases. */
export function hostNetworkHostsFile(nodeHosts: string, aliases?: HostAlias[]): string {
  return '# Kubernetes-managed hosts file (host network).\n' + nodeHosts + aliasLines(aliases);
}

export interface ResolverConfig {
  nameservers: string[];
  searches: string[];
  options: string[];
}

/** A resolv.conf as the kubelet's parseResolvConf reads it (the last `search` line wins; `.` dropped). */
export function parseResolvConf(text: string): ResolverConfig {
  const out: ResolverConfig = { nameservers: [], searches: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const fields = line.split(/\s+/);
    if (fields[0] === 'nameserver' && fields.length > 1) out.nameservers.push(fields[1]);
    else if (fields[0] === 'search') {
      out.searches = fields
        .slice(1)
        .filter((d) => d !== '.')
        .map((d) => d.replace(/\.$/, ''));
    } else if (fields[0] === 'options') out.options.push(...fields.slice(1));
  }
  return out;
}

const omitDuplicates = (xs: string[]) => [...new Set(xs)];

/** dnsConfig's options override the base options of the same name (the rest are kept, in order). */
function mergeOptions(base: string[], extra: Array<{ name: string; value?: string }>): string[] {
  const m = new Map<string, string>();
  for (const o of base) {
    const i = o.indexOf(':');
    if (i >= 0) m.set(o.slice(0, i), o.slice(i + 1));
    else m.set(o, '');
  }
  for (const o of extra) m.set(o.name, o.value ?? '');
  return [...m].map(([k, v]) => (v ? `${k}:${v}` : k));
}

/** The search list cut to Kubernetes' limits, as the kubelet's formDNSSearchFitsLimits. */
export function searchesFitLimits(searches: string[]): string[] {
  let s = searches.slice(0, MAX_DNS_SEARCH_PATHS).filter((d) => d.length <= MAX_DOMAIN_LENGTH);
  let len = s.join(' ').length;
  while (s.length && len > MAX_DNS_SEARCH_LIST_CHARS) {
    len -= s[s.length - 1].length + 1;
    s = s.slice(0, -1);
  }
  return s;
}

/**
 * The pod's resolver configuration by dnsPolicy: ClusterFirst (the cluster DNS, the cluster search domains
 * before the node's, ndots:5; a hostNetwork pod falls back to Default, and so does any pod when no cluster DNS
 * is configured), ClusterFirstWithHostNet (ClusterFirst even on the host network), Default (the node's
 * resolv.conf), None (empty); then dnsConfig appended and the limits applied.
 */
export function podResolverConfig(
  pod: PodDNSSpec,
  node: { resolvConf: string; clusterDNS: string[]; clusterDomain: string },
): ResolverConfig {
  const host = parseResolvConf(node.resolvConf);
  const policy = pod.dnsPolicy ?? 'ClusterFirst';
  let cfg: ResolverConfig;
  const clusterFirst =
    policy === 'ClusterFirstWithHostNet' || (policy === 'ClusterFirst' && !pod.hostNetwork);
  if (policy === 'None') cfg = { nameservers: [], searches: [], options: [] };
  else if (clusterFirst && node.clusterDNS.length > 0) {
    const d = node.clusterDomain;
    cfg = {
      nameservers: [...node.clusterDNS],
      searches: d
        ? omitDuplicates([`${pod.namespace}.svc.${d}`, `svc.${d}`, d, ...host.searches])
        : host.searches,
      options: ['ndots:5'],
    };
  } else cfg = host;
  if (pod.dnsConfig) {
    cfg = {
      nameservers: omitDuplicates([...cfg.nameservers, ...(pod.dnsConfig.nameservers ?? [])]),
      searches: omitDuplicates([...cfg.searches, ...(pod.dnsConfig.searches ?? [])]),
      options: mergeOptions(cfg.options, pod.dnsConfig.options ?? []),
    };
  }
  return {
    nameservers: cfg.nameservers.slice(0, MAX_DNS_NAMESERVERS),
    searches: searchesFitLimits(cfg.searches),
    options: cfg.options,
  };
}

/** resolv.conf text as containerd writes it from the runtime's DNSConfig. */
export function resolvConfText(cfg: ResolverConfig): string {
  let s = '';
  if (cfg.searches.length) s += `search ${cfg.searches.join(' ')}\n`;
  for (const n of cfg.nameservers) s += `nameserver ${n}\n`;
  if (cfg.options.length) s += `options ${cfg.options.join(' ')}\n`;
  return s;
}

/** Where `ip netns exec NAME` finds the files it bind-mounts over /etc. */
export const netnsEtcDir = (netns: string) => path.join('/etc/netns', netns);

/** Writes hosts and resolv.conf for a pod's namespace (replaced atomically, so a running exec never sees half). */
export function writePodEtcFiles(netns: string, files: { hosts: string; resolvConf: string }): void {
  const dir = netnsEtcDir(netns);
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, text] of [
    ['hosts', files.hosts],
    ['resolv.conf', files.resolvConf],
  ]) {
    // Beside the directory, not in it: `ip netns exec` bind-mounts every file it finds there.
    const tmp = path.join(path.dirname(dir), `.${netns}.${name}.tmp`);
    fs.writeFileSync(tmp, text, { mode: 0o644 });
    fs.renameSync(tmp, path.join(dir, name));
  }
}

export function removePodEtcFiles(netns: string): void {
  fs.rmSync(netnsEtcDir(netns), { recursive: true, force: true });
}
