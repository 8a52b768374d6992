/**
 * Lua scripts for operations that must be atomic across every Bastion instance sharing one Redis.
 * Money is counted in integer picodollars (1e-12 USD) so sums are exact.
 */

/**
 * Everything the gateway reads or claims before an upstream call, in one round trip and one atomic step.
 *
 * One ARGV layout serves the three forms below: 1 settings version the caller planned with, 2 read the cache
 * (1/0), 3 event interval ms (-1: none), 4 now ms, 5 sampling mode (none | deny | interval | change),
 * 6 sampling interval ms or change threshold, 7 reservation amount in picodollars ('' = no reservation),
 * 8 counter TTL seconds, 9 marker TTL seconds, 10 return the last answer on "go" (1/0), 11 in-flight token
 * ('' = no coalescing across instances), 12 in-flight lease ms, 13 number of features N, 14.. N feature
 * name/value pairs, then one limit per budget counter (pico, -1 = none).
 *
 * Steps, each ending the script when it decides: the caller's settings are stale → {"stale"}; a cached
 * answer → {"hit", answer}; an identical call is in flight on some instance → {"wait"}; inside the event
 * interval → {"filtered", last}; the sampler skips → {"sampled", last, change}; a hard budget would be
 * exceeded → {"refused", last, counter index}; otherwise the reservation is added to every counter (check and
 * add in one step, so N concurrent callers never all pass the same check), its negated amount kept under the
 * marker for the settle, the call marked in flight → {"go", last or "", change}. Numbers go back as strings
 * (Redis truncates Lua numbers to integers).
 *
 * On one Redis it is one script (PRECALL). On a Cluster the conversation's keys and the budget counters sit in
 * two slots, so it runs as PRECALL_CLAIMS (the conversation's slot) then, if that says "go",
 * PRECALL_RESERVE (the counters' slot).
 */
const precallSteps = (
  k: Record<string, number | string>,
  parts: { version: boolean; claims: boolean; reserve: boolean },
) => `
local now = tonumber(ARGV[4])
local n = tonumber(ARGV[13])
local change = ''
local function last()
  ${parts.claims ? `return redis.call('GET', KEYS[${k.last}]) or ''` : `return ''`}
end
${
  parts.version
    ? `local version = redis.call('GET', KEYS[${k.version}]) or ''
if version ~= ARGV[1] then return {'stale', version} end`
    : ''
}
${
  parts.claims
    ? `if ARGV[2] == '1' then
  local hit = redis.call('GET', KEYS[${k.cache}])
  if hit then return {'hit', hit} end
end
if ARGV[11] ~= '' then
  local holder = redis.call('GET', KEYS[${k.inflight}])
  if holder and holder ~= ARGV[11] then return {'wait'} end
end
local interval = tonumber(ARGV[3])
if interval >= 0 then
  local prev = tonumber(redis.call('GET', KEYS[${k.interval}]) or '-1')
  if prev >= 0 and now - prev < interval then return {'filtered', last()} end
  redis.call('SET', KEYS[${k.interval}], ARGV[4], 'PX', interval + 86400000)
end
local mode = ARGV[5]
if mode == 'deny' then
  return {'sampled', last(), ''}
elseif mode == 'interval' then
  local ms = tonumber(ARGV[6])
  local prev = tonumber(redis.call('GET', KEYS[${k.sampling}]) or '-1')
  if prev >= 0 and now - prev < ms then return {'sampled', last(), ''} end
  redis.call('SET', KEYS[${k.sampling}], ARGV[4], 'PX', ms + 86400000)
