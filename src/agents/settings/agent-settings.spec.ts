import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAgentsConfig } from '../../config/yaml-config.js';
import {
  applyAgentSettings,
  defaultAgentSettings,
  DEFAULT_AGENT_SETTINGS,
  levelCap,
  settingsFromFile,
} from './agent-settings.js';

const yamlFile = (text: string): string => {
  const path = join(mkdtempSync(join(tmpdir(), 'bastion-agents-')), 'agents.yaml');
  writeFileSync(path, text);
  return path;
};

describe('agent settings', () => {
  it('the shipped config/agents.yaml gives the defaults, with the guide’s 0.3 position cap', () => {
    const settings = settingsFromFile(loadAgentsConfig('config/agents.yaml'));
    expect(settings).toEqual(DEFAULT_AGENT_SETTINGS);
    expect(settings.portfolio_optimizer.max_position_size).toBe(0.3);
    expect(settings.anomaly_detector.check_interval_seconds).toBe(60);
  });

  it('applies a partial nested patch and leaves everything else as it was', () => {
    const current = defaultAgentSettings().anomaly_detector;
    const { settings, problems } = applyAgentSettings('anomaly_detector', current, {
      anomaly_thresholds: { latency_ms: 2000 },
      check_interval_seconds: 2,
    });
    expect(problems).toEqual([]);
    expect(settings.anomaly_thresholds).toEqual({ ...current.anomaly_thresholds, latency_ms: 2000 });
    expect(settings.check_interval_seconds).toBe(2);
    expect(settings.severity_scales).toEqual(current.severity_scales);
    expect(current.anomaly_thresholds.latency_ms).toBe(5000); // the input is not mutated
  });

  it('names every problem with its path and changes nothing when one is wrong', () => {
    const current = defaultAgentSettings().portfolio_optimizer;
    const { settings, problems } = applyAgentSettings('portfolio_optimizer', current, {
      max_position_size: 1.5,
      rebalance_threshold: 'often',
      risk_levels: { moderate: { method: 'yolo', max_drawdown: 0 }, reckless: {} },
      lookback_bars: 10.5,
      maxPositionSize: 0.2,
    });
    expect(problems).toEqual([
      'portfolio_optimizer.max_position_size must be a number greater than 0 and at most 1, got 1.5',
      'portfolio_optimizer.rebalance_threshold must be a number at least 0 and at most 1, got "often"',
      'portfolio_optimizer.risk_levels.moderate.method must be one of min_variance, risk_parity, max_sharpe, got "yolo"',
      'portfolio_optimizer.risk_levels.moderate.max_drawdown must be a number greater than 0 and at most 1, got 0',
      'portfolio_optimizer.risk_levels.reckless is not a setting (known: conservative, moderate, aggressive)',
      'portfolio_optimizer.lookback_bars must be an integer at least 30 and at most 2000, got 10.5',
      'portfolio_optimizer.maxPositionSize is not a setting (known: max_position_size, rebalance_threshold, risk_levels, min_aligned_candles, lookback_bars, timeframe)',
    ]);
    expect(settings).toEqual(current);
  });

  it('refuses __proto__ and constructor keys as unknown settings, without touching any prototype', () => {
    const patch = JSON.parse(
      '{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}',
    ) as unknown;
    const { problems } = applyAgentSettings(
      'signal_validator',
      defaultAgentSettings().signal_validator,
      patch,
    );
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^signal_validator\.__proto__ is not a setting/);
    expect(problems[1]).toMatch(/^signal_validator\.constructor is not a setting/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('accepts the guide’s market_hours as the exchange-outage rule and checks relations between settings', () => {
    const v = defaultAgentSettings().signal_validator;
    const ok = applyAgentSettings('signal_validator', v, {
      critical_rules: ['market_hours', 'leverage_cap'],
    });
    expect(ok.problems).toEqual([]);
    expect(ok.settings.critical_rules).toEqual(['exchange_outage', 'leverage_cap']);
    const bad = applyAgentSettings('signal_validator', v, {
      critical_rules: ['weekend_rule'],
      min_passed_rules: 17,
    });
    expect(bad.problems[0]).toMatch(
      /critical_rules\.0 must be one of price_sanity, .*market_hours, got "weekend_rule"/,
    );
    expect(bad.problems[1]).toBe(
      'signal_validator.min_passed_rules must be an integer at least 1 and at most 16, got 17',
    );
    expect(applyAgentSettings('signal_validator', v, { min_stop_atr: 4 }).problems).toEqual([
      'signal_validator.min_stop_atr must not exceed max_stop_atr (3)',
    ]);
    const regime = defaultAgentSettings().market_regime;
    expect(
      applyAgentSettings('market_regime', regime, { thresholds: { adx_trend_exit: 30 } }).problems,
    ).toEqual(['market_regime.thresholds.adx_trend_exit must not exceed adx_trend_enter (25)']);
  });

  it('caps a risk level at its own cap when tighter, never above the agent’s max_position_size', () => {
    const p = applyAgentSettings('portfolio_optimizer', defaultAgentSettings().portfolio_optimizer, {
      max_position_size: 0.2,
      risk_levels: { conservative: { max_position_size: 0.15 }, aggressive: { max_position_size: 0.5 } },
    }).settings;
    expect(levelCap(p, 'conservative')).toBe(0.15);
    expect(levelCap(p, 'moderate')).toBe(0.2);
    expect(levelCap(p, 'aggressive')).toBe(0.2);
  });

  it('validates config/agents.yaml at boot with one line per problem', () => {
    const path = yamlFile(
      [
        'agents:',
        '  anomaly_detector:',
        '    check_interval_seconds: 0',
        '    anomaly_thresholds: { latency_ms: -5, heartbeat: 3 }',
        '  portfolio_optimizer:',
        '    max_position_size: 0.2',
        '  bastion_query:',
        '    min_passed_rules: 3',
      ].join('\n'),
    );
    expect(() => settingsFromFile(loadAgentsConfig(path))).toThrow(
      [
        `Invalid ${path}:`,
        '  - agents.anomaly_detector.check_interval_seconds must be an integer at least 1 and at most 86400, got 0',
        '  - agents.anomaly_detector.anomaly_thresholds.latency_ms must be a number greater than 0 and at most 3600000, got -5',
        '  - agents.anomaly_detector.anomaly_thresholds.heartbeat is not a setting (known: latency_ms, error_rate_percent, loss_streak, drawdown_usd, drawdown_percent, heartbeat_missed_intervals, default_heartbeat_interval_seconds, drift_z, min_orders, min_attempts, drift_recent, drift_min_baseline)',
        '  - agents.bastion_query.min_passed_rules is not a setting (bastion_query has only enable_ai, model, sampling_strategy, sampling_config)',
      ].join('\n'),
    );
    const ok = settingsFromFile(
      loadAgentsConfig(yamlFile('agents:\n  portfolio_optimizer:\n    max_position_size: 0.2\n')),
    );
    expect(ok.portfolio_optimizer.max_position_size).toBe(0.2);
    expect(ok.signal_validator).toEqual(DEFAULT_AGENT_SETTINGS.signal_validator);
  });
});
