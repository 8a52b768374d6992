import { readFileSync } from 'node:fs';
import type { AiGateway } from '../src/ai-optimization/gateway.service.js';
import type { GatewayRequest, GatewayResult } from '../src/ai-optimization/gateway.types.js';
import { PromptStore } from '../src/ai-optimization/prompt-store.js';
import type { CandleSource, Ohlcv } from '../src/market-data/candles/candle-source.js';
import { parseCandleCsv } from '../src/market-data/candles/csv-candle-source.js';
import type { OptimizePortfolioDto } from '../src/agents/portfolio-optimizer/dto.js';
import {
  PORTFOLIO_SYSTEM_PROMPT,
  PortfolioOptimizerService,
} from '../src/agents/portfolio-optimizer/portfolio-optimizer.service.js';
import { AgentAi } from '../src/agents/agent-ai.js';
import { applyAgentSettings, defaultAgentSettings } from '../src/agents/settings/agent-settings.js';
import type { AgentSettingsService } from '../src/agents/settings/agent-settings.service.js';
import { startFakeLlm, type FakeLlm } from './fakes/llm-upstream.js';
import { startTestApp, type TestApp } from './support/app.js';
import { DEEPSEEK_TEST_KEY, providerEnv } from './support/fake-env.js';

/** 200 contiguous real BTC hours of the January 2023 rally (max-Sharpe needs a positive mean). */
const btc = parseCandleCsv(readFileSync('test/fixtures/candles/BTCUSDT_1h.csv', 'utf8'))
  .candles.filter(([ts]) => ts >= Date.parse('2023-01-01T00:00:00Z'))
  .slice(0, 200);

