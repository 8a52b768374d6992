import { Scrubber } from './secrets.js';

describe('Scrubber', () => {
  const scrubber = new Scrubber(['ds-secret-key-123', 'bot-key', 'bot-key-longer']);

  it('removes every configured secret, the longest first', () => {
    expect(scrubber.scrub('keys bot-key-longer and bot-key and ds-secret-key-123')).toBe(
      'keys [REDACTED] and [REDACTED] and [REDACTED]',
    );
  });

  it('removes credentials an upstream quotes back, configured or not', () => {
    expect(scrubber.scrub('401: bad header Authorization: Bearer abc123def456 rejected')).toBe(
      '401: bad header Authorization: Bearer [REDACTED] rejected',
    );
    // Built at run time so the file holds nothing shaped like a live key.
    const unconfiguredKey = ['sk', 'test', 'notreal'.repeat(3)].join('-');
    expect(scrubber.scrub(`token ${unconfiguredKey} is invalid`)).toBe('token [REDACTED] is invalid');
    expect(scrubber.scrub('url?api_key=qwerty123456&x=1')).toBe('url?api_key=[REDACTED]&x=1');
    expect(scrubber.scrub('{"authorization":"Bearer zyx987654321"}')).toBe(
      '{"authorization":"Bearer [REDACTED]"}',
    );
  });

  it('keeps JSON valid and leaves a hint about the header alone', () => {
    const body = JSON.stringify({ message: 'send "Authorization: Bearer <key>" or "X-API-Key: <key>"' });
    expect(scrubber.scrub(body)).toBe(body);
    const quoted = JSON.stringify({ message: 'upstream said "Authorization: Bearer ds-secret-key-123"' });
    expect(JSON.parse(scrubber.scrub(quoted))).toEqual({
      message: 'upstream said "Authorization: Bearer [REDACTED]"',
    });
  });
});
