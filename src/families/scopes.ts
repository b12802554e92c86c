/**
 * The scopes of a family, as sets the store can select (the inverse of familyOfScope in families.ts): the
 * operator API filters a tenant's operations by family without knowing every collection instance.
 */
import type { FamilyName } from './families.js';

export type ScopeSet = { exact: string } | { prefix: string; suffix?: string };

const FAMILY_SCOPES: Readonly<Record<FamilyName, readonly ScopeSet[]>> = {
  authentication: [{ prefix: 'users/', suffix: '/authentication' }],
  roleManagementAlerts: [{ exact: 'identityGovernance/roleManagementAlerts' }],
  industryData: [{ exact: 'external/industryData' }],
  attackSimulation: [{ exact: 'security/attackSimulation' }],
  engagement: [{ exact: 'employeeExperience' }],
  sites: [{ prefix: 'sites/' }],
  app: [{ exact: 'operations' }],
};

export const FAMILY_NAMES = Object.keys(FAMILY_SCOPES) as FamilyName[];

export function familyScopes(name: FamilyName): readonly ScopeSet[] {
  return FAMILY_SCOPES[name];
}
