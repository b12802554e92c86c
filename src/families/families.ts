/**
 * The Graph route families that serve operations (the Graph docs in test/fixtures/seeds/ and their permission tables).
 * Data, not code paths: the HTTP layer matches request paths against these templates, the auth layer
 * reads the permissions, the service uses the scope to keep each collection's operations apart.
 */
import type { ApiVersion, OperationTypeName } from '../model/types.js';

export type FamilyName =
  | 'authentication'
  | 'roleManagementAlerts'
  | 'industryData'
  | 'attackSimulation'
  | 'engagement'
  | 'sites'
  | 'app';

export interface PermissionSet {
  /** Delegated (scp) permissions, least privileged first; any one suffices. */
  delegated: readonly string[];
  /** Application (roles) permissions; empty when application tokens are not supported. */
  application: readonly string[];
}

export interface CollectionTemplate {
  /**
   * Path segments after the version, e.g. `['sites', ':siteId', 'operations']`. A `:name` segment
   * captures one (decoded) segment; the key may also be written `sites('x')`.
   */
  segments: readonly string[];
  versions: readonly ApiVersion[];
  /** The OData context path of the collection, e.g. `sites('x')/operations`. */
  contextPath(params: Readonly<Record<string, string>>): string;
  /** The scope key that keeps this collection's operations apart from every other collection's. */
  scope(params: Readonly<Record<string, string>>): string;
}

export interface FamilyDef {
  name: FamilyName;
  /** The collection's declared entity type (the CSDL navigation property's type). */
  declaredType: OperationTypeName;
  /** The type a created operation gets when the body names none. */
  defaultType: OperationTypeName;
  collections: readonly CollectionTemplate[];
  read: PermissionSet;
  write: PermissionSet;
  /**
   * What `resourceLocation` and `statusDetail` read before the work sets them, as the family's Graph
   * docs show (seed 002: role-alert refreshes show `""` for both); `null` when omitted. Applies to the
   * built-in scenarios' operations and to operations created in the family without those properties.
   */
  defaults?: OperationDefaults;
  /**
   * Whether the family's Graph permission tables accept a personal Microsoft account's delegated token
   * ("Delegated (personal Microsoft account): Not supported" on every Graph family here; longrun's own
   * `app` family accepts one). See src/auth/permissions.ts and docs/decisions/0019.
   */
  personalAccounts: 'supported' | 'notSupported';
}

export interface OperationDefaults {
  resourceLocation: string | null;
  statusDetail: string | null;
}

const NULL_DEFAULTS: OperationDefaults = { resourceLocation: null, statusDetail: null };

/** The family's documented defaults for resourceLocation and statusDetail (docs/decisions/0019). */
export const defaultsOf = (family: FamilyDef): OperationDefaults => family.defaults ?? NULL_DEFAULTS;

const quote = (key: string) => `'${key.replace(/'/g, "''")}'`;
/** User keys (object id or UPN) are case-insensitive in Entra ID. */
export const userScope = (userKey: string) => `users/${userKey.toLowerCase()}/authentication`;

