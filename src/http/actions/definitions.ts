/**
 * The Graph actions that start operations (the Graph docs of each action), each bound to a built-in
 * scenario that walks its operation the way the Graph docs show.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { family, type CollectionTemplate, type FamilyName } from '../../families/families.js';
import { badRequest } from '../../model/errors.js';
import type { ActionDefinition } from './action.js';
import { bool, checkBody, httpsUrl, object, str, stringArray } from './body.js';

/** The family collection an action files its operation in. */
const at = (name: FamilyName, index = 0): { family: FamilyName; template: CollectionTemplate } => ({
  family: name,
  template: family(name).collections[index],
});
const enc = encodeURIComponent;

/** A generated password that satisfies Entra ID's complexity rules. */
function generatePassword(): string {
  const raw = randomBytes(12).toString('base64url');
  return `Lr${raw}9!`;
}

const resetPassword = (version: 'v1.0' | 'beta'): ActionDefinition => ({
  name: 'resetPassword',
  method: 'POST',
  versions: [version],
  segments:
    version === 'v1.0'
      ? ['users', ':userId', 'authentication', 'methods', ':methodId', 'resetPassword']
      : ['users', ':userId', 'authentication', 'passwordMethods', ':methodId', 'resetPassword'],
  family: 'authentication',
  permissions: { delegated: ['UserAuthenticationMethod.ReadWrite.All'], application: [] },
  userParam: 'userId',
  prepare({ params, body, serviceRoot }) {
    const { newPassword } = checkBody(body, { optional: { newPassword: str({ maxLength: 256 }) } });
    const generated = newPassword ? undefined : generatePassword();
    const methods = version === 'v1.0' ? 'methods' : 'passwordMethods';
    return {
      collection: { ...at('authentication'), params: { userId: params.userId } },
      type: 'longRunningOperation',
      scenario: 'resetPassword',
      result: {
        resourceLocation: `${serviceRoot}/users/${enc(params.userId)}/authentication/${methods}/${enc(params.methodId)}`,
      },
      responseBody: generated
        ? {
            '@odata.context': `${serviceRoot}/$metadata#microsoft.graph.passwordResetResponse`,
            newPassword: generated,
          }
        : undefined,
    };
  },
});

const alerts = (serviceRoot: string) => `${serviceRoot}/identityGovernance/roleManagementAlerts/alerts`;
const ROLE_ALERT_WRITE = {
  delegated: ['RoleManagementAlert.ReadWrite.Directory'],
  application: ['RoleManagementAlert.ReadWrite.Directory'],
};

const refreshAlerts: ActionDefinition = {
  name: 'refresh',
  method: 'POST',
  versions: ['beta'],
  segments: ['identityGovernance', 'roleManagementAlerts', 'alerts', 'refresh'],
  family: 'roleManagementAlerts',
  permissions: ROLE_ALERT_WRITE,
  prepare({ body, serviceRoot }) {
    const { scopeId, scopeType } = checkBody(body, {
      required: { scopeId: str({ maxLength: 256 }), scopeType: str({ oneOf: ['DirectoryRole'] }) },
    }) as { scopeId: string; scopeType: string };
    const filter = `scopeId eq '${scopeId.replace(/'/g, "''")}' and scopeType eq '${scopeType}'`;
    return {
      collection: { ...at('roleManagementAlerts'), params: {} },
      type: 'longRunningOperation',
      scenario: 'roleManagementAlertRefresh',
      id: `refresh:${scopeType}_${scopeId === '/' ? 'tenant' : scopeId}`,
      reuseActive: true,
      // Seed 002: statusDetail stays "" once the refresh succeeded.
      result: { resourceLocation: `${alerts(serviceRoot)}?$filter=${enc(filter)}`, statusDetail: '' },
    };
  },
};

const refreshAlert: ActionDefinition = {
  name: 'refresh',
  method: 'POST',
  versions: ['beta'],
  segments: ['identityGovernance', 'roleManagementAlerts', 'alerts', ':alertId', 'refresh'],
  family: 'roleManagementAlerts',
  permissions: ROLE_ALERT_WRITE,
  prepare({ params, body, serviceRoot }) {
    checkBody(body, {});
    return {
      collection: { ...at('roleManagementAlerts'), params: {} },
      type: 'longRunningOperation',
      scenario: 'roleManagementAlertRefresh',
      id: `refresh:${params.alertId}`,
      reuseActive: true,
      result: { resourceLocation: `${alerts(serviceRoot)}/${enc(params.alertId)}`, statusDetail: '' },
    };
  },
};

