/**
 * The operation types as a client sees them on the wire, hand-written from the Graph CSDL
 * (test/fixtures/graph-csdl/graph-csdl-lro-v1.xml and -beta.xml). The client stands alone, so it does not reuse
 * the server's type table; instead OPERATION_PROPERTY_NAMES below is checked against these interfaces by
 * the compiler and against the CSDL by test/client-types.test.ts, which keeps all three in step.
 *
 * Nullability follows the CSDL: a property without `Nullable="false"` is `T | null`. For a collection,
 * OData says the collection itself is never null (it may be empty) and `Nullable` is about its items.
 */
import type { StatusName } from '../model/status.js';

/**
 * `graph.longRunningOperationStatus` plus longrun's `canceled`, which comes after the `unknownFutureValue`
 * sentinel: a client sees it only when it sends `Prefer: include-unknown-enum-members`.
 */
export type OperationStatus =
  'notStarted' | 'running' | 'succeeded' | 'failed' | 'unknownFutureValue' | 'canceled';

export const OPERATION_STATUSES = [
  'notStarted',
  'running',
  'succeeded',
  'failed',
  'unknownFutureValue',
  'canceled',
] as const satisfies readonly OperationStatus[];

/**
 * `graph.attackSimulationOperationType`. The CSDL member is misspelt `createSimualation`; Graph's docs and
 * examples spell it `createSimulation`. Both can appear on the wire.
 */
export type AttackSimulationOperationType =
  'createSimualation' | 'createSimulation' | 'updateSimulation' | 'unknownFutureValue';

/** `graph.engagementAsyncOperationType`. */
export type EngagementAsyncOperationType = 'createCommunity' | 'unknownFutureValue';

/** Members of the enums operations use, by CSDL qualified name (the test compares them with the CSDL). */
export const ENUM_MEMBERS = {
  'microsoft.graph.longRunningOperationStatus': OPERATION_STATUSES,
  'microsoft.graph.attackSimulationOperationType': [
    'createSimualation',
    'createSimulation',
    'updateSimulation',
    'unknownFutureValue',
  ] as const satisfies readonly AttackSimulationOperationType[],
  'microsoft.graph.engagementAsyncOperationType': [
    'createCommunity',
    'unknownFutureValue',
  ] as const satisfies readonly EngagementAsyncOperationType[],
} as const;

/** `graph.publicErrorDetail`. */
export interface PublicErrorDetail {
  code: string | null;
  message: string | null;
  target: string | null;
}

/** `graph.publicInnerError`; an open type, so it may carry more members than these. */
export interface PublicInnerError {
  code: string | null;
  details: (PublicErrorDetail | null)[];
  message: string | null;
  target: string | null;
  [member: string]: unknown;
}

/** `graph.publicError`: the error stored in an operation (not the HTTP error envelope). */
export interface PublicError {
  code: string | null;
  details: (PublicErrorDetail | null)[];
  innerError: PublicInnerError | null;
  message: string | null;
  target: string | null;
}

/** OData annotations a response may carry; they are not CSDL properties. */
export interface ODataAnnotations {
  '@odata.context'?: string;
}

/** `graph.entity`'s key plus the properties of `graph.longRunningOperation`, shared by every subtype. */
export interface LongRunningOperationProperties extends ODataAnnotations {
  id: string;
  /** ISO 8601, UTC. */
  createdDateTime: string | null;
  /** ISO 8601, UTC. */
  lastActionDateTime: string | null;
  resourceLocation: string | null;
  status: OperationStatus | null;
  statusDetail: string | null;
}

/**
 * `microsoft.graph.longRunningOperation`. `@odata.type` is optional here because Graph omits it where the
 * declared type of the URL is already this type; every subtype carries its own.
 */
export interface LongRunningOperation extends LongRunningOperationProperties {
  '@odata.type'?: '#microsoft.graph.longRunningOperation';
}

