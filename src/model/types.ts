/**
 * The operation entity types, as the Graph CSDL (test/fixtures/graph-csdl/, copied from Microsoft Graph's metadata) defines them.
 * This table is the single description of each type: validation, serialization, $select, $filter,
 * $metadata and the client's types are all derived from it.
 */
export type ApiVersion = 'v1.0' | 'beta';
export const API_VERSIONS: readonly ApiVersion[] = ['v1.0', 'beta'];

export interface EnumDef {
  name: string;
  qualifiedName: string;
  /** Members in CSDL order; the index is the member's value. */
  members: readonly string[];
  /** Extra spellings accepted on input (the CSDL has `createSimualation`, the docs `createSimulation`). */
  aliases?: Readonly<Record<string, string>>;
}

export type PropertyKind =
  | { kind: 'string' }
  | { kind: 'int32'; min?: number; max?: number }
  | { kind: 'enum'; enum: EnumDef }
  | { kind: 'publicError' }
  | { kind: 'collection'; of: 'string' | 'publicError' };

export type PropertyDef = PropertyKind & {
  name: string;
  /** EDM type name, for $metadata. */
  edmType: string;
  nullable: boolean;
  /** Value a new operation gets when the property is non-nullable and not given. */
  defaultValue?: unknown;
};

export type OperationTypeName =
  | 'longRunningOperation'
  | 'richLongRunningOperation'
  | 'attackSimulationOperation'
  | 'engagementAsyncOperation'
  | 'industryData.validateOperation'
  | 'industryData.fileValidateOperation';

export interface OperationTypeDef {
  name: OperationTypeName;
  /** `microsoft.graph.richLongRunningOperation`; `@odata.type` is `#` + this. */
  qualifiedName: string;
  baseType: OperationTypeName | null;
  abstract: boolean;
  versions: readonly ApiVersion[];
  /** Properties declared on this type itself, in CSDL order. */
  ownProperties: readonly PropertyDef[];
}

export const ATTACK_SIMULATION_OPERATION_TYPE: EnumDef = {
  name: 'attackSimulationOperationType',
  qualifiedName: 'microsoft.graph.attackSimulationOperationType',
  members: ['createSimualation', 'updateSimulation', 'unknownFutureValue'],
  aliases: { createSimulation: 'createSimualation' },
};

export const ENGAGEMENT_ASYNC_OPERATION_TYPE: EnumDef = {
  name: 'engagementAsyncOperationType',
  qualifiedName: 'microsoft.graph.engagementAsyncOperationType',
  members: ['createCommunity', 'unknownFutureValue'],
};

export const LONG_RUNNING_OPERATION_STATUS: EnumDef = {
  name: 'longRunningOperationStatus',
  qualifiedName: 'microsoft.graph.longRunningOperationStatus',
  members: ['notStarted', 'running', 'succeeded', 'failed', 'unknownFutureValue', 'canceled'],
};

const str = (name: string): PropertyDef => ({ name, kind: 'string', edmType: 'Edm.String', nullable: true });

