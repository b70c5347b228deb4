/*
 * queue.c - Redis key names and the Lua scripts that move jobs (see queue.h).
 */
#include "queue.h"

#include <stdio.h>
#include <string.h>

void queue_keys_init(struct queue_keys *k, const char *prefix)
{
    snprintf(k->prefix, sizeof(k->prefix), "%s", prefix);
    snprintf(k->ready, sizeof(k->ready), "%squeue:ready", prefix);
    snprintf(k->scheduled, sizeof(k->scheduled), "%squeue:scheduled", prefix);
    snprintf(k->workers, sizeof(k->workers), "%sworkers", prefix);
    snprintf(k->unrecorded, sizeof(k->unrecorded), "%sevents:unrecorded", prefix);
}

/* prefix + a + b + c into out, cut to fit like snprintf: two of these name keys for every
 * accepted request, where snprintf cost more than the copy. */
static void queue_key_join(char *out, size_t outlen, const char *prefix, const char *a,
                           const char *b, const char *c)
{
    const char *parts[4] = {prefix, a, b, c};
    size_t n = 0;
    for (int i = 0; i < 4 && outlen > 0; i++) {
        size_t l = strlen(parts[i]);
        if (l > outlen - 1 - n)
            l = outlen - 1 - n;
        memcpy(out + n, parts[i], l);
        n += l;
    }
    if (outlen > 0)
        out[n] = '\0';
}

void queue_key_job(const struct queue_keys *k, const char *id, char *out, size_t outlen)
{
    queue_key_join(out, outlen, k->prefix, "job:", id, "");
}

void queue_key_pending(const struct queue_keys *k, const char *bridge_id, char *out, size_t outlen)
{
    queue_key_join(out, outlen, k->prefix, "bridge:", bridge_id, ":pending");
}

bool queue_key_idempotency(const struct queue_keys *k, const char *bridge_id, const char *key,
                           char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%sidem:%s:%s", k->prefix, bridge_id, key);
    return n > 0 && (size_t)n < outlen;
}

void queue_key_inflight(const struct queue_keys *k, const char *worker, char *out, size_t outlen)
{
    snprintf(out, outlen, "%squeue:inflight:%s", k->prefix, worker);
}

/* The key is remembered last: Redis does not roll a script back, so a failure part way must
 * never leave a key pointing at a job that was not written. */
const char queue_lua_enqueue[] = "if KEYS[6] then\n"
                                 "  local first = redis.call('GET', KEYS[6])\n"
                                 "  if first then return {0, first} end\n"
                                 "end\n"
                                 "redis.call('HSET', KEYS[1], unpack(ARGV, 4))\n"
                                 "redis.call('SADD', KEYS[4], ARGV[1])\n"
                                 "if ARGV[2] == '0' then\n"
                                 "  redis.call('LPUSH', KEYS[2], ARGV[1])\n"
                                 "else\n"
                                 "  redis.call('ZADD', KEYS[3], tonumber(ARGV[2]), ARGV[1])\n"
                                 "end\n"
                                 "redis.call('LPUSH', KEYS[5], ARGV[1])\n"
                                 "if KEYS[6] then\n"
                                 "  redis.call('SET', KEYS[6], ARGV[1], 'EX', tonumber(ARGV[3]))\n"
                                 "end\n"
                                 "return {1, ARGV[1]}\n";

/* Queue entries are an event id, or "id/route" for one route of a bridge with routes
 * (whose per-route hash fields end in "/route"). */
#define QUEUE_LUA_SPLIT                                                                            \
    "local function split(e)\n"                                                                    \
    "  local i = string.find(e, '/', 1, true)\n"                                                   \
    "  if i then return string.sub(e, 1, i - 1), string.sub(e, i) end\n"                           \
    "  return e, ''\n"                                                                             \
    "end\n"

