// The logic lives in scripts/lib/real-parts.mjs, shared with `npm run bench` (plain JS, no build).
export { startKeyring } from '../../scripts/lib/real-parts.mjs';
export type { Keyring } from '../../scripts/lib/real-parts.mjs';
