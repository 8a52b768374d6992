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

/**
 * Claim an interval: succeeds (1) when the last claim is at least ARGV[2] ms before ARGV[1] (now, ms),
 * recording now as the new last claim. KEYS[1]: the claim key. Used by the event gate (min_ai_interval)
 * and the PERIODIC/ADAPTIVE sampling strategies, so N instances make one call per interval, not N.
 */
export const CLAIM_INTERVAL = `
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
if last >= 0 and now - last < interval then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', interval + 86400000)
return 1
`;

/**
 * Queue a LOW event in its agent's open batch, opening one if needed.
 * KEYS[1]: open-batch pointer of the agent, KEYS[2]: due index (zset). ARGV: new batch id, event JSON,
 * now (ms), batch size, batch key prefix, agent. Returns {batch id, position, full (0/1)}.
 */
export const ENQUEUE_EVENT = `
local id = redis.call('GET', KEYS[1])
local prefix = ARGV[5]
if not id then
  id = ARGV[1]
  redis.call('SET', KEYS[1], id)
  redis.call('HSET', prefix .. id, 'id', id, 'agent', ARGV[6], 'status', 'open', 'created_at', ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[3], id)
end
local position = redis.call('RPUSH', prefix .. id .. ':events', ARGV[2])
local full = 0
if position >= tonumber(ARGV[4]) then
  full = 1
  redis.call('HSET', prefix .. id, 'status', 'full')
  redis.call('DEL', KEYS[1])
  redis.call('ZADD', KEYS[2], 0, id)
end
return {id, position, full}
`;

/**
 * Claim a batch for flushing under a lease. KEYS[1]: batch hash, KEYS[2]: its events list,
 * KEYS[3]: the open-batch pointer of its agent. ARGV: batch id, now (ms), lease (ms), holder token.
 * A batch that is done, or held by someone whose lease has not expired, is not claimed (returns false).
 * Claiming closes the batch to new events. Returns the events.
 */
export const CLAIM_BATCH = `
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'done' then return false end
local now = tonumber(ARGV[2])
if status == 'flushing' then
  local lease = tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0')
  if lease > now then return false end
end
redis.call('HSET', KEYS[1], 'status', 'flushing', 'lease_until', now + tonumber(ARGV[3]), 'holder', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
return redis.call('LRANGE', KEYS[2], 0, -1)
`;

/**
 * Store a batch's answer, only if the caller still holds it: an answer is written exactly once.
 * KEYS[1]: batch hash, KEYS[2]: due index. ARGV: batch id, holder token, answer JSON, now (ms).
 */
export const COMPLETE_BATCH = `
if redis.call('HGET', KEYS[1], 'status') ~= 'flushing' or redis.call('HGET', KEYS[1], 'holder') ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'done', 'answer', ARGV[3], 'answered_at', ARGV[4])
redis.call('HDEL', KEYS[1], 'lease_until', 'holder')
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`;

/** Give a claimed batch back after a failed flush, to be retried at ARGV[3] (ms). KEYS as COMPLETE_BATCH. */
export const RELEASE_BATCH = `
if redis.call('HGET', KEYS[1], 'holder') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'status', 'full', 'lease_until', '0', 'last_error', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
`;