const char queue_lua_abort[] =
    QUEUE_LUA_SPLIT "local ids = redis.call('SPOP', KEYS[1], tonumber(ARGV[2]))\n"
                    "for _, e in ipairs(ids) do\n"
                    "  local id, sfx = split(e)\n"
                    "  local job = ARGV[1] .. 'job:' .. id\n"
                    "  if redis.call('EXISTS', job) == 1 then\n"
                    "    redis.call('HSET', job, 'aborted' .. sfx, '1')\n"
                    "    if redis.call('ZREM', KEYS[2], e) == 1 then\n"
                    "      redis.call('LPUSH', KEYS[3], e)\n"
                    "    end\n"
                    "  end\n"
                    "end\n"
                    "return #ids\n";

const char queue_lua_abort_one[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'aborted') == 1 "
    "then\n"
    "  return 0\n"
    "end\n"
    "local id = ARGV[1]\n"
    "local routes = redis.call('HGET', KEYS[1], 'routes')\n"
    "local function one(e, field)\n"
    "  redis.call('HSET', KEYS[1], field, '1')\n"
    "  redis.call('SREM', KEYS[2], e)\n"
    "  if redis.call('ZREM', KEYS[3], e) == 1 then\n"
    "    redis.call('LPUSH', KEYS[4], e)\n"
    "  end\n"
    "end\n"
    "if ARGV[2] ~= '' then\n"
    "  local e = id .. '/' .. ARGV[2]\n"
    "  if redis.call('HEXISTS', KEYS[1], 'aborted/' .. ARGV[2]) == 1 then return 0 end\n"
    "  if routes and redis.call('SISMEMBER', KEYS[2], e) == 0 then return 0 end\n"
    "  one(e, 'aborted/' .. ARGV[2])\n"
    "  return 1\n"
    "end\n"
    "one(id, 'aborted')\n"
    "if routes then\n"
    "  for name in string.gmatch(routes, '[^,]+') do\n"
    "    local e = id .. '/' .. name\n"
    "    if redis.call('SISMEMBER', KEYS[2], e) == 1 then one(e, 'aborted/' .. name) end\n"
    "  end\n"
    "end\n"
    "return 1\n";

const char queue_lua_retry_now[] =
    "if redis.call('HEXISTS', KEYS[1], 'aborted') == 1 then\n"
    "  return 0\n"
    "end\n"
    "local function one(e, sfx)\n"
    "  if redis.call('HEXISTS', KEYS[1], 'aborted' .. sfx) == 1 then return 0 end\n"
    "  if redis.call('ZREM', KEYS[2], e) == 1 then\n"
    "    redis.call('LPUSH', KEYS[3], e)\n"
    "    return 1\n"
    "  end\n"
    "  return 0\n"
    "end\n"
    "if ARGV[2] ~= '' then return one(ARGV[1] .. '/' .. ARGV[2], '/' .. ARGV[2]) end\n"
    "local n = one(ARGV[1], '')\n"
    "local routes = redis.call('HGET', KEYS[1], 'routes')\n"
    "if routes then\n"
    "  for name in string.gmatch(routes, '[^,]+') do\n"
    "    n = n + one(ARGV[1] .. '/' .. name, '/' .. name)\n"
    "  end\n"
    "end\n"
    "if n > 0 then return 1 end\n"
    "return 0\n";

/* LREM from the tail (-1): entries enter the in-flight list at the head and mostly end in
 * the order they were taken, so the one acknowledged is near the tail; from the head, each
 * ack scanned the whole list, O(jobs in flight) (43 us a call at 1,000 in flight, profiled). */
