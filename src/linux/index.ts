export * from './exec.js';
export * from './netns.js';
export * from './link.js';
export * from './addr.js';
export * from './sysctl.js';
export * from './nft.js';
export * from './conntrack.js';
