import { loadAppConfig } from './app-config.js';
import { toNamespaces } from './namespaces.js';

describe('toNamespaces', () => {
  it('puts every validated value in exactly one namespace, as a nested object', () => {
    const config = loadAppConfig({
      API_KEYS: 'desk-a:k1',
      DEEPSEEK_API_KEY: 'ds',
      DAILY_BUDGET_USD: '12',
      SLACK_WEBHOOK_URL: 'https://hooks.example/x',
      HELSINKI_VM_URL: 'http://10.0.0.2:8080',
    });
    const namespaces = toNamespaces(config);
    const fields = Object.values(namespaces).flatMap((ns) => Object.keys(ns));
    expect(fields.sort()).toEqual(Object.keys(config).sort());
    expect(Object.assign({}, ...Object.values(namespaces))).toEqual(config);
    expect(namespaces.budgets.dailyBudgetUsd).toBe(12);
    expect(namespaces.auth.apiKeys).toEqual([{ key: 'k1', tenant: 'desk-a' }]);
    // ConfigModule copies top-level strings and numbers into process.env; namespaces are objects only.
    expect(Object.values(namespaces).every((ns) => typeof ns === 'object' && ns !== null)).toBe(true);
  });
});
