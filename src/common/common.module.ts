import { type DynamicModule, Global, Module } from '@nestjs/common';
import { Clock } from './clock.js';
import { KeyDirectory } from './key-directory.js';

@Global()
@Module({})
export class CommonModule {
  static forRoot(clock?: Clock): DynamicModule {
    return {
      module: CommonModule,
      providers: [clock ? { provide: Clock, useValue: clock } : Clock, KeyDirectory],
      exports: [Clock, KeyDirectory],
    };
  }
}