elseif mode == 'change' then
  local stored = redis.call('HGETALL', KEYS[${k.sampling}])
  if #stored == 0 then
    change = 'first'
  else
    local before = {}
    for i = 1, #stored, 2 do before[stored[i]] = tonumber(stored[i + 1]) end
    local largest = 0
    for i = 0, n - 1 do
      local value = tonumber(ARGV[15 + 2 * i])
      local b = before[ARGV[14 + 2 * i]]
      local c
      if b == nil then c = math.huge
      elseif b == 0 then if value == 0 then c = 0 else c = math.huge end
      else c = math.abs(value - b) / math.abs(b) end
      if c > largest then largest = c end
    end
    if largest == math.huge then change = 'inf' else change = tostring(largest) end
    if largest < tonumber(ARGV[6]) then return {'sampled', last(), change} end
  end
  redis.call('DEL', KEYS[${k.sampling}])
  for i = 0, n - 1 do redis.call('HSET', KEYS[${k.sampling}], ARGV[14 + 2 * i], ARGV[15 + 2 * i]) end
  redis.call('HSET', KEYS[${k.sampling}], '__at', ARGV[4])
  redis.call('EXPIRE', KEYS[${k.sampling}], 604800)
end`
    : ''
}
${
  parts.reserve
    ? `if ARGV[7] ~= '' then
  local amount = tonumber(ARGV[7])
  local limits = 14 + 2 * n
  for i = ${k.counters}, #KEYS do
    local limit = tonumber(ARGV[limits + i - ${k.counters}])
    if limit >= 0 and tonumber(redis.call('GET', KEYS[i]) or '0') + amount > limit then
      return {'refused', last(), tostring(i - ${k.counters} + 1)}
    end
  end
  for i = ${k.counters}, #KEYS do
    redis.call('INCRBY', KEYS[i], ARGV[7])
    redis.call('EXPIRE', KEYS[i], ARGV[8])
  end
  if amount == 0 then
    redis.call('SET', KEYS[${k.marker}], '0', 'EX', ARGV[9])
  else
    redis.call('SET', KEYS[${k.marker}], '-' .. ARGV[7], 'EX', ARGV[9])
  end
end`
    : ''
}
${parts.claims ? `if ARGV[11] ~= '' then redis.call('SET', KEYS[${k.inflight}], ARGV[11], 'PX', ARGV[12]) end` : ''}
if ARGV[10] == '1' then return {'go', last(), change} end
return {'go', '', change}
`;

/** KEYS: 1 settings version, 2 cache entry, 3 last answer, 4 interval claim, 5 sampling claim, 6 in-flight
 * marker, 7 reservation marker, 8.. budget counters. */
export const PRECALL = precallSteps(
  { version: 1, cache: 2, last: 3, interval: 4, sampling: 5, inflight: 6, marker: 7, counters: 8 },
  { version: true, claims: true, reserve: true },
);

/** KEYS: 1 cache entry, 2 last answer, 3 interval claim, 4 sampling claim, 5 in-flight marker. */
export const PRECALL_CLAIMS = precallSteps(
  { cache: 1, last: 2, interval: 3, sampling: 4, inflight: 5 },
  { version: false, claims: true, reserve: false },
);

/** KEYS: 1 reservation marker, 2.. budget counters. */
export const PRECALL_RESERVE = precallSteps(
  { marker: 1, counters: 2 },
  { version: false, claims: false, reserve: true },
);

/**
 * Takes back the claims of a pre-call step that Bastion gave up waiting for (Redis was slow) and answered
 * without a call: when Redis runs it late, its interval and sampling claims would otherwise silence the next
 * requests. A claim is taken back only if it is still this request's (its time), never a later one's; the
 * features of a CHANGE_BASED claim are dropped, so the next request calls as a first one.
 * KEYS: 1 event-gate interval claim, 2 sampling interval claim, 3 sampling features. ARGV: 1 the request's time.
 */
export const UNCLAIM = `
for i = 1, 2 do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
if redis.call('HGET', KEYS[3], '__at') == ARGV[1] then redis.call('DEL', KEYS[3]) end
return 1
`;

