// The chat-core layer: the data model and protocol every function shares.
export { ChatStore, type ChatStoreOptions, type ConnectionRecord, type MembershipRecord } from './chat-store';
export * from './config';
export { dynamoDbClient } from './dynamodb';
export { ChatError, type ErrorCode, ValidationError } from './errors';
export { createChatService } from './model/service';
export * from './validation';
