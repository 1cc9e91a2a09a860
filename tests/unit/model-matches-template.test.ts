import { batchWindowSchema } from '../../layers/chat-core/src/model/batch-window';
import { connectionSchema } from '../../layers/chat-core/src/model/connection';
import { membershipSchema } from '../../layers/chat-core/src/model/membership';
import { messageSchema } from '../../layers/chat-core/src/model/message';
import { sendReceiptSchema } from '../../layers/chat-core/src/model/send-receipt';
import { loadTemplate, type Resource } from '../../tools/template';
import { TEMPLATE_PATH } from '../support/test-table';

interface KeyElement {
  AttributeName: string;
  KeyType: 'HASH' | 'RANGE';
}
interface IndexSchema {
  index?: string;
  pk: { field: string };
  sk?: { field: string };
}
interface ModelSchema {
  model: { entity: string };
  attributes: Record<string, { type: string }>;
  indexes: Record<string, IndexSchema>;
}

/** Every way an ElectroDB schema can name a key field or index that the template's table lacks. */
function mismatches(schemas: ModelSchema[], table: Resource, fanoutAttributes: string[]): string[] {
  const props = table.Properties as {
    KeySchema: KeyElement[];
    GlobalSecondaryIndexes?: {
      IndexName: string;
      KeySchema: KeyElement[];
      Projection: { ProjectionType: string; NonKeyAttributes?: string[] };
    }[];
    TimeToLiveSpecification?: { AttributeName: string };
  };
  const keyOf = (keys: KeyElement[], type: KeyElement['KeyType']) =>
    keys.find((k) => k.KeyType === type)?.AttributeName;
  const problems: string[] = [];
  for (const schema of schemas) {
    for (const [name, index] of Object.entries(schema.indexes)) {
      const where = `${schema.model.entity}.${name}`;
      const keys = index.index
        ? props.GlobalSecondaryIndexes?.find((g) => g.IndexName === index.index)?.KeySchema
        : props.KeySchema;
      if (!keys) {
        problems.push(`${where}: the table has no index "${index.index}"`);
        continue;
      }
      if (keyOf(keys, 'HASH') !== index.pk.field)
        problems.push(`${where}: pk field "${index.pk.field}" is not the HASH key`);
      if (keyOf(keys, 'RANGE') !== index.sk?.field)
        problems.push(`${where}: sk field "${index.sk?.field}" is not the RANGE key`);
    }
    const ttl = props.TimeToLiveSpecification?.AttributeName;
    if (!ttl || schema.attributes[ttl]?.type !== 'number') {
      problems.push(`${schema.model.entity}: TTL attribute "${ttl}" is not a number attribute`);
    }
  }
  for (const gsi of props.GlobalSecondaryIndexes ?? []) {
    const projected =
      gsi.Projection.ProjectionType === 'ALL' ? fanoutAttributes : (gsi.Projection.NonKeyAttributes ?? []);
    for (const attribute of fanoutAttributes) {
      if (!projected.includes(attribute)) problems.push(`${gsi.IndexName}: does not project "${attribute}"`);
    }
  }
  return problems;
}

const table = loadTemplate(TEMPLATE_PATH).Resources.ChatTable!;
const schemas = [
  connectionSchema,
  membershipSchema,
  messageSchema,
  sendReceiptSchema,
  batchWindowSchema,
] as unknown as ModelSchema[];
// What a fan-out reads from the room index: the recipient, the expiry it filters on, ElectroDB's markers.
const FANOUT = ['connectionId', 'expiresAt', '__edb_e__', '__edb_v__'];

test('every ElectroDB index names keys and indexes that template.yaml defines', () => {
  expect(mismatches(schemas, table, FANOUT)).toEqual([]);
});

test('the check catches a model that drifted from the table', () => {
  const drifted = structuredClone(membershipSchema) as unknown as ModelSchema;
  drifted.indexes.byRoom!.index = 'gsi2';
  drifted.indexes.byConnection!.sk = { field: 'sortKey' };
  expect(mismatches([drifted], table, [...FANOUT, 'name'])).toEqual([
    'membership.byConnection: sk field "sortKey" is not the RANGE key',
    'membership.byRoom: the table has no index "gsi2"',
    'gsi1: does not project "name"',
  ]);
});
