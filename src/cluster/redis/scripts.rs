//! The broker's Lua scripts: each change to a queue is one atomic step in
//! Redis, so no process sees it half done. Keys use the queue's `{name}`
//! hash tag, one Redis Cluster slot.
//!
//! The queue is a stream read by one consumer group, one consumer per
//! process. The meta hash counts what the queue holds (`b` bytes, `n`
//! messages) against its bounds; `idx` maps the id of a message handed
//! back (added again under a new entry) to its entry now.

/// The field named `name` of a stream entry read by `XRANGE`.
const FIELD: &str = r"
local function field(entry, name)
  local f = entry[2]
  for i = 1, #f, 2 do
    if f[i] == name then return f[i + 1] end
  end
  return ''
end
";

/// KEYS: meta, queue. ARGV: data, cost, max bytes, max messages.
/// The new entry's id, or nil when the queue is full.
pub(super) const PUBLISH: &str = r"
local held = redis.call('HMGET', KEYS[1], 'b', 'n')
local bytes, count = tonumber(held[1]) or 0, tonumber(held[2]) or 0
if count >= tonumber(ARGV[4]) or tonumber(ARGV[2]) > tonumber(ARGV[3]) - bytes then
  return false
end
redis.call('HINCRBY', KEYS[1], 'b', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'n', 1)
return redis.call('XADD', KEYS[2], '*', 'd', ARGV[1])
";

/// Done with a message (acknowledged, or written with no acknowledgement
/// awaited), from any process. KEYS: queue, meta, idx. ARGV: group,
/// message id, overhead per message. 1 if it was pending.
pub(super) fn settle() -> String {
    format!(
        "{FIELD}{}",
        r"
local entry = redis.call('HGET', KEYS[3], ARGV[2]) or ARGV[2]
local found = redis.call('XRANGE', KEYS[1], entry, entry)
if #found == 0 or redis.call('XACK', KEYS[1], ARGV[1], entry) == 0 then return 0 end
redis.call('XDEL', KEYS[1], entry)
redis.call('HDEL', KEYS[3], ARGV[2])
redis.call('HINCRBY', KEYS[2], 'b', -(#field(found[1], 'd') + tonumber(ARGV[3])))
redis.call('HINCRBY', KEYS[2], 'n', -1)
return 1
"
    )
}

/// Takes an entry out of the queue (acknowledged, deleted); what it held,
/// as `XRANGE` gave it (empty if its data was gone).
const TAKE: &str = r"
local function take(queue, group, entry)
  local found = redis.call('XRANGE', queue, entry, entry)
  redis.call('XACK', queue, group, entry)
  redis.call('XDEL', queue, entry)
  return found
end
";

/// Checks the entry is still pending with this consumer (after a stop, a
/// sweep may have given it to another process, which now owns it).
const MINE: &str = r"
local function mine(queue, group, me, entry)
  local p = redis.call('XPENDING', queue, group, entry, entry, 1)
  return #p == 1 and p[1][2] == me
end
";

/// Hands a message back for any process: added again (waking every
/// blocked reader) under a new entry, its id kept. KEYS: queue, idx.
/// ARGV: group, consumer, entry, message id, deliveries. 1 if handed back.
pub(super) fn release() -> String {
    format!(
        "{FIELD}{MINE}{TAKE}{}",
        r"
if not mine(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
local found = take(KEYS[1], ARGV[1], ARGV[3])
if #found == 0 then return 0 end
local new = redis.call('XADD', KEYS[1], '*', 'd', field(found[1], 'd'), 'i', ARGV[4], 'c', ARGV[5])
redis.call('HSET', KEYS[2], ARGV[4], new)
return 1
"
    )
}

/// Sets a message aside in the dead-letter stream. KEYS: queue, meta,
/// idx, dead. ARGV: group, consumer, entry, message id, deliveries,
/// overhead per message, most dead letters kept. 1 if set aside.
pub(super) fn dead_letter() -> String {
    format!(
        "{FIELD}{MINE}{TAKE}{}",
        r"
if not mine(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
local found = take(KEYS[1], ARGV[1], ARGV[3])
redis.call('HDEL', KEYS[3], ARGV[4])
if #found == 0 then return 0 end
local data = field(found[1], 'd')
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], '*', 'd', data, 'i', ARGV[4], 'c', ARGV[5])
redis.call('HINCRBY', KEYS[2], 'b', -(#data + tonumber(ARGV[6])))
redis.call('HINCRBY', KEYS[2], 'n', -1)
return 1
"
    )
}

/// Still held: resets the idle time of entries this consumer holds, so
/// no sweep takes them for a dead process's. KEYS: queue. ARGV: group,
/// consumer, entries… How many were still this consumer's.
pub(super) fn keep_alive() -> String {
    format!(
        "{MINE}{}",
        r"
local kept = 0
for i = 3, #ARGV do
  if mine(KEYS[1], ARGV[1], ARGV[2], ARGV[i]) then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    kept = kept + 1
  end
end
return kept
"
    )
}
