import { ConfigValidationError, loadAppConfig, secretsOf } from './app-config.js';

describe('loadAppConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadAppConfig({});
    expect(c).toMatchObject({
      port: 3000,
      host: '0.0.0.0',
      redisUrl: undefined,
      budgetEnforcement: 'soft',
      exchangeId: 'binance',
    });
    expect(c.fearGreedUrl).toBe('https://api.alternative.me/fng');
    expect(c.deepseek).toBeUndefined();
  });

  it('treats memory:// as the embedded store and configures providers from keys', () => {
    const c = loadAppConfig({
      REDIS_URL: 'memory://',
      DEEPSEEK_API_KEY: 'k1',
      BASTION_MODEL_URL: 'http://127.0.0.1:8000/v1',
    });
    expect(c.redisUrl).toBeUndefined();
    expect(c.deepseek).toEqual({ apiKey: 'k1', baseUrl: 'https://api.deepseek.com' });
    expect(c.vllm?.modelName).toBe('Qwen/Qwen2.5-Coder-32B-Instruct-AWQ');
  });

  it('lists every bad variable in one error', () => {
    try {
      loadAppConfig({ DAILY_BUDGET_USD: '-3', OPENAI_BASE_URL: 'not a url', TELEGRAM_BOT_TOKEN: 't' });
      throw new Error('expected a ConfigValidationError');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigValidationError);
      expect((err as ConfigValidationError).problems).toEqual([
        'OPENAI_BASE_URL is not a valid URL',
        'DAILY_BUDGET_USD must be a non-negative number of USD, got "-3"',
        'TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID must be set together',
      ]);
    }
  });

  it('knows which values are secrets', () => {
    const c = loadAppConfig({ API_KEYS: 'a,b', DEEPSEEK_API_KEY: 'ds', COINGLASS_API_KEY: 'cg' });
    expect(secretsOf(c).sort()).toEqual(['a', 'b', 'cg', 'ds']);
  });
});