#define QUEUE_LUA_ACK                                                                              \
    QUEUE_LUA_SPLIT                                                                                \
    "local id, sfx = split(ARGV[1])\n"                                                             \
    "local function finish()\n"                                                                    \
    "  redis.call('SREM', KEYS[4], ARGV[1])\n"                                                     \
    "  if sfx == '' then\n"                                                                        \
    "    redis.call('DEL', KEYS[2])\n"                                                             \
    "    return\n"                                                                                 \
    "  end\n"                                                                                      \
    "  redis.call('HDEL', KEYS[2], 'attempts' .. sfx, 'requeues' .. sfx, 'aborted' .. sfx)\n"      \
    "  if redis.call('HINCRBY', KEYS[2], 'left', -1) <= 0 then\n"                                  \
    "    redis.call('DEL', KEYS[2])\n"                                                             \
    "  end\n"                                                                                      \
    "end\n"                                                                                        \
    "if redis.call('EXISTS', KEYS[2]) == 1 and (redis.call('HEXISTS', KEYS[2], 'aborted') == 1\n"  \
    "    or redis.call('HEXISTS', KEYS[2], 'aborted' .. sfx) == 1) then\n"                         \
    "  if ARGV[5] ~= '1' then return 'abort_first' end\n"                                          \
    "  redis.call('LREM', KEYS[1], -1, ARGV[1])\n"                                                 \
    "  finish()\n"                                                                                 \
    "  return 'aborted'\n"                                                                         \
    "end\n"                                                                                        \
    "redis.call('LREM', KEYS[1], -1, ARGV[1])\n"                                                   \
    "if ARGV[2] == '1' then\n"                                                                     \
    "  finish()\n"                                                                                 \
    "  return 'done'\n"                                                                            \
    "end\n"                                                                                        \
    "if redis.call('EXISTS', KEYS[2]) == 0 then\n"                                                 \
    "  redis.call('SREM', KEYS[4], ARGV[1])\n"                                                     \
    "  return 'gone'\n"                                                                            \
    "end\n"                                                                                        \
    "redis.call('HSET', KEYS[2], 'attempts' .. sfx, ARGV[3])\n"                                    \
    "redis.call('ZADD', KEYS[3], tonumber(ARGV[4]), ARGV[1])\n"                                    \
    "return 'scheduled'\n"

const char queue_lua_ack[] = QUEUE_LUA_ACK;

/* Most acks in a batch are a whole event's final outcome with no abort mark: those take two
 * calls each (HEXISTS, LREM) and share one DEL and one SREM a pending set at the end, since
 * each Lua redis.call costs Redis about as much as the command itself (profiled: the batch
 * at one call to the function above per ack cost ~20 us of Redis CPU a delivery, its
 * commands ~7). Deferring the DEL and SREM changes nothing another ack of the batch could
 * see: a plain entry's job hash and pending member belong to that entry alone. */
const char queue_lua_ack_many[] =
    "local function one(KEYS, ARGV)\n" QUEUE_LUA_ACK "\nend\n"
    "local out, dels, sets, setn = {}, {}, {}, {}\n"
    "for i = 1, (#KEYS - 2) / 2 do\n"
    "  local a = 5 * (i - 1)\n"
    "  local job, pending, e = KEYS[1 + 2 * i], KEYS[2 + 2 * i], ARGV[a + 1]\n"
    "  if ARGV[a + 2] == '1' and not string.find(e, '/', 1, true)\n"
    "      and redis.call('HEXISTS', job, 'aborted') == 0 then\n"
    "    redis.call('LREM', KEYS[1], -1, e)\n"
    "    dels[#dels + 1] = job\n"
    "    local s = sets[pending]\n"
    "    if not s then\n"
    "      s = {}\n"
    "      sets[pending] = s\n"
    "      setn[#setn + 1] = pending\n"
    "    end\n"
    "    s[#s + 1] = e\n"
    "    out[i] = 'done'\n"
    "  else\n"
    "    out[i] = one({KEYS[1], job, KEYS[2], pending},\n"
    "      {e, ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]})\n"
    "  end\n"
    "end\n"
    "if #dels > 0 then redis.call('DEL', unpack(dels)) end\n"
    "for _, p in ipairs(setn) do redis.call('SREM', p, unpack(sets[p])) end\n"
    "return out\n";

