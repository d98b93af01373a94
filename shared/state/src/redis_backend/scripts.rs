//! The Lua scripts. Each runs atomically in one round trip; `redis::Script` sends EVALSHA and
//! falls back to loading the script on `NOSCRIPT` (e.g. after a Redis restart).

use std::sync::LazyLock;

use redis::Script;

/// GCRA rate limit, the twin of `limit::gcra`. Uses the server's clock (`TIME`), so clients'
/// clocks don't matter. Times in microseconds.
/// KEYS[1] bucket; ARGV[1] emission interval (µs); ARGV[2] burst; ARGV[3] cost.
/// Returns {allowed (0/1), remaining tokens, retry after (µs)}.
pub(super) static RATE_LIMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tolerance = interval * burst
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored then
  tat = tonumber(stored)
  if not tat then
    return redis.error_reply('WRONGTYPE value at ' .. KEYS[1] .. ' is not a rate-limit bucket')
  end
  if tat < now then tat = now end
end
local new_tat = tat + interval * cost
local diff = now - (new_tat - tolerance)
if diff < 0 then
  local available = (now - (tat - tolerance)) / interval
  return {0, math.floor(available + 1e-9), math.ceil(-diff)}
end
if new_tat > now then
  redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
else
  redis.call('DEL', KEYS[1])
end
return {1, math.floor(diff / interval + 1e-9), 0}
"#,
    )
});

/// Counter: INCRBY, and set the expiry when the key has none (the first increment).
/// KEYS[1] counter; ARGV[1] increment; ARGV[2] ttl (ms).
pub(super) static INCR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
"#,
    )
});

/// Dedupe: return the existing value, or store ARGV[1] with ttl ARGV[2] (ms) and return nil.
pub(super) static SET_IF_ABSENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local existing = redis.call('GET', KEYS[1])
if existing then
  return existing
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"#,
    )
});

/// Lease (`SET NX PX` with an owner token, renewed by its owner). KEYS[1] lease; ARGV[1]
/// owner token, ARGV[2] ttl (ms). Returns 1 when the owner holds it now, 0 when another does.
pub(super) static LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"#,
    )
});

/// Indexed record write (sessions). KEYS[1] record, KEYS[2] its index (optional);
/// ARGV[1] value, ARGV[2] ttl (ms), ARGV[3] mode: `put` (create or replace), `replace` (only
/// over an existing record) or `expire` (only the expiry of an existing record; no value).
/// Lists the record in the index, drops listed records that expired, and raises the index's
/// expiry to the record's. Returns 1 when written, 0 when `replace`/`expire` found none.
/// (The index names the records it lists, so this script reaches keys not in KEYS: fine on
/// one Redis, not on a cluster.)
pub(super) static PUT_INDEXED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local ttl = tonumber(ARGV[2])
local mode = ARGV[3]
if mode ~= 'put' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if mode == 'expire' then
  redis.call('PEXPIRE', KEYS[1], ttl)
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
end
if KEYS[2] then
  redis.call('SADD', KEYS[2], KEYS[1])
  for _, k in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    if redis.call('EXISTS', k) == 0 then redis.call('SREM', KEYS[2], k) end
  end
  if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
end
return 1
"#,
    )
});

/// Ends every record an index lists. KEYS[1] index. Returns how many records existed.
pub(super) static DELETE_INDEX: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local ended = 0
for _, k in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  ended = ended + redis.call('DEL', k)
end
redis.call('DEL', KEYS[1])
return ended
"#,
    )
});

/// Removes a record and its entry in its index. KEYS[1] record, KEYS[2] index (optional).
pub(super) static DELETE_INDEXED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local existed = redis.call('DEL', KEYS[1])
if KEYS[2] then redis.call('SREM', KEYS[2], KEYS[1]) end
return existed
"#,
    )
});
