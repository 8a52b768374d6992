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

const DAY_MS = 86_400_000;
// The last day asked for: requests of one day ask for it again and again (it sits on every request's path).
let lastDay = { index: NaN, day: '', month: '' };

function dayOf(ms: number): { day: string; month: string } {
  const index = Math.floor(ms / DAY_MS);
  if (index !== lastDay.index) {
    const iso = new Date(index * DAY_MS).toISOString();
    lastDay = { index, day: iso.slice(0, 10), month: iso.slice(0, 7) };
  }
  return lastDay;
}

/** `YYYY-MM-DD` of a time (UTC). */
export const utcDay = (ms: number): string => dayOf(ms).day;
/** `YYYY-MM` of a time (UTC). */
export const utcMonth = (ms: number): string => dayOf(ms).month;
