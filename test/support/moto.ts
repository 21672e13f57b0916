// The logic lives in scripts/lib/real-parts.mjs, shared with `npm run bench` (plain JS, no build).
export { freePort, MOTO_SELF_ROTATION_POLICY, startMoto } from '../../scripts/lib/real-parts.mjs';
export type { Moto } from '../../scripts/lib/real-parts.mjs';
