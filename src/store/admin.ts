/**
 * The operator's queries (issue 19): one tenant's operations across all its collections, and the figures
 * its overview shows. Read-only: changes still go through the operation methods of the store, so the
 * history, fencing and notifications stay exactly as for any other write.
 */
import type { OperationRecord } from '../model/operation.js';
import type { StatusValue } from '../model/status.js';
import type { OperationTypeName } from '../model/types.js';

/** A set of scopes: one exactly, or all that start with `prefix` (and end with `suffix`, when given). */
export type ScopeMatcher = { exact: string } | { prefix: string; suffix?: string };

/** Every condition given must hold; a list matches any of its members. */
export interface AdminFilter {
  /** Any of these scope sets (a family is one or two of them, a collection one exact scope). */
  scopes?: readonly ScopeMatcher[];
  statuses?: readonly StatusValue[];
  types?: readonly OperationTypeName[];
  handlers?: readonly string[];
  id?: string;
  /** Canonical timestamps (src/model/time.ts), inclusive from, exclusive to. */
  createdFrom?: string;
  createdTo?: string;
  /** Epoch ms: when the operation became terminal; inclusive from, exclusive to. */
  finishedFrom?: number;
  finishedTo?: number;
}

export interface AdminPage {
  top: number;
  /** Newest first: rows whose seq is below this one. */
  beforeSeq?: number;
}

export interface StatusCount {
  status: StatusValue;
  count: number;
}

export interface ActivityBucket {
  /** Epoch ms where the bucket starts. */
  start: number;
  created: number;
  finished: number;
  failed: number;
  /** Nearest-rank percentiles of finished operations' durations (created to terminal), null when none. */
  p50Ms: number | null;
  p95Ms: number | null;
}

export interface AdminStore {
  /** Up to `page.top + 1` operations, newest first (the extra row tells that another page exists). */
  list(tenantId: string, filter: AdminFilter, page: AdminPage): Promise<OperationRecord[]>;
  count(tenantId: string, filter: AdminFilter): Promise<number>;
  /** Operations per scope and status. */
  countsByScope(tenantId: string): Promise<(StatusCount & { scope: string })[]>;
  /** Handler-backed operations per handler and status. */
  countsByHandler(tenantId: string): Promise<(StatusCount & { handler: string })[]>;
  /**
   * Created, finished and failed operations and duration percentiles per bucket of `bucketMs`, for buckets
   * from `sinceMs` on (buckets with nothing in them are left out).
   */
  activity(tenantId: string, sinceMs: number, bucketMs: number): Promise<ActivityBucket[]>;
  /** The failed operations that ended last, newest first. */
  latestFailures(tenantId: string, limit: number): Promise<OperationRecord[]>;
}
