/* The IAM and STS facts the product reasons about, as the gateways report them. */

/** Who a set of credentials belongs to (STS GetCallerIdentity). */
export interface Identity {
  account: string;
  arn: string;
  userId: string;
  /** Server time (the response's Date header) minus local time, measured because the SDK silently corrects skew. */
  clockSkewMs?: number;
}

/** An IAM access key as ListAccessKeys reports it. */
export interface AccessKeyInfo {
  accessKeyId: string;
  status: 'Active' | 'Inactive';
  createDate: string | undefined;
}

/** An IAM user as GetUser / CreateUser report it. */
export interface IamUser {
  userName: string;
  arn: string;
  userId: string;
  path: string;
  createDate: string | undefined;
  tags: Record<string, string>;
}