/** `microsoft.graph.richLongRunningOperation` (SharePoint sites and lists). */
export interface RichLongRunningOperation extends LongRunningOperationProperties {
  '@odata.type': '#microsoft.graph.richLongRunningOperation';
  error: PublicError | null;
  /** 0..100. Note the spelling: attackSimulationOperation has `percentageCompleted`. */
  percentageComplete: number | null;
  resourceId: string | null;
  /** Free text, e.g. `contentTypeCopy`. */
  type: string | null;
}

/** `microsoft.graph.attackSimulationOperation`. */
export interface AttackSimulationOperation extends LongRunningOperationProperties {
  '@odata.type': '#microsoft.graph.attackSimulationOperation';
  percentageCompleted: number;
  tenantId: string | null;
  type: AttackSimulationOperationType | null;
}

/** `microsoft.graph.engagementAsyncOperation` (Viva Engage). */
export interface EngagementAsyncOperation extends LongRunningOperationProperties {
  '@odata.type': '#microsoft.graph.engagementAsyncOperation';
  operationType: EngagementAsyncOperationType | null;
  resourceId: string | null;
}

/** `microsoft.graph.industryData.validateOperation` (beta, abstract: no instance has exactly this type). */
export interface IndustryDataValidateOperation extends LongRunningOperationProperties {
  /** A validation that finds problems still `succeeded`; the problems are listed here. */
  errors: PublicError[];
  warnings: PublicError[];
}

/** `microsoft.graph.industryData.fileValidateOperation` (beta). */
export interface IndustryDataFileValidateOperation extends IndustryDataValidateOperation {
  '@odata.type': '#microsoft.graph.industryData.fileValidateOperation';
  validatedFiles: string[];
}

/** Any operation, discriminated by `@odata.type`. */
export type Operation =
  | LongRunningOperation
  | RichLongRunningOperation
  | AttackSimulationOperation
  | EngagementAsyncOperation
  | IndustryDataFileValidateOperation;

/** Each CSDL type this module describes, by qualified name. */
export interface CsdlTypes {
  'microsoft.graph.publicError': PublicError;
  'microsoft.graph.publicErrorDetail': PublicErrorDetail;
  'microsoft.graph.publicInnerError': PublicInnerError;
  'microsoft.graph.longRunningOperation': LongRunningOperation;
  'microsoft.graph.richLongRunningOperation': RichLongRunningOperation;
  'microsoft.graph.attackSimulationOperation': AttackSimulationOperation;
  'microsoft.graph.engagementAsyncOperation': EngagementAsyncOperation;
  'microsoft.graph.industryData.validateOperation': IndustryDataValidateOperation;
  'microsoft.graph.industryData.fileValidateOperation': IndustryDataFileValidateOperation;
}

/** Declared keys only (drops an open type's index signature) and no `@odata.*` annotations. */
type CsdlPropertyName<T> = keyof {
  [
    K in keyof T as string extends K ? never : number extends K ? never : K extends `@${string}` ? never : K
  ]: T[K];
};
/** For a collection, nullability is about its items (see the top of this file). */
type ValueOrItem<V> = V extends readonly (infer Item)[] ? Item : V;
type NonNullablePropertyName<T> = {
  [K in CsdlPropertyName<T>]-?: null extends ValueOrItem<T[K & keyof T]> ? never : K;
}[CsdlPropertyName<T>];

type NamesOf<Pick extends 'all' | 'nonNullable'> = {
  readonly [Q in keyof CsdlTypes]: readonly (Pick extends 'all'
    ? CsdlPropertyName<CsdlTypes[Q]>
    : NonNullablePropertyName<CsdlTypes[Q]>)[];
};

/**
 * Every property of each type, inherited ones included. `satisfies` rejects a name the interface lacks;
 * `_NoPropertyMissing` below rejects an interface property missing here.
 */
