/**
 * The onboarding guide's troubleshooting checklist, as ids and titles. Pure data: the error table in
 * aws/errors.ts tags every failure with one of these ids, and `test` prints the list in this order.
 */

/** One item of the guide's troubleshooting checklist. */
export type CheckId = 'format' | 'network' | 'credentials' | 'key-status' | 'clock' | 'region' | 'permissions' | 'ip-restriction';

/** Every checklist item, in the order the guide lists them and `test` checks them. */
export const CHECK_IDS: readonly CheckId[] = ['format', 'network', 'credentials', 'key-status', 'clock', 'region', 'permissions', 'ip-restriction'];

/** Each item's title, in the guide's words. */
export const CHECK_TITLES: Readonly<Record<CheckId, string>> = {
  format: 'No extra spaces or characters in the credentials',
  network: 'Network connectivity to AWS',
  credentials: 'Access Key ID and Secret Access Key are correct',
  'key-status': 'The key is active, not expired or rotated',
  clock: 'The system clock is correct',
  region: 'Correct region, and the service is available there',
  permissions: 'The IAM user has the required permissions',
  'ip-restriction': 'No IP restrictions block this machine',
};

/** AWS refuses signatures more than five minutes off its own clock; past this, the clock item fails. */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

/** True for a string that names a checklist item. */
export function isCheckId(value: unknown): value is CheckId {
  return typeof value === 'string' && (CHECK_IDS as readonly string[]).includes(value);
}
