import { fanoutShardHandler } from 'chat-core';

/** fan-out: posts one shard of a big room's message to its members (invoked asynchronously by send). */
export const handler = fanoutShardHandler;
