/** The region used when nothing names one. */
export const DEFAULT_REGION = 'us-east-1';

/** Where a region came from, in the order the rule consults them. */
export type RegionSource = 'flag' | 'connection' | 'AWS_REGION' | 'AWS_DEFAULT_REGION' | 'profile' | 'default';

/** What the region rule consults; each may be absent. */
export interface RegionInputs {
  /** --region */
  flag?: string | undefined;
  /** The stored connection's region. */
  connection?: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
  /** The region of the admin profile in the AWS config file (`region = …`). */
  profileRegion?: string | undefined;
}

/**
 * The one region rule (CLI.md): --region, the connection's, AWS_REGION, AWS_DEFAULT_REGION, the admin
 * profile's region, then us-east-1. An empty or blank value counts as absent, as in the AWS CLI.
 */
export function resolveRegion(inputs: RegionInputs): { region: string; source: RegionSource } {
  const candidates: Array<[RegionSource, string | undefined]> = [
    ['flag', inputs.flag],
    ['connection', inputs.connection],
    ['AWS_REGION', inputs.env.AWS_REGION],
    ['AWS_DEFAULT_REGION', inputs.env.AWS_DEFAULT_REGION],
    ['profile', inputs.profileRegion],
  ];
  for (const [source, value] of candidates) {
    const region = value?.trim();
    if (region) return { region, source };
  }
  return { region: DEFAULT_REGION, source: 'default' };
}