const INDUSTRY_DATA_WRITE = {
  delegated: ['IndustryData-DataConnector.Upload', 'IndustryData-DataConnector.ReadWrite.All'],
  application: ['IndustryData-DataConnector.Upload', 'IndustryData-DataConnector.ReadWrite.All'],
};

/** What the docs' example validation finds: problems are reported, and the operation still succeeds. */
const validateResult = (serviceRoot: string, connectorPath: string) => ({
  resourceLocation: `${serviceRoot}/external/industryData/${connectorPath}`,
  props: {
    errors: [
      {
        code: 'RequiredFileNotFound',
        message: 'The required file orgs.csv was not found.',
        target: 'orgs.csv',
        details: [],
        innerError: null,
      },
    ],
    warnings: [
      {
        code: 'OptionalFileNotFound',
        message: 'The optional file studentenrollments.csv was not found.',
        target: 'studentenrollments.csv',
        details: [],
        innerError: null,
      },
    ],
    validatedFiles: ['users.csv', 'roles.csv', 'classes.csv'],
  },
});

/** `validate` on a data connector, addressed directly or through its inbound flow. */
const validate = (
  segments: readonly string[],
  connectorPath: (params: Record<string, string>) => string,
): ActionDefinition => ({
  name: 'validate',
  method: 'POST',
  versions: ['beta'],
  segments,
  family: 'industryData',
  permissions: INDUSTRY_DATA_WRITE,
  prepare({ params, body, serviceRoot }) {
    checkBody(body, {});
    return {
      collection: { ...at('industryData'), params: {} },
      type: 'industryData.fileValidateOperation',
      scenario: 'industryDataValidate',
      result: validateResult(serviceRoot, connectorPath(params)),
    };
  },
});

const validateConnector = validate(
  ['external', 'industryData', 'dataConnectors', ':connectorId', 'validate'],
  (p) => `dataConnectors/${enc(p.connectorId)}`,
);
const validateInboundFlowConnector = validate(
  ['external', 'industryData', 'inboundFlows', ':flowId', 'dataConnector', 'validate'],
  (p) => `inboundFlows/${enc(p.flowId)}/dataConnector`,
);

const ATTACK_SIMULATION_WRITE = {
  delegated: ['AttackSimulation.ReadWrite.All'],
  application: ['AttackSimulation.ReadWrite.All'],
};

const createSimulation: ActionDefinition = {
  name: 'createSimulation',
  method: 'POST',
  versions: ['v1.0', 'beta'],
  segments: ['security', 'attackSimulation', 'simulations'],
  family: 'attackSimulation',
  permissions: ATTACK_SIMULATION_WRITE,
  prepare({ body, serviceRoot, caller }) {
    // longrun does not model simulations; it checks what every create needs and keeps the rest as given.
    checkBody(body, { required: { displayName: str({ maxLength: 256 }) }, open: true });
    const simulationId = randomUUID();
    return {
      collection: { ...at('attackSimulation'), params: {} },
      type: 'attackSimulationOperation',
      scenario: 'attackSimulation',
      props: { type: 'createSimualation', tenantId: caller.tenantId || null },
      result: {
        resourceLocation: `${serviceRoot}/security/attackSimulation/simulations/${simulationId}`,
      },
    };
  },
};

const updateSimulation: ActionDefinition = {
  name: 'updateSimulation',
  method: 'PATCH',
  versions: ['v1.0', 'beta'],
  segments: ['security', 'attackSimulation', 'simulations', ':simulationId'],
  family: 'attackSimulation',
  permissions: ATTACK_SIMULATION_WRITE,
  prepare({ params, body, serviceRoot, caller }) {
    const fields = checkBody(body, { open: true });
    if (Object.keys(fields).length === 0)
      throw badRequest('The request body must name at least one property to update.');
    return {
      collection: { ...at('attackSimulation'), params: {} },
      type: 'attackSimulationOperation',
      scenario: 'attackSimulation',
      props: { type: 'updateSimulation', tenantId: caller.tenantId || null },
      result: {
        resourceLocation: `${serviceRoot}/security/attackSimulation/simulations/${enc(params.simulationId)}`,
      },
    };
  },
};

