import { Logger } from '@aws-lambda-powertools/logger';

/** One structured JSON logger per runtime; level and service name come from POWERTOOLS_* variables. */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'chat-rooms' });
