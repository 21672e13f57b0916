// The logic lives in scripts/lib/real-parts.mjs, shared with `npm run bench` (plain JS, no build).
export { freePort, startMoto } from '../../scripts/lib/real-parts.mjs';
export type { Moto } from '../../scripts/lib/real-parts.mjs';