/** Other assets on BTC's timestamps: beta to BTC plus deterministic noise (a seeded LCG), never flaky. */
function synthetic(seed: number, beta: number, noise: number): Ohlcv[] {
  let state = seed;
  const rnd = (): number => ((state = (state * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  let price = 100;
  return btc.map(([ts], i) => {
    const open = price;
    const r = i === 0 ? 0 : btc[i][4] / btc[i - 1][4] - 1;
    price = open * (1 + beta * r + noise * rnd());
    return [ts, open, Math.max(open, price) * 1.001, Math.min(open, price) * 0.999, price, 10];
  });
}
const alt = synthetic(1, 1.4, 0.01);
const gold = synthetic(2, 0.05, 0.002);

const INSIGHTS = {
  insights: ['Gold anchors the portfolio'],
  warnings: ['ALT moves with BTC'],
  recommendations: ['Sell BTC down to the target'],
};

const URL = '/agents/portfolio-optimizer/optimize';

describe('POST /agents/portfolio-optimizer/optimize', () => {
  let deepseek: FakeLlm;
  let bastion: TestApp;

  beforeAll(async () => {
    deepseek = await startFakeLlm({
      personality: 'deepseek',
      apiKey: DEEPSEEK_TEST_KEY,
      // The aggressive review gets garbage: the answer must fall back to the rule-based insights.
      reply: (req) =>
        JSON.stringify(req.messages).includes('aggressive crypto portfolio')
          ? 'Sure! Here are my thoughts: {insights: maybe}'
          : JSON.stringify(INSIGHTS),
    });
    // Caps per risk level (0.35, 0.40, 0.50): the three-asset portfolios below are feasible for every level.
    bastion = await startTestApp({
      env: { ...providerEnv({ deepseek }), AGENTS_CONFIG_PATH: 'test/fixtures/agents.caps-by-level.yaml' },
    });
  });
  afterAll(async () => {
    await bastion.close();
    await deepseek.close();
  });

  const body = (over: Record<string, unknown> = {}) => ({
    user_id: 7,
    risk_level: 'conservative',
    include_ai_insights: true,
    positions: [
      { symbol: 'BTC', value_usd: 9000 },
      { symbol: 'ALT', value_usd: 500 },
      { symbol: 'GOLD', value_usd: 500 },
    ],
    candles: { BTC: btc, ALT: alt, GOLD: gold },
    timeframe: '1h',
    ...over,
  });
  const optimize = (over: Record<string, unknown> = {}) => bastion.request('POST', URL, body(over));

  it('answers weights, current weights, trades and metrics, with the model insights validated', async () => {
    const before = deepseek.calls.length;
    const res = await optimize();
    expect(res.status).toBe(200);
    const target = res.body.target_weights as Record<string, number>;
    expect(Object.keys(target).sort()).toEqual(['ALT', 'BTC', 'GOLD']);
    expect(Math.abs(Object.values(target).reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-9);
    expect(Math.max(...Object.values(target))).toBeLessThanOrEqual(0.35);
    expect(res.body.current_weights).toEqual({ BTC: 0.9, ALT: 0.05, GOLD: 0.05 });
    expect(res.body).toMatchObject({
      user_id: 7,
      risk_level: 'conservative',
      method: 'min_variance',
      max_position_size: 0.35,
      rebalance_needed: true,
      rebalance_threshold: 0.1,
      total_value_usd: 10_000,
      source: 'request',
      data: { periods_per_year: 8760, return_type: 'simple', aligned_candles: 200, returns_used: 199 },
      covariance: { estimator: 'ledoit_wolf_constant_correlation' },
      ai_enhanced: true,
      ai_reason: 'called',
      ai_insights: INSIGHTS.insights,
      ai_warnings: INSIGHTS.warnings,
      ai_recommendations: INSIGHTS.recommendations,
    });
    for (const key of ['portfolio_sharpe', 'expected_volatility', 'max_drawdown', 'drawdown_limit']) {
      expect(typeof res.body[key]).toBe('number');
    }
    const btcTrade = res.body.trades.find((t: { symbol: string }) => t.symbol === 'BTC');
    expect(btcTrade).toMatchObject({ action: 'sell' });
    expect(btcTrade.value_usd).toBeCloseTo((0.9 - target.BTC) * 10_000, 2);
    expect(btcTrade.weight_change).toBeCloseTo(target.BTC - 0.9, 12);
    // The drawdown check is deterministic, whatever the model says.
    expect(res.body.drawdown_limit).toBe(0.15);
    expect(res.body.drawdown_exceeded).toBe(res.body.max_drawdown > 0.15);

    // One upstream call in JSON mode, the static versioned system prompt first, the portfolio after it.
    expect(deepseek.calls.length).toBe(before + 1);
    const sent = deepseek.calls[deepseek.calls.length - 1].body;
    expect(sent.response_format).toEqual({ type: 'json_object' });
    expect(sent.messages[0]).toEqual({ role: 'system', content: PORTFOLIO_SYSTEM_PROMPT });
    expect(JSON.stringify(sent.messages[1])).toMatch(/conservative crypto portfolio/);
    expect(String(sent.messages[1].content)).toContain(
      '"weights":{"current":{"ALT":0.05,"BTC":0.9,"GOLD":0.05}',
    );
  });

  it('falls back to rule-based insights when the model answers garbage', async () => {
    const res = await optimize({ user_id: 8, risk_level: 'aggressive' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ method: 'max_sharpe', ai_enhanced: false, ai_reason: 'invalid_answer' });
    expect(res.body.ai_detail).toMatch(/not JSON/);
    expect(res.body.ai_insights[0]).toMatch(/Capped maximum-Sharpe allocation for the aggressive profile/);
    expect(res.body.ai_recommendations[0]).toMatch(
      /^Rebalance: \w+ is \d+\.\d% away from its target; 3 trade\(s\)/,
    );
    expect(Math.max(...Object.values<number>(res.body.target_weights))).toBeLessThanOrEqual(0.5);
  });

  it('falls back to rule-based insights when the provider fails', async () => {
    deepseek.inject({ kind: 'status', status: 400, times: 1 });
    const res = await optimize({ user_id: 11 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ai_enhanced: false, ai_reason: 'error', method: 'min_variance' });
    expect(res.body.ai_detail).toMatch(/model unavailable: .*400/);
    expect(res.body.ai_insights[0]).toMatch(/Capped minimum-variance allocation/);
  });

  it('gives conservative and aggressive different portfolios', async () => {
    const [c, a] = await Promise.all([
      optimize({ user_id: 9, include_ai_insights: false }),
      optimize({ user_id: 9, include_ai_insights: false, risk_level: 'aggressive' }),
    ]);
    const diff = Math.max(
      ...['BTC', 'ALT', 'GOLD'].map((s) => Math.abs(c.body.target_weights[s] - a.body.target_weights[s])),
    );
    expect(diff).toBeGreaterThan(0.05);
    expect(c.body).toMatchObject({ ai_enhanced: false, ai_reason: 'not_requested', ai_cost_usd: null });
    expect(c.body.ai_insights.length).toBeGreaterThan(0);
  });

  it("reuses the same user's previous review when sampled out (PERIODIC, per user), with no new call", async () => {
    const before = deepseek.calls.length;
    const res = await optimize({
      positions: [
        { symbol: 'BTC', value_usd: 3000 },
        { symbol: 'ALT', value_usd: 3000 },
        { symbol: 'GOLD', value_usd: 4000 },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      ai_enhanced: true,
      ai_reason: 'sampled_out',
      ai_insights: INSIGHTS.insights,
    });
    expect(res.body.ai_detail).toMatch(/previous review of this user's portfolio/);
    expect(deepseek.calls.length).toBe(before);
  });

  it('answers bad input with a 400 naming the problem', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ risk_level: 'yolo' }, /risk_level must be one of conservative, moderate, aggressive/],
      [
        {
          positions: [
            { symbol: 'BTC', value_usd: -1 },
            { symbol: 'ALT', value_usd: 1 },
            { symbol: 'GOLD', value_usd: 1 },
          ],
        },
        /positions\.0\.value_usd must not be negative/,
      ],
      [
        { candles: { BTC: btc.slice(0, 10), ALT: alt.slice(0, 10), GOLD: gold.slice(0, 10) } },
        /at least 30 aligned candles .* got 10/,
      ],
      [
        { candles: { BTC: btc.map((r, i) => (i === 5 ? [r[0], 1, 1, 2, 1, 1] : r)), ALT: alt, GOLD: gold } },
        /candles\.BTC is malformed: row 5: high 1 < low 2/,
      ],
      [{ candles: { BTC: btc, ALT: alt } }, /candles missing for GOLD/],
      [
        { candles: { BTC: btc, ALT: alt, GOLD: 'x' } },
        /candles\.GOLD is malformed: candles must be an array/,
      ],
      [
        {
          positions: [
            { symbol: 'BTC', value_usd: 1 },
            { symbol: 'ALT', value_usd: 1 },
          ],
          candles: { BTC: btc, ALT: alt },
        },
        /infeasible max_position_size: 2 asset\(s\) capped at 0\.35.*at least 3 assets/,
      ],
      [
        { positions: Array.from({ length: 21 }, (_, i) => ({ symbol: `A${i}`, value_usd: 1 })) },
        /positions may hold at most 20 assets/,
      ],
      [
        {
          positions: [
            { symbol: 'BTC', value_usd: 1 },
            { symbol: 'btc/usdt', value_usd: 1 },
          ],
        },
        /BTC\/USDT appears more than once/i,
      ],
      [{ timeframe: '4h' }, /span exactly one 4h bar/],
      [{ rebalance_threshold: 2 }, /rebalance_threshold must be between 0 and 1/],
    ];
    for (const [over, message] of cases) {
      const res = await optimize({ include_ai_insights: false, ...over });
      expect({ over: Object.keys(over), status: res.status }).toEqual({
        over: Object.keys(over),
        status: 400,
      });
      expect(JSON.stringify(res.body.message)).toMatch(message);
    }
  });
});

/** The service alone, with fakes: the exchange path (no network in tests) and the gateway failure paths. */
describe('PortfolioOptimizerService with fake candle source and gateway', () => {
  const prompts = { register: () => Promise.resolve(), get: () => undefined } as unknown as PromptStore;
  const fetched: string[] = [];
  const source: CandleSource = {
    name: 'fake',
    fetch: (symbol, timeframe) => {
      fetched.push(`${symbol}:${timeframe}`);
      const base = symbol.startsWith('BTC') ? btc : symbol.startsWith('ALT') ? alt : gold;
      return Promise.resolve({
        symbol,
        timeframe,
        candles: base,
        lastCandleForming: true,
        gaps: [],
        dropped: [],
        suspectBars: [],
        source: 'fake:exchange',
      });
    },
  };
  // The caps per level of test/fixtures/agents.caps-by-level.yaml: three assets are feasible for every level.
  const capsByLevel = applyAgentSettings('portfolio_optimizer', defaultAgentSettings().portfolio_optimizer, {
    max_position_size: 0.5,
    risk_levels: {
      conservative: { max_position_size: 0.35 },
      moderate: { max_position_size: 0.4 },
      aggressive: { max_position_size: 0.5 },
    },
  }).settings;
  const settings = { get: () => Promise.resolve(capsByLevel) } as unknown as AgentSettingsService;
  const service = (call: (r: GatewayRequest) => Promise<GatewayResult>) =>
    new PortfolioOptimizerService(new AgentAi({ call } as unknown as AiGateway), prompts, source, settings);
  const answer = (reason: GatewayResult['metadata']['reason'], response: string | null): GatewayResult => ({
    response,
    metadata: {
      ai_called: reason === 'called',
      cache_hit: false,
      reason,
      model: 'deepseek-v4-flash',
      provider: 'deepseek',
      prompt_tokens: 0,
      cached_prompt_tokens: 0,
      completion_tokens: 0,
      cost_usd: 0,
      saved_usd: 0,
      latency_ms: 1,
      request_id: 'r',
      message: `decided: ${reason}`,
    },
  });
  const dto = (over: Partial<OptimizePortfolioDto> = {}): OptimizePortfolioDto => ({
    user_id: 1,
    risk_level: 'moderate',
    include_ai_insights: true,
    positions: [{ symbol: 'BTC', value_usd: 1000 }],
    symbols: ['ALT', 'GOLD/USDT'],
    ...over,
  });

  it('fetches candles for every asset when none are given, without the forming bar', async () => {
    const requests: GatewayRequest[] = [];
    const gateway = (r: GatewayRequest) => {
      requests.push(r);
      return Promise.resolve(answer('called', JSON.stringify(INSIGHTS)));
    };
    const res = await service(gateway).optimize(dto());
    expect(fetched).toEqual(['BTC/USDT:1h', 'ALT/USDT:1h', 'GOLD/USDT:1h']);
    expect(res.source).toBe('fake:exchange');
    expect(res.data.aligned_candles).toBe(btc.length - 1);
    expect(Object.keys(res.target_weights)).toEqual(['BTC', 'ALT', 'GOLD/USDT']);
    expect(res.current_weights).toEqual({ BTC: 1, ALT: 0, 'GOLD/USDT': 0 });
    expect(res.ai_enhanced).toBe(true);
    const [request] = requests;
    expect(request).toMatchObject({
      agentType: 'portfolio_optimizer',
      responseType: 'portfolio_insights',
      symbol: 'user-1',
      json: true,
      maxTokens: 400,
      temperature: 0,
      cache: true,
      systemPrompt: PORTFOLIO_SYSTEM_PROMPT,
    });
    expect(Object.keys(request.context ?? {})).toEqual(['weights', 'metrics']);
  });

  it.each([
    [
      'the provider is down',
      () => Promise.reject(new Error('all providers failed')),
      'error',
      /model unavailable/,
    ],
    [
      'sampled out with no previous answer',
      () => Promise.resolve(answer('sampled_out', null)),
      'sampled_out',
      /decided/,
    ],
    [
      'over budget',
      () => Promise.resolve(answer('budget_exceeded', '{"insights":[]}')),
      'budget_exceeded',
      /decided/,
    ],
    [
      'too many items',
      () =>
        Promise.resolve(
          answer('called', JSON.stringify({ ...INSIGHTS, warnings: ['a', 'b', 'c', 'd', 'e', 'f'] })),
        ),
      'invalid_answer',
      /"warnings" has 6 items/,
    ],
    [
      'an item too long',
      () => Promise.resolve(answer('called', JSON.stringify({ ...INSIGHTS, insights: ['x'.repeat(301)] }))),
      'invalid_answer',
      /longer than 300/,
    ],
    [
      'a missing list',
      () => Promise.resolve(answer('called', '{"insights":["a"],"warnings":[]}')),
      'invalid_answer',
      /"recommendations" is not an array/,
    ],
  ])('uses rule-based insights when %s', async (_case, call, reason, detail) => {
    const res = await service(call).optimize(dto());
    expect(res).toMatchObject({ ai_enhanced: false, ai_reason: reason });
    expect(res.ai_detail).toMatch(detail);
    expect(res.ai_insights[0]).toMatch(/risk parity/);
    expect(res.ai_recommendations.length).toBeGreaterThan(0);
  });
});
