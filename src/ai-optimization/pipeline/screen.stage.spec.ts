import { Logger } from '@nestjs/common';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { DomainError } from '../../common/errors.js';
import {
  agentsConfig,
  FakeConversations,
  meteredCall,
  MODELS,
  modelsConfig,
  NOWHERE,
  registry,
} from '../../../test/support/pipeline-fakes.js';
import { countPromptTokens } from '../../../test/fakes/llm-upstream.js';
import type { MeteredCall } from './metered-call.js';
import { ScreenStage } from './screen.stage.js';

// The registry logs its providers on construction: not wanted in test output.
Logger.overrideLogger(false);

const AGENTS = agentsConfig({
  market_regime: { enableAi: true },
  signal_validator: { enableAi: false },
  portfolio_optimizer: { model: 'deepseek-v4-pro' },
});

function stage(env: Record<string, string> = {}, models = MODELS) {
  return new ScreenStage(registry(env, models), new FakeConversations().asRepository(), AGENTS);
}

describe('ScreenStage', () => {
  describe('the AI switch', () => {
    const screen = stage();
    it('is off for an agent configured with enable_ai: false', () => {
      expect(screen.aiEnabled('signal_validator')).toBe(false);
    });
    it('is on for a configured agent and for an agent the configuration does not name', () => {
      expect(screen.aiEnabled('market_regime')).toBe(true);
      expect(screen.aiEnabled('a_bot_of_my_own')).toBe(true);
    });
  });

  describe('the model chain', () => {
    const screen = stage();
    it('is the model asked for, then its fallbacks', () => {
      const chain = screen.screen(meteredCall({ model: 'deepseek-v4-flash' })).chain;
      expect(chain.map((m) => [m.entry.name, m.provider])).toEqual([
        ['deepseek-v4-flash', 'deepseek'],
        ['gpt-4o-mini', 'openai'],
      ]);
    });
    it("is the agent's model when the call names none, otherwise the default model", () => {
      expect(
        screen.screen(meteredCall({ agent: 'portfolio_optimizer', model: undefined })).chain[0].entry.name,
      ).toBe('deepseek-v4-pro');
      expect(
        screen.screen(meteredCall({ agent: 'a_bot_of_my_own', model: undefined })).chain[0].entry.name,
      ).toBe('deepseek-v4-flash');
    });
    it('refuses an unknown model with a 400 that lists the known ones', () => {
      let error: unknown;
      try {
        screen.screen(meteredCall({ model: 'gpt-17' }));
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(DomainError);
      const e = error as DomainError;
      expect(e.status).toBe(400);
      expect(e.code).toBe('unknown_model');
      expect(e.message).toContain('"gpt-17"');
      for (const known of ['deepseek-v4-flash', 'deepseek-v4-pro', 'gpt-4o-mini', 'bastion-model']) {
        expect(e.message).toContain(known);
      }
    });
    it('answers 503 when no configured provider can serve the model', () => {
      expect(() => screen.screen(meteredCall({ model: 'bastion-model' }))).toThrow(
        expect.objectContaining({ status: 503, message: expect.stringContaining('BASTION_MODEL_URL') }),
      );
    });
  });

  describe('the response-cache key', () => {
    const screen = stage();
    const keyOf = (over: Partial<MeteredCall> = {}): string => screen.screen(meteredCall(over)).cacheKey;
    const base = meteredCall();

    it('is equal for equal requests whatever the order of their keys', () => {
      const reordered = meteredCall({
        body: {
          temperature: 0.2,
          max_tokens: 500,
          messages: [{ content: 'Is BTC trending?', role: 'user' }],
        },
      });
      expect(screen.screen(reordered).cacheKey).toBe(keyOf());
      const nested = (a: Record<string, unknown>) => keyOf({ body: { ...base.body, response_format: a } });
      expect(nested({ type: 'json_schema', json_schema: { name: 'x', strict: true } })).toBe(
        nested({ json_schema: { strict: true, name: 'x' }, type: 'json_schema' }),
      );
    });

    it('differs by tenant, agent, symbol and response type', () => {
      const keys = [
        keyOf(),
        keyOf({ tenant: 'desk-b' }),
        keyOf({ agent: 'signal_validator' }),
        keyOf({ symbol: 'ETH/USDT' }),
        keyOf({ symbol: undefined }),
        keyOf({ responseType: 'regime_analysis' }),
      ];
      expect(new Set(keys).size).toBe(keys.length);
    });

    it('differs by the upstream model, and is shared by two names of one upstream model', () => {
      expect(keyOf({ model: 'deepseek-v4-pro' })).not.toBe(keyOf());
      expect(keyOf({ model: 'flash-alias' })).toBe(keyOf({ model: 'deepseek-v4-flash' }));
    });

    it('differs by provider when the upstream model name and base URL are the same', () => {
      const models = modelsConfig({
        'shared-on-deepseek': { provider: 'deepseek', upstreamModel: 'shared-model' },
        'shared-on-openai': { provider: 'openai', upstreamModel: 'shared-model' },
      });
      const sameUrl = stage({ DEEPSEEK_BASE_URL: NOWHERE, OPENAI_BASE_URL: NOWHERE }, models);
      const key = (model: string) => sameUrl.screen(meteredCall({ model })).cacheKey;
      expect(key('shared-on-deepseek')).not.toBe(key('shared-on-openai'));
    });

    it('differs by the base URL of the provider', () => {
      const other = stage({ DEEPSEEK_BASE_URL: 'http://127.0.0.1:10' });
      expect(other.screen(meteredCall()).cacheKey).not.toBe(keyOf());
    });

    it('differs by every parameter and message sent upstream', () => {
      const keys = [
        keyOf(),
        keyOf({ body: { ...base.body, temperature: 0.3 } }),
        keyOf({ body: { ...base.body, max_tokens: 501 } }),
        keyOf({ body: { ...base.body, seed: 7 } }),
        keyOf({ body: { ...base.body, response_format: { type: 'json_object' } } }),
        keyOf({ body: { ...base.body, messages: [{ role: 'user', content: 'Is ETH trending?' }] } }),
        keyOf({
          body: {
            ...base.body,
            messages: [
              { role: 'system', content: 'Be brief.' },
              { role: 'user', content: 'Is BTC trending?' },
            ],
          },
        }),
      ];
      expect(new Set(keys).size).toBe(keys.length);
    });

    it('does not depend on whether the answer is streamed or how much output is reserved', () => {
      expect(keyOf({ stream: true })).toBe(keyOf());
      expect(keyOf({ maxTokens: 4096 })).toBe(keyOf());
    });
  });

  describe('the prompt-token estimate (the budget reservation counts on it being an upper bound)', () => {
    const screen = stage();
    const estimate = (messages: ChatCompletionMessageParam[]): number =>
      screen.screen(meteredCall({ body: { messages } })).promptTokens;
    const system = `You are a trading assistant. ${'Answer in the fixed format with entry, stop and target. '.repeat(30)}`;

    it('is at least what an upstream counting 4 characters a token bills for an English prompt', () => {
      const messages = [
        { role: 'system' as const, content: system },
        { role: 'user' as const, content: 'Analyze BTC/USDT on the 4h chart: RSI 71, ADX 32, price 97,450.' },
      ];
      expect(estimate(messages)).toBeGreaterThanOrEqual(countPromptTokens(messages));
    });

    it("is at least DeepSeek's documented 0.3 token per English character", () => {
      const text = `${system} Analyze BTC/USDT on the 4h chart.`;
      expect(estimate([{ role: 'user', content: text }])).toBeGreaterThanOrEqual(
        Math.ceil(0.3 * text.length),
      );
    });

    it("is at least DeepSeek's documented 0.6 token per Chinese character", () => {
      // DeepSeek's token-usage page: 1 English character ≈ 0.3 token, 1 Chinese character ≈ 0.6 token.
      const text = '请分析比特币四小时图的走势,给出入场价、止损价和目标价,并说明理由。'.repeat(10);
      expect(estimate([{ role: 'user', content: text }])).toBeGreaterThanOrEqual(
        Math.ceil(0.6 * text.length),
      );
    });

    it('grows with the tool definitions the upstream bills as prompt tokens', () => {
      const messages: ChatCompletionMessageParam[] = [{ role: 'user', content: 'Is BTC overbought?' }];
      const tools = Array.from({ length: 5 }, (_, i) => ({
        type: 'function',
        function: {
          name: `get_indicator_${i}`,
          description: 'Returns the value of a technical indicator for a symbol and timeframe. '.repeat(4),
          parameters: {
            type: 'object',
            properties: { symbol: { type: 'string' }, timeframe: { type: 'string' } },
            required: ['symbol', 'timeframe'],
          },
        },
      }));
      const withTools = screen.screen(meteredCall({ body: { messages, tools } })).promptTokens;
      // At 4 characters a token, as for the English prompts above.
      expect(withTools - estimate(messages)).toBeGreaterThanOrEqual(
        Math.ceil(JSON.stringify(tools).length / 4),
      );
    });
  });
});
