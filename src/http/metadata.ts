/**
 * `GET /{version}/$metadata`: the CSDL (OData 4.0 EDMX) of longrun's types and collections, generated
 * from the operation type table (src/model/types.ts), the EDM facts in schemas.ts and the route families
 * (src/families/families.ts), so it says what the routes serve and nothing else. The types are Graph's own
 * (test/fixtures/graph-csdl/, copied from Microsoft Graph's metadata), with longrun's `canceled` appended to the status enum after
 * `unknownFutureValue`, the way Graph evolves an enum.
 *
 * The entity container is a pragmatic model of the routes: root collections (`users`, `sites`,
 * `operations`) are entity sets, root single resources (`me`, `security`, ...) singletons, and each
 * family's operations collection is a containment navigation property of the resource above it, as in
 * Graph's CSDL (`authentication/operations`, `attackSimulationRoot/operations`, ...). The resources above
 * carry only the navigation properties longrun serves.
 *
 * Public, as in Graph: no token needed.
 */
import type { FastifyInstance } from 'fastify';
import { FAMILIES } from '../families/families.js';
import { API_VERSIONS, OPERATION_TYPES, type ApiVersion } from '../model/types.js';
import {
  COMPLEX_TYPES,
  ENTITY_PROPERTIES,
  ENUM_TYPES,
  LONG_RUNNING_OPERATION_PROPERTIES,
  operationTypesOf,
  type EdmPropertyDef,
} from './schemas.js';

const GRAPH = 'microsoft.graph';

/** The resource type each non-collection segment of a family path stands for. */
interface ResourceType {
  qualifiedName: string;
  /** `graph.entity` unless null (Graph declares some singleton types without a base type or key). */
  baseType?: null;
  abstract?: boolean;
}

const SEGMENT_TYPES: Readonly<Record<string, ResourceType>> = {
  users: { qualifiedName: `${GRAPH}.user` },
  me: { qualifiedName: `${GRAPH}.user` },
  authentication: { qualifiedName: `${GRAPH}.authentication` },
  identityGovernance: { qualifiedName: `${GRAPH}.identityGovernance`, baseType: null },
  roleManagementAlerts: { qualifiedName: `${GRAPH}.roleManagementAlert` },
  external: { qualifiedName: `${GRAPH}.externalConnectors.external`, baseType: null },
  industryData: { qualifiedName: `${GRAPH}.industryData.industryDataRoot` },
  security: { qualifiedName: `${GRAPH}.security` },
  attackSimulation: { qualifiedName: `${GRAPH}.attackSimulationRoot`, abstract: true },
  employeeExperience: { qualifiedName: `${GRAPH}.employeeExperience`, baseType: null },
  sites: { qualifiedName: `${GRAPH}.site` },
  lists: { qualifiedName: `${GRAPH}.list` },
};

interface Navigation {
  name: string;
  /** Qualified type of the target (or of its members). */
  type: string;
  collection: boolean;
}

/** What the family paths of a version make of the container: sets, singletons and navigation. */
interface ContainerModel {
  entitySets: Map<string, string>;
  singletons: Map<string, string>;
  /** Resource types by qualified name, with their navigation properties. */
  resources: Map<string, { def: ResourceType; navigation: Map<string, Navigation> }>;
}

function containerModel(version: ApiVersion): ContainerModel {
  const model: ContainerModel = { entitySets: new Map(), singletons: new Map(), resources: new Map() };
  const resource = (seg: string) => {
    const def = SEGMENT_TYPES[seg];
    if (!def) throw new Error(`$metadata: no resource type for the path segment '${seg}'`);
    if (!model.resources.has(def.qualifiedName))
      model.resources.set(def.qualifiedName, { def, navigation: new Map() });
    return def.qualifiedName;
  };
  for (const family of FAMILIES) {
    for (const template of family.collections) {
      if (!template.versions.includes(version)) continue;
      const segs = template.segments;
      let owner: string | undefined;
      for (let i = 0; i < segs.length; i++) {
        const seg = segs[i];
        if (seg.startsWith(':')) continue;
        const last = i === segs.length - 1;
        const collection = last || (segs[i + 1]?.startsWith(':') ?? false);
        const type = last ? OPERATION_TYPES[family.declaredType].qualifiedName : resource(seg);
        if (owner === undefined) {
          (collection ? model.entitySets : model.singletons).set(seg, type);
        } else {
          model.resources.get(owner)!.navigation.set(seg, { name: seg, type, collection });
        }
        owner = type;
      }
    }
  }
  return model;
}

/** `microsoft.graph.x` → `graph.x` (the schema's alias); names in other namespaces stay qualified. */
function ref(qualifiedName: string): string {
  const rest = qualifiedName.slice(GRAPH.length + 1);
  return qualifiedName.startsWith(`${GRAPH}.`) && !rest.includes('.') ? `graph.${rest}` : qualifiedName;
}

const namespaceOf = (qualifiedName: string) => qualifiedName.slice(0, qualifiedName.lastIndexOf('.'));
const nameOf = (qualifiedName: string) => qualifiedName.slice(qualifiedName.lastIndexOf('.') + 1);

