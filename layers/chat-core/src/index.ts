// The chat-core layer: the data model, protocol and plumbing every function shares.
export { messagesFrames } from './batcher';
export { batcherHandler } from './batcher-function';
export {
  type BatchWindowRef,
  ChatStore,
  type ChatStoreOptions,
  type ConnectionRecord,
  type HistoryPage,
  type MembershipRecord,
  type MessageRecord,
  type SavedMessage,
} from './chat-store';
export { forEachConcurrently } from './concurrency';
export * from './config';
export { ConnectionsApi, connectionsEndpoint, isGone } from './connections-api';
export { dynamoDbClient } from './dynamodb';
export {
  alreadyJoined,
  ChatError,
  type ErrorCode,
  notAMember,
  RateLimitedError,
  ValidationError,
} from './errors';
export {
  announceDepartures,
  type FanoutOptions,
  type FanoutResult,
  fanOut,
  presenceAudience,
} from './fanout';
export { lowestIdAt, timeOfId, timeSortableId } from './ids';
export { logger } from './logger';
export { type ChatService, chatService } from './model/service';
export { type RoomPresence, readPresence } from './presence';
export * from './protocol';
export { chatStore, type RouteContext, webSocketRoute } from './route';
export { fanoutShardHandler } from './shard';
export * from './subprotocol';
export * from './validation';
export { type WebSocketEvent, type WebSocketResult, webSocketEvent } from './websocket-event';