/**
 * Per-key rate limits (requests and tokens per minute) by GCRA, both checked and taken in one step, so N
 * instances enforce one limit. A limit of L per 60 s lets a burst of L through, then one every 60/L s.
 * KEYS: 1 requests TAT (theoretical arrival time), 2 tokens TAT. ARGV: 1 now (ms), 2 rpm (-1: none),
 * 3 tpm (-1: none), 4 tokens this request counts.
 * Returns {allowed (1/0), refused limit ('requests' | 'tokens' | ''), retry after ms, remaining requests,
 * requests reset ms, remaining tokens, tokens reset ms} (numbers as strings).
 */
export const RATE_LIMIT = `
local now = tonumber(ARGV[1])
local period = 60000
local function plan(key, limit, cost)
  if limit < 0 then return nil end
  local interval = period / limit
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local new = tat + interval * cost
  return {key = key, new = new, ok = (new - now) <= period, interval = interval, tat = tat}
end
local req = plan(KEYS[1], tonumber(ARGV[2]), 1)
local tok = plan(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
local refused = ''
local retry = 0
if req and not req.ok then refused = 'requests'; retry = req.new - period - now end
if refused == '' and tok and not tok.ok then refused = 'tokens'; retry = tok.new - period - now end
local function state(p, taken)
  if not p then return '-1', '0' end
  local at = p.tat
  if taken then at = p.new end
  return tostring(math.floor((period - (at - now)) / p.interval)), tostring(math.ceil(at - now))
end
local taken = refused == ''
if taken then
  if req then redis.call('SET', req.key, tostring(req.new), 'PX', math.ceil(req.new - now) + 1000) end
  if tok then redis.call('SET', tok.key, tostring(tok.new), 'PX', math.ceil(tok.new - now) + 1000) end
end
local rr, rreset = state(req, taken)
local tr, treset = state(tok, taken)
return {taken and '1' or '0', refused, tostring(math.ceil(retry)), rr, rreset, tr, treset}
`;

/**
 * Settles one call against the budget counters, idempotently (it may be retried after a timeout).
 * KEYS: 1 the call's reservation marker, 2.. its budget counters. ARGV: 1 the real cost in picodollars, or
 * "keep" when it is unknown (the reservation, an upper bound, stays); 2 counter TTL; 3 marker TTL.
 * The marker holds the negated reservation, "settled" once done, or nothing when no reservation was made
 * (Redis was unreachable before the call): then the whole cost is charged, so counters end equal to the ledger.
 */
export const SETTLE = `
local reserved = redis.call('GET', KEYS[1])
if reserved == 'settled' then return 0 end
if ARGV[1] ~= 'keep' then
  for i = 2, #KEYS do
    redis.call('INCRBY', KEYS[i], ARGV[1])
    if reserved then redis.call('INCRBY', KEYS[i], reserved) end
    redis.call('EXPIRE', KEYS[i], ARGV[2])
  end
end
redis.call('SET', KEYS[1], 'settled', 'EX', ARGV[3])
return 1
`;

/**
 * Writes one ledger batch once: KEYS[1] marks the batch as written (a retry after a timeout finds it and
 * does nothing), KEYS[2] is the call stream, KEYS[3..] the hashes and sets the batch touches.
 * ARGV: 1 marker TTL seconds, 2 stream MAXLEN, then operations: "h", key index, field, increment |
 * "s", key index, member | "x", number of field/value pairs, the pairs (a row of the call stream).
 */
export const LEDGER_FLUSH = `
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) == false then return 0 end
local i = 3
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'h' then
    redis.call('HINCRBY', KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2], ARGV[i + 3])
    i = i + 4
  elseif op == 's' then
    redis.call('SADD', KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2])
    i = i + 3
  else
    local pairs = tonumber(ARGV[i + 1])
    local row = {}
    for j = 1, 2 * pairs do row[j] = ARGV[i + 1 + j] end
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', (unpack or table.unpack)(row))
    i = i + 2 + 2 * pairs
  end
end
return 1
`;