export const FAMILIES: readonly FamilyDef[] = [
  {
    name: 'authentication',
    personalAccounts: 'notSupported',
    declaredType: 'longRunningOperation',
    defaultType: 'longRunningOperation',
    collections: [
      {
        segments: ['users', ':userId', 'authentication', 'operations'],
        versions: ['v1.0', 'beta'],
        contextPath: (p) => `users(${quote(p.userId)})/authentication/operations`,
        scope: (p) => userScope(p.userId),
      },
      {
        // `me` is resolved to the caller's object id before matching (see http/resolve.ts).
        segments: ['me', 'authentication', 'operations'],
        versions: ['v1.0', 'beta'],
        contextPath: () => `me/authentication/operations`,
        scope: (p) => userScope(p.userId),
      },
    ],
    read: {
      delegated: [
        'UserAuthenticationMethod.Read',
        'UserAuthenticationMethod.Read.All',
        'UserAuthenticationMethod.ReadWrite',
        'UserAuthenticationMethod.ReadWrite.All',
      ],
      application: [],
    },
    write: {
      delegated: ['UserAuthenticationMethod.ReadWrite', 'UserAuthenticationMethod.ReadWrite.All'],
      application: [],
    },
  },
  {
    name: 'roleManagementAlerts',
    personalAccounts: 'notSupported',
    declaredType: 'longRunningOperation',
    defaultType: 'longRunningOperation',
    collections: [
      {
        segments: ['identityGovernance', 'roleManagementAlerts', 'operations'],
        versions: ['beta'],
        contextPath: () => 'identityGovernance/roleManagementAlerts/operations',
        scope: () => 'identityGovernance/roleManagementAlerts',
      },
    ],
    read: {
      delegated: ['RoleManagementAlert.Read.Directory', 'RoleManagementAlert.ReadWrite.Directory'],
      application: ['RoleManagementAlert.Read.Directory', 'RoleManagementAlert.ReadWrite.Directory'],
    },
    write: {
      delegated: ['RoleManagementAlert.ReadWrite.Directory'],
      application: ['RoleManagementAlert.ReadWrite.Directory'],
    },
    // Seed 002, examples 1 and 2: both empty while running; statusDetail still empty once succeeded.
    defaults: { resourceLocation: '', statusDetail: '' },
  },
  {
    name: 'industryData',
    personalAccounts: 'notSupported',
    declaredType: 'longRunningOperation',
    defaultType: 'industryData.fileValidateOperation',
    collections: [
      {
        segments: ['external', 'industryData', 'operations'],
        versions: ['beta'],
        contextPath: () => 'external/industryData/operations',
        scope: () => 'external/industryData',
      },
    ],
    read: {
      delegated: [
        'IndustryData.ReadBasic.All',
        'IndustryData-DataConnector.Read.All',
        'IndustryData-DataConnector.ReadWrite.All',
      ],
      application: [
        'IndustryData.ReadBasic.All',
        'IndustryData-DataConnector.Read.All',
        'IndustryData-DataConnector.ReadWrite.All',
      ],
    },
    write: {
      delegated: ['IndustryData-DataConnector.Upload', 'IndustryData-DataConnector.ReadWrite.All'],
      application: ['IndustryData-DataConnector.Upload', 'IndustryData-DataConnector.ReadWrite.All'],
    },
  },
  {
    name: 'attackSimulation',
    personalAccounts: 'notSupported',
    declaredType: 'attackSimulationOperation',
    defaultType: 'attackSimulationOperation',
    collections: [
      {
        segments: ['security', 'attackSimulation', 'operations'],
        versions: ['v1.0', 'beta'],
        contextPath: () => 'security/attackSimulation/operations',
        scope: () => 'security/attackSimulation',
      },
    ],
    read: {
      delegated: ['AttackSimulation.Read.All', 'AttackSimulation.ReadWrite.All'],
      application: ['AttackSimulation.Read.All', 'AttackSimulation.ReadWrite.All'],
    },
    write: {
      delegated: ['AttackSimulation.ReadWrite.All'],
      application: ['AttackSimulation.ReadWrite.All'],
    },
  },
  {
    name: 'engagement',
    personalAccounts: 'notSupported',
    declaredType: 'engagementAsyncOperation',
    defaultType: 'engagementAsyncOperation',
    collections: [
      {
        segments: ['employeeExperience', 'engagementAsyncOperations'],
        versions: ['v1.0', 'beta'],
        contextPath: () => 'employeeExperience/engagementAsyncOperations',
        scope: () => 'employeeExperience',
      },
    ],
    read: {
      delegated: ['Community.Read.All', 'Community.ReadWrite.All'],
      application: ['Community.Read.All', 'Community.ReadWrite.All', 'EngagementConversation.Migration.All'],
    },
    write: {
      delegated: ['Community.ReadWrite.All'],
      application: ['Community.ReadWrite.All'],
    },
  },
  {
    name: 'sites',
    personalAccounts: 'notSupported',
    declaredType: 'richLongRunningOperation',
    defaultType: 'richLongRunningOperation',
    collections: [
      {
        segments: ['sites', ':siteId', 'operations'],
        versions: ['v1.0', 'beta'],
        contextPath: (p) => `sites(${quote(p.siteId)})/operations`,
        scope: (p) => `sites/${p.siteId}`,
      },
      {
        segments: ['sites', ':siteId', 'lists', ':listId', 'operations'],
        versions: ['v1.0', 'beta'],
        contextPath: (p) => `sites(${quote(p.siteId)})/lists(${quote(p.listId)})/operations`,
        scope: (p) => `sites/${p.siteId}/lists/${p.listId}`,
      },
    ],
    read: {
      delegated: ['Sites.Read.All', 'Sites.ReadWrite.All', 'Sites.Manage.All', 'Sites.FullControl.All'],
      application: ['Sites.Read.All', 'Sites.ReadWrite.All', 'Sites.Manage.All', 'Sites.FullControl.All'],
    },
    write: {
      delegated: ['Sites.ReadWrite.All', 'Sites.Manage.All', 'Sites.FullControl.All'],
      application: ['Sites.ReadWrite.All', 'Sites.Manage.All', 'Sites.FullControl.All'],
    },
  },
  {
    name: 'app',
    personalAccounts: 'supported',
    declaredType: 'longRunningOperation',
    defaultType: 'longRunningOperation',
    collections: [
      {
        segments: ['operations'],
        versions: ['v1.0', 'beta'],
        contextPath: () => 'operations',
        scope: () => 'operations',
      },
    ],
    read: {
      delegated: ['LongRun.Read.All', 'LongRun.ReadWrite.All'],
      application: ['LongRun.Read.All', 'LongRun.ReadWrite.All'],
    },
    write: {
      delegated: ['LongRun.ReadWrite.All'],
      application: ['LongRun.ReadWrite.All'],
    },
  },
];

/**
 * Beta's `GET /sites/getOperationStatus(operationId='…')` reads site-creation operations, which live in
 * this scope of the sites family.
 */
export const SITE_CREATION_SCOPE = 'sites/getOperationStatus';

export function family(name: FamilyName): FamilyDef {
  const f = FAMILIES.find((x) => x.name === name);
  if (!f) throw new Error(`unknown family ${name}`);
  return f;
}

/** The family a scope key belongs to (scopes are made by the templates above). */
export function familyOfScope(scope: string): FamilyName {
  if (scope.startsWith('users/')) return 'authentication';
  if (scope.startsWith('sites/')) return 'sites';
  if (scope === 'identityGovernance/roleManagementAlerts') return 'roleManagementAlerts';
  if (scope === 'external/industryData') return 'industryData';
  if (scope === 'security/attackSimulation') return 'attackSimulation';
  if (scope === 'employeeExperience') return 'engagement';
  return 'app';
}