const char queue_lua_fanout[] =
    "redis.call('LREM', KEYS[1], -1, ARGV[1])\n"
    "if redis.call('EXISTS', KEYS[2]) == 0 or redis.call('HEXISTS', KEYS[2], 'routes') == 1 then\n"
    "  redis.call('SREM', KEYS[5], ARGV[1])\n"
    "  return 0\n"
    "end\n"
    "local n = (#ARGV - 2) / 2\n"
    "if n == 0 then\n"
    "  redis.call('DEL', KEYS[2])\n"
    "  redis.call('SREM', KEYS[5], ARGV[1])\n"
    "  return 0\n"
    "end\n"
    "redis.call('HSET', KEYS[2], 'routes', ARGV[2], 'left', n)\n"
    "for i = 3, #ARGV, 2 do\n"
    "  local e = ARGV[1] .. '/' .. ARGV[i]\n"
    "  redis.call('SADD', KEYS[5], e)\n"
    "  if ARGV[i + 1] == '0' or redis.call('HEXISTS', KEYS[2], 'aborted/' .. ARGV[i]) == 1 "
    "then\n"
    "    redis.call('LPUSH', KEYS[3], e)\n"
    "  else\n"
    "    redis.call('ZADD', KEYS[4], tonumber(ARGV[i + 1]), e)\n"
    "  end\n"
    "end\n"
    "redis.call('SREM', KEYS[5], ARGV[1])\n"
    "return n\n";

const char queue_lua_promote[] =
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, "
    "tonumber(ARGV[2]))\n"
    "for _, id in ipairs(due) do\n"
    "  redis.call('ZREM', KEYS[1], id)\n"
    "  redis.call('LPUSH', KEYS[2], id)\n"
    "end\n"
    "return #due\n";

/* One LRANGE, LTRIM and LPUSH for the whole batch instead of an LMOVE a job: the same
 * entries end in the same order as that many LMOVEs RIGHT to LEFT would leave them. */
const char queue_lua_fetch[] = "local n = tonumber(ARGV[2])\n"
                               "if not n or n < 1 then return {} end\n"
                               "local ids = redis.call('LRANGE', KEYS[1], -n, -1)\n"
                               "if #ids == 0 then return {} end\n"
                               "redis.call('LTRIM', KEYS[1], 0, -#ids - 1)\n"
                               "local out, moved = {}, {}\n"
                               "for k = #ids, 1, -1 do\n"
                               "  local id = ids[k]\n"
                               "  moved[#moved + 1] = id\n"
                               "  out[#out + 1] = id\n"
                               "  local i = string.find(id, '/', 1, true)\n"
                               "  local ev = i and string.sub(id, 1, i - 1) or id\n"
                               "  out[#out + 1] = redis.call('HGETALL', ARGV[1] .. 'job:' .. ev)\n"
                               "end\n"
                               "redis.call('LPUSH', KEYS[2], unpack(moved))\n"
                               "return out\n";

const char queue_lua_reap[] =
    QUEUE_LUA_SPLIT "local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])\n"
                    "local n = 0\n"
                    "for _, w in ipairs(dead) do\n"
                    "  if w ~= ARGV[3] then\n"
                    "    local list = ARGV[1] .. 'queue:inflight:' .. w\n"
                    "    while true do\n"
                    "      local id = redis.call('LMOVE', list, KEYS[2], 'RIGHT', 'RIGHT')\n"
                    "      if not id then break end\n"
                    "      local ev, sfx = split(id)\n"
                    "      local job = ARGV[1] .. 'job:' .. ev\n"
                    "      if redis.call('EXISTS', job) == 1 then\n"
                    "        redis.call('HINCRBY', job, 'requeues' .. sfx, 1)\n"
                    "      end\n"
                    "      n = n + 1\n"
                    "    end\n"
                    "    redis.call('ZREM', KEYS[1], w)\n"
                    "  end\n"
                    "end\n"
                    "return n\n";

const char queue_lua_release[] = "local n = 0\n"
                                 "while true do\n"
                                 "  local id = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', "
                                 "'RIGHT')\n"
                                 "  if not id then break end\n"
                                 "  n = n + 1\n"
                                 "end\n"
                                 "redis.call('ZREM', KEYS[3], ARGV[1])\n"
                                 "return n\n";

const char queue_lua_stats[] =
    "local inflight = 0\n"
    "for _, w in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do\n"
    "  inflight = inflight + redis.call('LLEN', ARGV[1] .. 'queue:inflight:' .. w)\n"
    "end\n"
    "return {redis.call('LLEN', KEYS[1]), redis.call('ZCARD', KEYS[2]), inflight,\n"
    "        redis.call('ZCOUNT', KEYS[3], '(' .. ARGV[2], '+inf')}\n";