/** Extend a lease only if we still hold it. KEYS[1]: lease, ARGV[1]: holder token, ARGV[2]: ms. */
export const RENEW_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
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
 * Queue a LOW event in its agent's open batch, opening one if needed.
 * KEYS[1]: open-batch pointer of the tenant's agent, KEYS[2]: due index (zset). ARGV: new batch id, event JSON,
 * now (ms), batch size, batch key prefix, agent, tenant. Returns {batch id, position, full (0/1)}.
 */
export const ENQUEUE_EVENT = `
local id = redis.call('GET', KEYS[1])
local prefix = ARGV[5]
if not id then
  id = ARGV[1]
  redis.call('SET', KEYS[1], id)
  redis.call('HSET', prefix .. id, 'id', id, 'agent', ARGV[6], 'tenant', ARGV[7], 'status', 'open', 'created_at', ARGV[3])
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
 * KEYS[3]: the open-batch pointer of its tenant's agent. ARGV: batch id, now (ms), lease (ms), holder token.
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

/**
 * Changes one managed API key only if its record is still the one the caller read (compare and set), so a
 * change racing a deletion or a rotation never brings back a deleted key or an old secret.
 * KEYS: 1 records (id → JSON), 2 digests (digest → id). ARGV: 1 id, 2 the record as read, 3 the new record
 * ('' = delete it), 4 a digest to stop recognising (''), 5 a digest to start recognising (''). Returns 1 when
 * written, 0 when the record changed since it was read (or is gone).
 */
export const CHANGE_API_KEY = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
if ARGV[4] ~= '' then redis.call('HDEL', KEYS[2], ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[2], ARGV[5], ARGV[1]) end
return 1
`;

/**
 * Adaptive event priority: adds one observation to a rolling window and ranks it against the others, in one
 * step. KEYS: 1 the window's times (member id → event time), 2–4 its |return|, range and volume ratio
 * (member id → figure). ARGV: 1 id (symbol|event time: an event seen by several agents counts once), 2 event
 * time ms, 3 window size, 4–6 the figures ('' = the event does not carry it), 7 idle TTL ms.
 * The first observation of an id is kept; the oldest beyond the window size are removed. Returns
 * {others in the window, then per figure: others carrying it, how many of those are strictly smaller}.
 */
export const OBSERVE_EVENT = `
local id = ARGV[1]
local window = tonumber(ARGV[3])
local ttl = tonumber(ARGV[7])
local sets = {KEYS[2], KEYS[3], KEYS[4]}
if not redis.call('ZSCORE', KEYS[1], id) then
  redis.call('ZADD', KEYS[1], ARGV[2], id)
  for i = 1, 3 do
    if ARGV[3 + i] ~= '' then redis.call('ZADD', sets[i], ARGV[3 + i], id) end
  end
end
local extra = redis.call('ZCARD', KEYS[1]) - window
while extra > 0 do
  local take = math.min(extra, 1000)
  local old = redis.call('ZRANGE', KEYS[1], 0, take - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, take - 1)
  for i = 1, 3 do redis.call('ZREM', sets[i], (unpack or table.unpack)(old)) end
  extra = extra - take
end
local others = redis.call('ZCARD', KEYS[1])
if redis.call('ZSCORE', KEYS[1], id) then others = others - 1 end
local counts = {}
for i = 1, 3 do
  local n = redis.call('ZCARD', sets[i])
  local own = redis.call('ZSCORE', sets[i], id)
  if own then n = n - 1 end
  local less = 0
  local x = ARGV[3 + i]
  if x ~= '' then
    less = redis.call('ZCOUNT', sets[i], '-inf', '(' .. x)
    if own and tonumber(own) < tonumber(x) then less = less - 1 end
  end
  counts[2 * i - 1] = n
  counts[2 * i] = less
end
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl) end
-- a table literal: the embedded store (ioredis-mock) cannot return a table filled key by key
return {others, counts[1], counts[2], counts[3], counts[4], counts[5], counts[6]}
`;
