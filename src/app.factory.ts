import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import type { AppConfig } from './config/app-config.js';
import { AppModule, type AppOptions } from './app.module.js';
import { setupDocs } from './docs.js';

export const BODY_LIMIT_BYTES = 1024 * 1024;

/** Builds the whole application (used by main.ts, the e2e tests and the benchmarks alike). */
export async function createApp(
  config: AppConfig,
  options: AppOptions = {},
): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config, options),
    new FastifyAdapter({ bodyLimit: BODY_LIMIT_BYTES, trustProxy: true }),
    { bufferLogs: true },
  );
  app.useLogger(app.get(Logger));
  app.enableShutdownHooks();
  setupDocs(app);
  return app;
}
