import { StreamHub, type HubSubscriber, type StreamSummary } from './stream-hub.js';

/** A client of the shared stream: what it was sent, and how it ended. */
class Client implements HubSubscriber {
  readonly chunks: Record<string, unknown>[] = [];
  readonly ends: StreamSummary[] = [];
  write(chunk: Record<string, unknown>): void {
    this.chunks.push(chunk);
  }
  end(summary: StreamSummary): void {
    this.ends.push(summary);
  }
  get text(): string {
    return this.chunks.map((c) => String(c.text)).join('');
  }
}

const piece = (text: string) => ({ text });

describe('StreamHub', () => {
  it('sends every chunk live to every subscriber, and ends each one with the cost', () => {
    const hub = new StreamHub(() => undefined);
    const [a, b] = [new Client(), new Client()];
    hub.subscribe(a);
    hub.subscribe(b);
    hub.publish(piece('BTC '));
    hub.publish(piece('up'));
    hub.finish({ costUsd: 0.0002 });
    for (const client of [a, b]) {
      expect(client.text).toBe('BTC up');
      expect(client.ends).toEqual([{ costUsd: 0.0002 }]);
    }
  });

  it('gives a late joiner what was already sent, then the rest live', () => {
    const hub = new StreamHub(() => undefined);
    const early = new Client();
    hub.subscribe(early);
    hub.publish(piece('one '));
    hub.publish(piece('two '));
    const late = new Client();
    hub.subscribe(late);
    expect(late.text).toBe('one two ');
    hub.publish(piece('three'));
    hub.finish({ costUsd: null });
    expect(late.text).toBe('one two three');
    expect(late.text).toBe(early.text);
  });

  it('gives a subscriber that joins after the end the whole stream and its end at once', () => {
    const hub = new StreamHub(() => undefined);
    hub.subscribe(new Client());
    hub.publish(piece('done'));
    hub.finish({ costUsd: 0.01 });
    const after = new Client();
    hub.subscribe(after);
    expect(after.text).toBe('done');
    expect(after.ends).toEqual([{ costUsd: 0.01 }]);
  });

  it('stops sending to a subscriber that left', () => {
    const hub = new StreamHub(() => undefined);
    const [stays, leaves] = [new Client(), new Client()];
    hub.subscribe(stays);
    const leave = hub.subscribe(leaves);
    hub.publish(piece('a'));
    leave();
    hub.publish(piece('b'));
    hub.finish({ costUsd: null });
    expect(leaves.text).toBe('a');
    expect(leaves.ends).toEqual([]);
    expect(stays.text).toBe('ab');
    expect(hub.listeners).toBe(0);
  });

  it('aborts the upstream when the last subscriber leaves before the end, and only then', () => {
    let aborts = 0;
    const hub = new StreamHub(() => aborts++);
    const leaveA = hub.subscribe(new Client());
    const leaveB = hub.subscribe(new Client());
    expect(hub.listeners).toBe(2);
    leaveA();
    expect(aborts).toBe(0);
    leaveB();
    expect(aborts).toBe(1);
    leaveB(); // leaving twice is leaving once
    expect(aborts).toBe(1);
  });

  it('does not abort when subscribers leave after the end', () => {
    let aborts = 0;
    const hub = new StreamHub(() => aborts++);
    const leave = hub.subscribe(new Client());
    hub.finish({ costUsd: 0 });
    leave();
    expect(aborts).toBe(0);
  });

  it('notifies each finish listener once, and one added after the end at once', () => {
    const hub = new StreamHub(() => undefined);
    const heard: string[] = [];
    hub.onFinish(() => heard.push('first'));
    hub.onFinish(() => heard.push('second'));
    expect(heard).toEqual([]);
    hub.finish({ costUsd: null });
    expect(heard).toEqual(['first', 'second']);
    hub.finish({ costUsd: null });
    expect(heard).toEqual(['first', 'second']);
    hub.onFinish(() => heard.push('late'));
    expect(heard).toEqual(['first', 'second', 'late']);
  });
});
