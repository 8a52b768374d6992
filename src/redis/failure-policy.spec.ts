import { readFileSync } from 'node:fs';
import { FAILURE_POLICIES, failurePolicyTable } from './failure-policy.js';

/** The rows of the first table under a README heading, as trimmed cells. */
function tableUnder(readme: string, heading: string): string[][] {
  const section = readme.slice(readme.indexOf(heading));
  const lines = section.split('\n');
  const start = lines.findIndex((l) => l.startsWith('| operation'));
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  }
  return rows;
}

describe('the store failure policies', () => {
  it('are listed in the README exactly as the code applies them', () => {
    const readme = readFileSync('README.md', 'utf8');
    const expected = tableUnder(failurePolicyTable(), '| operation');
    expect(tableUnder(readme, '## Budgets and Redis outages')).toEqual(expected);
    expect(expected).toHaveLength(Object.keys(FAILURE_POLICIES).length);
  });
});