const char queue_lua_peek[] = "local due = redis.call('ZSCORE', KEYS[2], ARGV[1])\n"
                              "return {redis.call('HGETALL', KEYS[1]), due or ''}\n";

/* An id's receive time is the first ten letters of its ULID (after "evt_"), Crockford
 * base32; anything unreadable counts as old, so it cannot stick at the end of the list (a
 * letter past the end of a short id counts as '0', as string.find of "" once made it).
 * The oldest end is read with LRANGEs of 32, 64, 128… ids and cut with one LTRIM, not an
 * LINDEX and an RPOP an id, and a letter's value is a table lookup: with a backlog older than the
 * cutoff this script was a third of Redis's CPU a delivery (profiled, the drain bench at load 6).
 */
const char queue_lua_unrecorded[] =
    "local A = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'\n"
    "local V = {}\n"
    "for i = 1, #A do V[string.byte(A, i)] = i - 1 end\n"
    "local function born(id)\n"
    "  local t = 0\n"
    "  local s = {string.byte(id, 5, 14)}\n"
    "  for i = 1, 10 do\n"
    "    local c = 0\n"
    "    if s[i] then\n"
    "      c = V[s[i]]\n"
    "      if not c then return 0 end\n"
    "    end\n"
    "    t = t * 32 + c\n"
    "  end\n"
    "  return t\n"
    "end\n"
    "local max = tonumber(ARGV[2])\n"
    "local ids = {}\n"
    "if ARGV[3] == 'newest' then\n"
    "  ids = redis.call('LPOP', KEYS[1], max) or {}\n"
    "elseif max > 0 then\n"
    "  local cutoff = tonumber(ARGV[3])\n"
    "  local ahead = tonumber(ARGV[4] or '0')\n"
    "  local late = tonumber(ARGV[5] or '0')\n"
    "  local reach = -1\n"
    "  if ahead > 0 then\n"
    "    local e = redis.call('LINDEX', KEYS[3], -ahead)\n"
    "    reach = e and born(e) or math.huge\n"
    "  end\n"
    "  local chunk, stop = 32, false\n"
    "  while not stop and #ids < max do\n"
    "    local n = math.min(chunk, max - #ids)\n"
    "    local tail = redis.call('LRANGE', KEYS[1], -(#ids + n), -(#ids + 1))\n"
    "    for k = #tail, 1, -1 do\n"
    "      local id = tail[k]\n"
    "      local b = born(id)\n"
    "      if b >= cutoff then stop = true break end\n"
    "      if b <= reach and b >= late then\n"
    "        local job = ARGV[1] .. 'job:' .. id\n"
    "        if redis.call('EXISTS', job) == 1\n"
    "           and not redis.call('ZSCORE', KEYS[2], id) then\n"
    "          stop = true\n"
    "          break\n"
    "        end\n"
    "      end\n"
    "      ids[#ids + 1] = id\n"
    "    end\n"
    "    if #tail < n then break end\n"
    "    chunk = chunk * 2\n"
    "  end\n"
    "  if #ids > 0 then redis.call('LTRIM', KEYS[1], 0, -#ids - 1) end\n"
    "end\n"
    "local out = {}\n"
    "for _, id in ipairs(ids) do\n"
    "  local job = redis.call('HGETALL', ARGV[1] .. 'job:' .. id)\n"
    "  if #job > 0 then\n"
    "    out[#out + 1] = id\n"
    "    out[#out + 1] = job\n"
    "    out[#out + 1] = redis.call('ZSCORE', KEYS[2], id) or ''\n"
    "  end\n"
    "end\n"
    "return {#ids, out}\n";

/*
 * Put an orphaned entry of a worker's own in-flight list back on the ready list, at the end
 * BLMOVE takes from (it was taken first and waited longest), only if it is still there.
 * KEYS: inflight, ready. ARGV: entry. Returns 1 when moved.
 */
const char queue_lua_adopt[] = "if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then\n"
                               "  redis.call('RPUSH', KEYS[2], ARGV[1])\n"
                               "  return 1\n"
                               "end\n"
                               "return 0\n";
