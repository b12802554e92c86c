/**
 * microsoft.graph.longRunningOperationStatus, plus longrun's own `canceled`.
 *
 * Graph's enum is evolvable: members after the `unknownFutureValue` sentinel are only shown to clients
 * that send `Prefer: include-unknown-enum-members`; everyone else sees the sentinel. longrun adds
 * `canceled` after the sentinel, exactly the way Graph would add a member.
 */
export const STATUS = {
  notStarted: 0,
  running: 1,
  succeeded: 2,
  failed: 3,
  unknownFutureValue: 4,
  canceled: 5,
} as const;

export type StatusName = keyof typeof STATUS;
export type StatusValue = (typeof STATUS)[StatusName];

export const SENTINEL = STATUS.unknownFutureValue;

const NAMES: readonly StatusName[] = [
  'notStarted',
  'running',
  'succeeded',
  'failed',
  'unknownFutureValue',
  'canceled',
];

export function statusName(value: StatusValue): StatusName {
  return NAMES[value];
}

export function statusValue(name: string): StatusValue | undefined {
  return Object.prototype.hasOwnProperty.call(STATUS, name) ? STATUS[name as StatusName] : undefined;
}

/** Terminal states never change again. */
export function isTerminal(value: StatusValue): boolean {
  return value === STATUS.succeeded || value === STATUS.failed || value === STATUS.canceled;
}

/** The name a client sees, after the evolvable-enum substitution. */
export function visibleStatusName(value: StatusValue, includeUnknownMembers: boolean): StatusName {
  return value > SENTINEL && !includeUnknownMembers ? 'unknownFutureValue' : NAMES[value];
}