const createCommunity: ActionDefinition = {
  name: 'createCommunity',
  method: 'POST',
  versions: ['v1.0', 'beta'],
  segments: ['employeeExperience', 'communities'],
  family: 'engagement',
  permissions: { delegated: ['Community.ReadWrite.All'], application: ['Community.ReadWrite.All'] },
  prepare({ body, serviceRoot }) {
    checkBody(body, {
      required: {
        displayName: str({ maxLength: 255 }),
        description: str({ maxLength: 1024 }),
        privacy: str({ oneOf: ['public', 'private'] }),
      },
      optional: { 'owners@odata.bind': stringArray(20) },
    });
    const communityId = randomBytes(16).toString('base64url');
    return {
      collection: { ...at('engagement'), params: {} },
      type: 'engagementAsyncOperation',
      scenario: 'createCommunity',
      props: { operationType: 'createCommunity' },
      keyForm: 'parentheses',
      result: {
        resourceLocation: `${serviceRoot}/employeeExperience/communities('${communityId}')`,
        props: { resourceId: communityId },
      },
    };
  },
};

const SITES_MANAGE = {
  delegated: ['Sites.Manage.All', 'Sites.FullControl.All'],
  application: ['Sites.Manage.All', 'Sites.FullControl.All'],
};
const contentTypeId = str({ maxLength: 512, pattern: /^0x[0-9A-Fa-f]+$/ });

const copyContentType = (onList: boolean): ActionDefinition => ({
  name: 'addCopyFromContentTypeHub',
  method: 'POST',
  versions: ['v1.0', 'beta'],
  segments: onList
    ? ['sites', ':siteId', 'lists', ':listId', 'contentTypes', 'addCopyFromContentTypeHub']
    : ['sites', ':siteId', 'contentTypes', 'addCopyFromContentTypeHub'],
  family: 'sites',
  permissions: SITES_MANAGE,
  prepare({ params, body, serviceRoot }) {
    const { contentTypeId: ctid } = checkBody(body, { required: { contentTypeId } }) as {
      contentTypeId: string;
    };
    const owner = onList
      ? `sites/${enc(params.siteId)}/lists/${enc(params.listId)}`
      : `sites/${enc(params.siteId)}`;
    return {
      collection: { ...at('sites', onList ? 1 : 0), params: { ...params } },
      type: 'richLongRunningOperation',
      scenario: 'contentTypeCopy',
      id: `contentTypeCopy,${ctid}`,
      reuseActive: true,
      props: { type: 'contentTypeCopy', percentageComplete: 0 },
      result: {
        resourceLocation: `${serviceRoot}/${owner}/contentTypes/${enc(ctid)}`,
        props: { resourceId: ctid },
      },
    };
  },
});

const createSite: ActionDefinition = {
  name: 'createSite',
  method: 'POST',
  versions: ['beta'],
  segments: ['sites'],
  family: 'sites',
  permissions: {
    delegated: ['Sites.Create.All', 'Sites.FullControl.All'],
    application: ['Sites.Create.All', 'Sites.FullControl.All'],
  },
  prepare({ body }) {
    const site = checkBody(body, {
      required: {
        name: str({ maxLength: 256 }),
        webUrl: httpsUrl,
        template: str({ oneOf: ['sitepagepublishing', 'sts'] }),
      },
      optional: {
        description: str({ maxLength: 1024 }),
        locale: str({ maxLength: 16 }),
        shareByEmailEnabled: bool,
        ownerIdentityToResolve: object,
      },
    }) as { webUrl: string };
    const siteId = randomUUID();
    return {
      collection: 'siteCreation',
      type: 'richLongRunningOperation',
      scenario: 'createSite',
      // Graph's site-creation operation ids are base64 text.
      id: Buffer.from(`site:${siteId}`).toString('base64'),
      props: { type: 'siteCreation', percentageComplete: 0 },
      result: { resourceLocation: site.webUrl, props: { resourceId: siteId } },
    };
  },
};

export const ACTIONS: readonly ActionDefinition[] = [
  resetPassword('v1.0'),
  resetPassword('beta'),
  refreshAlerts,
  refreshAlert,
  validateConnector,
  validateInboundFlowConnector,
  createSimulation,
  updateSimulation,
  createCommunity,
  copyContentType(false),
  copyContentType(true),
  createSite,
];
