import { batcherHandler } from 'chat-core';

/** batcher: posts a busy room's batching window of messages to its members (invoked asynchronously by send). */
export const handler = batcherHandler;
