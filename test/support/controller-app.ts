/**
 * One controller with its source replaced, served by Nest on Fastify with the app's exception filter and
 * validation pipe — for a data source's route tests without booting the whole app.
 */
import { ValidationPipe, type Type } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { AllExceptionsFilter } from '../../src/common/exception.filter.js';
import { Scrubber } from '../../src/common/secrets.js';

export async function startControllerApp(
  controller: Type,
  source: { provide: Type; useValue: unknown },
): Promise<NestFastifyApplication> {
  const moduleRef = await Test.createTestingModule({
    controllers: [controller],
    providers: [source],
  }).compile();
  const nest = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), {
    logger: false,
  });
  nest.useGlobalFilters(new AllExceptionsFilter(new Scrubber([])));
  nest.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
  // Over a real socket: fastify.inject() needs an ESM-only dependency that Jest's ESM mode cannot require.
  await nest.listen(0, '127.0.0.1');
  return nest;
}

export async function getJson(
  app: NestFastifyApplication,
  url: string,
): Promise<{ status: number; body: any }> {
  const base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  const res = await fetch(`${base}${url}`);
  return { status: res.status, body: await res.json() };
}
