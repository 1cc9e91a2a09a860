import type { Context } from 'aws-lambda';
import type * as z from 'zod/mini';
import type { FanoutDeps } from './fanout';
import { logger } from './logger';
import { fanoutDeps } from './route';

/**
 * A function that another invokes asynchronously with work for one stage's `@connections` endpoint. An
 * event the schema refuses is logged and dropped before anything is read or posted (Lambda's retry would
 * only bring it again).
 */
export function invokedFunction<Schema extends z.ZodMiniType<{ endpoint: string }>>(
  schema: Schema,
  eventName: string,
  work: (deps: FanoutDeps, event: z.output<Schema>) => Promise<unknown>,
): (rawEvent: unknown, lambdaContext?: Context) => Promise<void> {
  return async (rawEvent, lambdaContext) => {
    const parsed = schema.safeParse(rawEvent);
    if (!parsed.success) {
      logger.error(`not a ${eventName} event`, { issues: parsed.error.issues });
      return;
    }
    if (lambdaContext) logger.addContext(lambdaContext);
    await work(fanoutDeps(parsed.data.endpoint, lambdaContext), parsed.data);
  };
}