export const OPERATION_TYPES: Readonly<Record<OperationTypeName, OperationTypeDef>> = {
  longRunningOperation: {
    name: 'longRunningOperation',
    qualifiedName: 'microsoft.graph.longRunningOperation',
    baseType: null,
    abstract: false,
    versions: ['v1.0', 'beta'],
    ownProperties: [],
  },
  richLongRunningOperation: {
    name: 'richLongRunningOperation',
    qualifiedName: 'microsoft.graph.richLongRunningOperation',
    baseType: 'longRunningOperation',
    abstract: false,
    versions: ['v1.0', 'beta'],
    ownProperties: [
      { name: 'error', kind: 'publicError', edmType: 'graph.publicError', nullable: true },
      { name: 'percentageComplete', kind: 'int32', min: 0, max: 100, edmType: 'Edm.Int32', nullable: true },
      str('resourceId'),
      str('type'),
    ],
  },
  attackSimulationOperation: {
    name: 'attackSimulationOperation',
    qualifiedName: 'microsoft.graph.attackSimulationOperation',
    baseType: 'longRunningOperation',
    abstract: false,
    versions: ['v1.0', 'beta'],
    ownProperties: [
      {
        name: 'percentageCompleted',
        kind: 'int32',
        min: 0,
        max: 100,
        edmType: 'Edm.Int32',
        nullable: false,
        defaultValue: 0,
      },
      str('tenantId'),
      {
        name: 'type',
        kind: 'enum',
        enum: ATTACK_SIMULATION_OPERATION_TYPE,
        edmType: 'graph.attackSimulationOperationType',
        nullable: true,
      },
    ],
  },
  engagementAsyncOperation: {
    name: 'engagementAsyncOperation',
    qualifiedName: 'microsoft.graph.engagementAsyncOperation',
    baseType: 'longRunningOperation',
    abstract: false,
    versions: ['v1.0', 'beta'],
    ownProperties: [
      {
        name: 'operationType',
        kind: 'enum',
        enum: ENGAGEMENT_ASYNC_OPERATION_TYPE,
        edmType: 'graph.engagementAsyncOperationType',
        nullable: true,
      },
      str('resourceId'),
    ],
  },
  'industryData.validateOperation': {
    name: 'industryData.validateOperation',
    qualifiedName: 'microsoft.graph.industryData.validateOperation',
    baseType: 'longRunningOperation',
    abstract: true,
    versions: ['beta'],
    ownProperties: [
      {
        name: 'errors',
        kind: 'collection',
        of: 'publicError',
        edmType: 'Collection(graph.publicError)',
        nullable: false,
        defaultValue: [],
      },
      {
        name: 'warnings',
        kind: 'collection',
        of: 'publicError',
        edmType: 'Collection(graph.publicError)',
        nullable: false,
        defaultValue: [],
      },
    ],
  },
  'industryData.fileValidateOperation': {
    name: 'industryData.fileValidateOperation',
    qualifiedName: 'microsoft.graph.industryData.fileValidateOperation',
    baseType: 'industryData.validateOperation',
    abstract: false,
    versions: ['beta'],
    ownProperties: [
      {
        name: 'validatedFiles',
        kind: 'collection',
        of: 'string',
        edmType: 'Collection(Edm.String)',
        nullable: false,
        defaultValue: [],
      },
    ],
  },
};

/** The properties every operation has, stored in their own columns, in Graph's order. */
export const BASE_PROPERTIES = [
  'id',
  'createdDateTime',
  'lastActionDateTime',
  'resourceLocation',
  'status',
  'statusDetail',
] as const;
export type BasePropertyName = (typeof BASE_PROPERTIES)[number];

const chainCache = new Map<OperationTypeName, readonly PropertyDef[]>();

/** Every subtype property of a type, base type's first (CSDL inheritance order). */
export function subtypeProperties(type: OperationTypeName): readonly PropertyDef[] {
  let cached = chainCache.get(type);
  if (!cached) {
    const def = OPERATION_TYPES[type];
    cached = [...(def.baseType ? subtypeProperties(def.baseType) : []), ...def.ownProperties];
    chainCache.set(type, cached);
  }
  return cached;
}

export function isSubtypeOf(type: OperationTypeName, ancestor: OperationTypeName): boolean {
  for (let t: OperationTypeName | null = type; t; t = OPERATION_TYPES[t].baseType) {
    if (t === ancestor) return true;
  }
  return false;
}

/** Concrete types usable in a collection declared as `declared`, in the given API version. */
const concreteCache = new Map<string, readonly OperationTypeName[]>();

export function concreteTypesFor(
  declared: OperationTypeName,
  version: ApiVersion,
): readonly OperationTypeName[] {
  const key = `${declared} ${version}`;
  let types = concreteCache.get(key);
  if (!types) {
    types = (Object.keys(OPERATION_TYPES) as OperationTypeName[]).filter(
      (t) =>
        !OPERATION_TYPES[t].abstract &&
        OPERATION_TYPES[t].versions.includes(version) &&
        isSubtypeOf(t, declared),
    );
    concreteCache.set(key, types);
  }
  return types;
}

/** `#microsoft.graph.x` or `microsoft.graph.x` → type name. */
export function typeFromODataType(odataType: string): OperationTypeName | undefined {
  const q = odataType.startsWith('#') ? odataType.slice(1) : odataType;
  return (Object.keys(OPERATION_TYPES) as OperationTypeName[]).find(
    (t) => OPERATION_TYPES[t].qualifiedName === q,
  );
}