export const OPERATION_PROPERTY_NAMES = {
  'microsoft.graph.publicError': ['code', 'details', 'innerError', 'message', 'target'],
  'microsoft.graph.publicErrorDetail': ['code', 'message', 'target'],
  'microsoft.graph.publicInnerError': ['code', 'details', 'message', 'target'],
  'microsoft.graph.longRunningOperation': [
    'id',
    'createdDateTime',
    'lastActionDateTime',
    'resourceLocation',
    'status',
    'statusDetail',
  ],
  'microsoft.graph.richLongRunningOperation': [
    'id',
    'createdDateTime',
    'lastActionDateTime',
    'resourceLocation',
    'status',
    'statusDetail',
    'error',
    'percentageComplete',
    'resourceId',
    'type',
  ],
  'microsoft.graph.attackSimulationOperation': [
    'id',
    'createdDateTime',
    'lastActionDateTime',
    'resourceLocation',
    'status',
    'statusDetail',
    'percentageCompleted',
    'tenantId',
    'type',
  ],
  'microsoft.graph.engagementAsyncOperation': [
    'id',
    'createdDateTime',
    'lastActionDateTime',
    'resourceLocation',
    'status',
    'statusDetail',
    'operationType',
    'resourceId',
  ],
  'microsoft.graph.industryData.validateOperation': [
    'id',
    'createdDateTime',
    'lastActionDateTime',
    'resourceLocation',
    'status',
    'statusDetail',
    'errors',
    'warnings',
  ],
  'microsoft.graph.industryData.fileValidateOperation': [
    'id',
    'createdDateTime',
    'lastActionDateTime',
    'resourceLocation',
    'status',
    'statusDetail',
    'errors',
    'warnings',
    'validatedFiles',
  ],
} as const satisfies NamesOf<'all'>;

/**
 * The properties declared `Nullable="false"` (for collections: whose items are non-null). Checked against
 * the interfaces both ways, like the table above, so a `| null` added or dropped by mistake fails to compile.
 */
export const NON_NULLABLE_PROPERTY_NAMES = {
  'microsoft.graph.publicError': [],
  'microsoft.graph.publicErrorDetail': [],
  'microsoft.graph.publicInnerError': [],
  'microsoft.graph.longRunningOperation': ['id'],
  'microsoft.graph.richLongRunningOperation': ['id'],
  'microsoft.graph.attackSimulationOperation': ['id', 'percentageCompleted'],
  'microsoft.graph.engagementAsyncOperation': ['id'],
  'microsoft.graph.industryData.validateOperation': ['id', 'errors', 'warnings'],
  'microsoft.graph.industryData.fileValidateOperation': ['id', 'errors', 'warnings', 'validatedFiles'],
} as const satisfies NamesOf<'nonNullable'>;

// Compile-time checks. A failure reads "Type '"x"' does not satisfy the constraint 'never'", naming what is missing.
type AssertNever<T extends never> = T;
type Missing<Table extends Record<keyof CsdlTypes, readonly string[]>, Pick extends 'all' | 'nonNullable'> = {
  [Q in keyof CsdlTypes]: Exclude<
    Pick extends 'all' ? CsdlPropertyName<CsdlTypes[Q]> : NonNullablePropertyName<CsdlTypes[Q]>,
    Table[Q][number]
  >;
}[keyof CsdlTypes];
type _NoPropertyMissing = AssertNever<Missing<typeof OPERATION_PROPERTY_NAMES, 'all'>>;
type _NoNonNullableMissing = AssertNever<Missing<typeof NON_NULLABLE_PROPERTY_NAMES, 'nonNullable'>>;
type SameMembers<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** The status union must match the server model's table, member for member. */
type _StatusMatchesModel = AssertNever<
  SameMembers<OperationStatus, StatusName> extends true ? never : 'differs'
>;
type _StatusListComplete = AssertNever<Exclude<OperationStatus, (typeof OPERATION_STATUSES)[number]>>;
/** Each subtype's `@odata.type` literal must be `#` + the qualified name it is listed under. */
type ODataTypeMismatch = {
  [Q in keyof CsdlTypes]: CsdlTypes[Q] extends LongRunningOperationProperties
    ? '@odata.type' extends keyof CsdlTypes[Q]
      ? Exclude<CsdlTypes[Q]['@odata.type' & keyof CsdlTypes[Q]], undefined> extends `#${Q}`
        ? never
        : Q
      : never
    : never;
}[keyof CsdlTypes];
type _ODataTypesMatchNames = AssertNever<ODataTypeMismatch>;
