// The chat-core layer: the data model, protocol and plumbing every function shares.
export { ChatStore, type ChatStoreOptions, type ConnectionRecord, type MembershipRecord } from './chat-store';
export * from './config';
export { ConnectionsApi, connectionsEndpoint, isGone } from './connections-api';
export { dynamoDbClient } from './dynamodb';
export { ChatError, type ErrorCode, notAMember, ValidationError } from './errors';
export { type FanoutResult, fanOut, forEachConcurrently } from './fanout';
export { lowestIdAt, timeOfId, timeSortableId } from './ids';
export { logger } from './logger';
export { createChatService } from './model/service';
export * from './protocol';
export { chatStore, type RouteContext, webSocketRoute } from './route';
export * from './validation';
export { type WebSocketEvent, type WebSocketResult, webSocketEvent } from './websocket-event';
