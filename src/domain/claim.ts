/**
 * A claim: the lock of a connection shared through AWS Secrets Manager. It lives in the connection's secret, and
 * it is taken and given up by a compare-and-swap on AWSCURRENT, so that of hosts racing for it exactly one wins.
 * A claim carries its holder and a lease: a host whose holder died (a pid gone on this host) or whose lease ran
 * out (another host, which cannot see the pid) may take it over.
 */
export interface Claim {
  /** Random per claim: a write fenced by a claim checks this token. */
  token: string;
  /** The holder's host name and process id. */
  host: string;
  pid: number;
  /** When it was taken. */
  since: string;
  /** When another host may take it over; renewed by each of the holder's writes. */
  expiresAt: string;
}

/**
 * How long a claim holds without a write from its holder. Far above the longest step between two of a rotation's
 * journal writes (the proof of a new key, 120 s; a consumer's hand-off, its --exec-timeout), and above the clock
 * skew of hosts that keep time by NTP.
 */
export const CLAIM_LEASE_MS = 15 * 60_000;

/** What this process knows of where it runs: its host name, and whether a pid on this host is alive. */
export interface Here {
  host: string;
  isAlive(pid: number): boolean;
}

/** A fresh claim for this process. */
export function newClaim(token: string, here: Pick<Here, 'host'>, pid: number, now: Date): Claim {
  return { token, host: here.host, pid, since: now.toISOString(), expiresAt: leaseEnd(now) };
}

/** The claim with its lease renewed from `now`. */
export function renewClaim(claim: Claim, now: Date): Claim {
  return { ...claim, expiresAt: leaseEnd(now) };
}

/**
 * Whether a claim still holds: on this host, while its process lives (a killed holder frees it at once); from
 * another host, until its lease runs out.
 */
export function claimIsLive(claim: Claim, now: Date, here: Here): boolean {
  if (claim.host === here.host) return here.isAlive(claim.pid);
  return Date.parse(claim.expiresAt) > now.getTime();
}

/** Who holds a claim, in words for messages. */
export function describeClaim(claim: Claim): string {
  return `pid ${claim.pid} on ${claim.host}, since ${claim.since}`;
}

const TOKEN = /^[\w-]{8,64}$/;
/** RFC 1123 host names, and what os.hostname() gives elsewhere: printable, no spaces, bounded. */
const HOST = /^[\w.-]{1,253}$/;

/** Why a stored claim must not be trusted, or undefined (it came from a secret any host with access may write). */
export function claimProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const claim = value as Record<string, unknown>;
  if (typeof claim.token !== 'string' || !TOKEN.test(claim.token)) return '"token" is not a claim token';
  if (typeof claim.host !== 'string' || !HOST.test(claim.host)) return '"host" is not a host name';
  if (typeof claim.pid !== 'number' || !Number.isInteger(claim.pid) || claim.pid <= 0)
    return '"pid" is not a process id';
  for (const field of ['since', 'expiresAt'] as const) {
    const time = claim[field];
    if (typeof time !== 'string' || Number.isNaN(Date.parse(time))) return `"${field}" is not a time`;
  }
  return undefined;
}

function leaseEnd(now: Date): string {
  return new Date(now.getTime() + CLAIM_LEASE_MS).toISOString();
}
