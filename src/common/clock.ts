import { Injectable } from '@nestjs/common';

/** The source of "now" for everything time-dependent, so tests can move time instead of waiting. */
@Injectable()
export class Clock {
  now(): number {
    return Date.now();
  }
}

/** A clock that tests move by hand. */
export class ManualClock extends Clock {
  constructor(private current = Date.parse('2026-11-22T12:00:00Z')) {
    super();
  }
  override now(): number {
    return this.current;
  }
  set(ms: number): void {
    this.current = ms;
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

export const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
export const utcMonth = (ms: number): string => new Date(ms).toISOString().slice(0, 7);
