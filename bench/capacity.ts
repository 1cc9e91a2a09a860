// Counts the DynamoDB capacity a piece of code consumes: an SDK middleware asks every request for
// ReturnConsumedCapacity and adds up what the responses report, per operation.
import type { AttributeValue, ConsumedCapacity, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { localDynamoDbClient } from '../local/dynamodb';

export interface CapacityUse {
  /** Read capacity units consumed (GetItem, Query, Scan, ...). */
  read: number;
  /** Write capacity units consumed (PutItem, BatchWriteItem, TransactWriteItems, ...). */
  write: number;
  /** Capacity units per operation name, e.g. `{ GetItem: 1, Query: 0.5 }`. */
  byOperation: Record<string, number>;
  /** Requests per operation name. */
  calls: Record<string, number>;
}

const READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);

/** A DynamoDB client whose every call reports its consumed capacity into `measure`. */
export class CapacityMeter {
  readonly client: DynamoDBClient;
  private current: CapacityUse | undefined;

  constructor(endpoint: string) {
    this.client = localDynamoDbClient(endpoint);
    this.client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { ReturnConsumedCapacity?: string };
        input.ReturnConsumedCapacity = 'TOTAL';
        const result = await next(args);
        const output = result.output as { ConsumedCapacity?: ConsumedCapacity | ConsumedCapacity[] };
        this.record(context.commandName?.replace(/Command$/, '') ?? 'unknown', output.ConsumedCapacity);
        return result;
      },
      { step: 'initialize', name: 'benchConsumedCapacity', priority: 'high' },
    );
  }

  private record(operation: string, consumed: ConsumedCapacity | ConsumedCapacity[] | undefined): void {
    if (!this.current) return;
    const units = [consumed ?? []].flat().reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
    if (READS.has(operation)) this.current.read += units;
    else this.current.write += units;
    this.current.byOperation[operation] = (this.current.byOperation[operation] ?? 0) + units;
    this.current.calls[operation] = (this.current.calls[operation] ?? 0) + 1;
  }

  /** Runs `work` alone (nothing else may use the client meanwhile) and returns the capacity it consumed. */
  async measure<T>(work: () => Promise<T>): Promise<CapacityUse & { result: T }> {
    if (this.current) throw new Error('one measurement at a time');
    const use: CapacityUse = { read: 0, write: 0, byOperation: {}, calls: {} };
    this.current = use;
    try {
      const result = await work();
      return { ...use, result };
    } finally {
      this.current = undefined;
    }
  }

  destroy(): void {
    this.client.destroy();
  }
}

/**
 * An item's size as DynamoDB bills it: each attribute's name in UTF-8 bytes plus its value (strings
 * in UTF-8 bytes, numbers 1 byte per 2 significant digits plus 1, binary in bytes, booleans and
 * nulls 1 byte, lists and maps 3 bytes plus 1 per element plus their contents).
 */
export function itemSize(item: Record<string, AttributeValue>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) size += Buffer.byteLength(name) + valueSize(value);
  return size;
}

function valueSize(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S);
  if (value.N !== undefined) return numberSize(value.N);
  if (value.B !== undefined) return value.B.length;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS) return value.SS.reduce((sum, s) => sum + Buffer.byteLength(s), 0);
  if (value.NS) return value.NS.reduce((sum, n) => sum + numberSize(n), 0);
  if (value.BS) return value.BS.reduce((sum, b) => sum + b.length, 0);
  if (value.L) return 3 + value.L.reduce((sum, v) => sum + 1 + valueSize(v), 0);
  if (value.M)
    return (
      3 + Object.entries(value.M).reduce((sum, [k, v]) => sum + 1 + Buffer.byteLength(k) + valueSize(v), 0)
    );
  return 0;
}

function numberSize(text: string): number {
  const digits = text
    .replace(/^-/, '')
    .replace(/e.*$/i, '')
    .replace('.', '')
    .replace(/^0+/, '')
    .replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

/** Read units for reading `bytes` in one request, eventually consistent: 0.5 per started 4 KB. */
export function eventuallyConsistentReadUnits(bytes: number): number {
  return Math.ceil(bytes / 4096) * 0.5;
}