function attr(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function property(p: EdmPropertyDef): string {
  return `<Property Name="${attr(p.name)}" Type="${attr(p.edmType)}"${p.nullable ? '' : ' Nullable="false"'} />`;
}

/** The CSDL document of one API version. */
export function csdl(version: ApiVersion): string {
  const model = containerModel(version);
  // Schema elements by namespace; microsoft.graph first.
  const schemas = new Map<string, string[]>([[GRAPH, []]]);
  const add = (namespace: string, ...lines: string[]) => {
    let list = schemas.get(namespace);
    if (!list) schemas.set(namespace, (list = []));
    list.push(...lines);
  };

  for (const e of ENUM_TYPES) {
    add(
      namespaceOf(e.qualifiedName),
      `<EnumType Name="${e.name}">`,
      ...e.members.map((m, i) => `  <Member Name="${attr(m)}" Value="${i}" />`),
      `</EnumType>`,
    );
  }
  for (const c of COMPLEX_TYPES) {
    add(
      namespaceOf(c.qualifiedName),
      `<ComplexType Name="${c.name}"${c.openType ? ' OpenType="true"' : ''}>`,
      ...c.properties.map((p) => `  ${property(p)}`),
      `</ComplexType>`,
    );
  }
  add(
    GRAPH,
    `<EntityType Name="entity" Abstract="true">`,
    `  <Key>`,
    `    <PropertyRef Name="id" />`,
    `  </Key>`,
    ...ENTITY_PROPERTIES.map((p) => `  ${property(p)}`),
    `</EntityType>`,
  );
  for (const t of operationTypesOf(version)) {
    const def = OPERATION_TYPES[t];
    const base = def.baseType === null ? `${GRAPH}.entity` : OPERATION_TYPES[def.baseType].qualifiedName;
    const own = def.baseType === null ? LONG_RUNNING_OPERATION_PROPERTIES : def.ownProperties;
    add(
      namespaceOf(def.qualifiedName),
      `<EntityType Name="${nameOf(def.qualifiedName)}" BaseType="${ref(base)}"${def.abstract ? ' Abstract="true"' : ''}>`,
      ...own.map((p) => `  ${property(p)}`),
      `</EntityType>`,
    );
  }
  for (const [qualifiedName, { def, navigation }] of model.resources) {
    const base = def.baseType === null ? '' : ` BaseType="graph.entity"`;
    add(
      namespaceOf(qualifiedName),
      `<EntityType Name="${nameOf(qualifiedName)}"${base}${def.abstract ? ' Abstract="true"' : ''}>`,
      ...[...navigation.values()]
        .sort((a, b) => (a.name < b.name ? -1 : 1))
        .map(
          (n) =>
            `  <NavigationProperty Name="${n.name}" Type="${n.collection ? `Collection(${ref(n.type)})` : ref(n.type)}" ContainsTarget="true" />`,
        ),
      `</EntityType>`,
    );
  }

  // Bound operations: cancel on every operation (subtypes inherit the binding); beta's site function.
  add(
    GRAPH,
    `<Action Name="cancel" IsBound="true">`,
    `  <Parameter Name="bindingParameter" Type="graph.longRunningOperation" Nullable="false" />`,
    `  <ReturnType Type="graph.longRunningOperation" />`,
    `</Action>`,
  );
  if (version === 'beta') {
    // GET /beta/sites/getOperationStatus(operationId='…') (see http/resolve.ts).
    add(
      GRAPH,
      `<Function Name="getOperationStatus" IsBound="true" IsComposable="true">`,
      `  <Parameter Name="bindingParameter" Type="Collection(graph.site)" />`,
      `  <Parameter Name="operationId" Type="Edm.String" Unicode="false" />`,
      `  <ReturnType Type="graph.richLongRunningOperation" />`,
      `</Function>`,
    );
  }

  add(
    GRAPH,
    `<EntityContainer Name="GraphService">`,
    ...[...model.entitySets].map(
      ([name, type]) => `  <EntitySet Name="${name}" EntityType="${ref(type)}" />`,
    ),
    ...[...model.singletons].map(([name, type]) => `  <Singleton Name="${name}" Type="${ref(type)}" />`),
    `</EntityContainer>`,
    `<Annotations Target="${GRAPH}.longRunningOperationStatus/canceled">`,
    `  <Annotation Term="Org.OData.Core.V1.Description" String="longrun: the operation was canceled (POST .../cancel). Sent only with Prefer: include-unknown-enum-members; others see unknownFutureValue." />`,
    `</Annotations>`,
  );

  const out = [
    `<?xml version="1.0" encoding="utf-8"?>`,
    `<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">`,
    `  <edmx:DataServices>`,
  ];
  for (const [namespace, lines] of schemas) {
    const alias = namespace === GRAPH ? ' Alias="graph"' : '';
    out.push(
      `    <Schema Namespace="${namespace}"${alias} xmlns="http://docs.oasis-open.org/odata/ns/edm">`,
      ...lines.map((l) => `      ${l}`),
      `    </Schema>`,
    );
  }
  out.push(`  </edmx:DataServices>`, `</edmx:Edmx>`, '');
  return out.join('\n');
}

/** Registers `GET /v1.0/$metadata` and `GET /beta/$metadata` (static routes win over `/{version}/*`). */
export function metadataRoutes(app: FastifyInstance): void {
  for (const version of API_VERSIONS) {
    let document: string | undefined;
    app.get(`/${version}/$metadata`, async (_request, reply) => {
      document ??= csdl(version);
      return reply.type('application/xml; charset=utf-8').send(document);
    });
  }
}
