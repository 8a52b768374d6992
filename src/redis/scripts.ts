/**
 * Lua scripts for operations that must be atomic across every Bastion instance sharing one Redis.
 * Money is counted in integer picodollars (1e-12 USD) so sums are exact.
 */

/**
 * Budget reservation. KEYS: spend counters. ARGV[1]: amount (pico), ARGV[2]: ttl seconds,
 * ARGV[3..]: the limit of each key in pico, or -1 for none.
 * Refuses (returns the 1-based index of the first counter that would go over) or adds the amount to
 * every counter and returns 0. Because the check and the add are one step, N concurrent callers can
 * never all pass the same check: a hard budget is overshot by at most one reservation's error.
 */
export const RESERVE_BUDGET = `
local amount = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[i + 2])
  if limit >= 0 then
    local spent = tonumber(redis.call('GET', key) or '0')
    if spent + amount > limit then
      return i
    end
  end
end
for _, key in ipairs(KEYS) do
  redis.call('INCRBY', key, amount)
  redis.call('EXPIRE', key, ttl)
end
return 0
`;

/** Settle a reservation: add ARGV[1] (may be negative) to every counter, keeping the TTL of ARGV[2]. */
export const ADJUST_COUNTERS = `
local delta = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
for _, key in ipairs(KEYS) do
  redis.call('INCRBY', key, delta)
  redis.call('EXPIRE', key, ttl)
end
return 0
`;

/** Release a lease only if we still hold it. KEYS[1]: lease, ARGV[1]: holder token. */
export const RELEASE_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;
