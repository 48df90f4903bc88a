/**
 * nftables transactions confined to the caller's own tables.
 *
 * Every component that programs nftables (the CNI plugin's masquerade, the Services dataplane, NetworkPolicy)
 * owns tables that nobody else touches, and sends all its changes as one `nft -f -` script, which the kernel
 * applies atomically or not at all. Before anything runs, the script is read for every table it names: a
 * script that names a table the caller did not declare, or the whole ruleset, is refused. This is what keeps
 * a bug in one component (or a test) from flushing the host's own firewall.
 */
import { LinuxError, LinuxErrorCodes, type Netns, isLinuxError, run } from './exec.js';

export type NftFamily = 'ip' | 'ip6' | 'inet' | 'arp' | 'bridge' | 'netdev';

export interface NftTable {
  family: NftFamily;
  name: string;
}

const FAMILIES = ['ip', 'ip6', 'inet', 'arp', 'bridge', 'netdev'];
const FAMILY_RE = FAMILIES.join('|');
const NAME = `("[^"]*"|[A-Za-z_][\\w./-]*)`;

/** Drops comments and quoted strings (comments on rules), which may contain any word. */
function stripQuoted(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(/"[^"\n]*"/g, '""').replace(/#.*$/, ''))
    .join('\n');
}

/**
 * The tables a script names, as "family name" (the family defaults to ip, as nft's does); "ruleset" when it
 * names the whole ruleset. Pure.
 */
export function nftTableRefs(text: string): string[] {
  const body = stripQuoted(text);
  const refs = new Set<string>();
  if (/\bruleset\b/.test(body)) refs.add('ruleset');
  const verb =
    '(?:add|create|insert|replace|delete|destroy|flush|reset|list|rename|get)\\s+' +
    '(?:table|chain|rule|set|map|element|flowtable|counter|quota|limit|secmark|synproxy|ct\\s+\\w+)';
  const stmt = new RegExp(`\\b${verb}\\s+(?:(${FAMILY_RE})\\s+)?${NAME}`, 'g');
  for (const m of body.matchAll(stmt)) refs.add(`${m[1] ?? 'ip'} ${m[2].replace(/"/g, '')}`);
  // A table block at the top level: `table ip twill { ... }` (the verb-less form of `add table`).
  const block = new RegExp(`(?:^|[\\n;])\\s*table\\s+(?:(${FAMILY_RE})\\s+)?${NAME}`, 'g');
  for (const m of body.matchAll(block)) refs.add(`${m[1] ?? 'ip'} ${m[2].replace(/"/g, '')}`);
  return [...refs];
}

/** Throws Refused unless the script names only the given tables. Pure. */
export function checkNftScript(text: string, tables: NftTable[]): void {
  const allowed = new Set(tables.map((t) => `${t.family} ${t.name}`));
  for (const ref of nftTableRefs(text)) {
    if (!allowed.has(ref)) {
      const own = [...allowed].join(', ') || 'none';
      throw new LinuxError(
        LinuxErrorCodes.Refused,
        `nft script touches ${ref === 'ruleset' ? 'the whole ruleset' : `table ${ref}`}; this caller owns: ${own}`,
      );
    }
  }
}

/** Applies a script in one transaction (`nft -f -`), after checking it names only `tables`. */
export async function nftApply(text: string, opts: { tables: NftTable[]; netns?: Netns }): Promise<void> {
  checkNftScript(text, opts.tables);
  await run(['nft', '-f', '-'], { netns: opts.netns, input: text });
}

/** The objects of `nft -j -a list table` (chains and rules with their handles); undefined when the table does not
 * exist. */
export async function nftListTable(
  table: NftTable,
  opts: { netns?: Netns } = {},
): Promise<Record<string, any>[] | undefined> {
  try {
    const out = await run(['nft', '-j', '-a', 'list', 'table', table.family, table.name], opts);
    const parsed = JSON.parse(out) as { nftables: Record<string, any>[] };
    return parsed.nftables.filter((o) => !('metainfo' in o));
  } catch (err) {
    if (isLinuxError(err, LinuxErrorCodes.NotFound)) return undefined;
    throw err;
  }
}

/** Deletes one of the caller's tables; a table that is not there is not an error. */
export async function nftDeleteTable(table: NftTable, opts: { netns?: Netns } = {}): Promise<void> {
  try {
    await nftApply(`delete table ${table.family} ${table.name}\n`, { tables: [table], netns: opts.netns });
  } catch (err) {
    if (!isLinuxError(err, LinuxErrorCodes.NotFound)) throw err;
  }
}

/**
 * The names of a table's chains, sets and maps, without their rules and elements (`nft -j -t list chains|sets|
 * maps FAMILY`): reading a whole large table as JSON takes seconds (3,000 Services' rules: 6 s), its names a
 * fraction of one. Empty lists when the table does not exist.
 */
export async function nftListNames(
  table: NftTable,
  opts: { netns?: Netns } = {},
): Promise<{ chains: string[]; sets: string[]; maps: string[] }> {
  const names = async (what: 'chains' | 'sets' | 'maps', key: 'chain' | 'set' | 'map') => {
    const out = await run(['nft', '-j', '-t', 'list', what, table.family], opts);
    const parsed = JSON.parse(out || '{"nftables":[]}') as { nftables: Record<string, any>[] };
    return parsed.nftables
      .filter((o) => o[key] && o[key].table === table.name)
      .map((o) => String(o[key].name));
  };
  return {
    chains: await names('chains', 'chain'),
    sets: await names('sets', 'set'),
    maps: await names('maps', 'map'),
  };
}
