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

const char queue_lua_abort[] = "local ids = redis.call('SPOP', KEYS[1], tonumber(ARGV[2]))\n"
                               "for _, id in ipairs(ids) do\n"
                               "  local job = ARGV[1] .. 'job:' .. id\n"
                               "  if redis.call('EXISTS', job) == 1 then\n"
                               "    redis.call('HSET', job, 'aborted', '1')\n"
                               "    if redis.call('ZREM', KEYS[2], id) == 1 then\n"
                               "      redis.call('LPUSH', KEYS[3], id)\n"
                               "    end\n"
                               "  end\n"
                               "end\n"
                               "return #ids\n";

const char queue_lua_abort_one[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'aborted') == 1 "
    "then\n"
    "  return 0\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'aborted', '1')\n"
    "redis.call('SREM', KEYS[2], ARGV[1])\n"
    "if redis.call('ZREM', KEYS[3], ARGV[1]) == 1 then\n"
    "  redis.call('LPUSH', KEYS[4], ARGV[1])\n"
    "end\n"
    "return 1\n";

const char queue_lua_retry_now[] = "if redis.call('HEXISTS', KEYS[1], 'aborted') == 1 then\n"
                                   "  return 0\n"
                                   "end\n"
                                   "if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then\n"
                                   "  redis.call('LPUSH', KEYS[3], ARGV[1])\n"
                                   "  return 1\n"
                                   "end\n"
                                   "return 0\n";

const char queue_lua_ack[] = "redis.call('LREM', KEYS[1], 1, ARGV[1])\n"
                             "if redis.call('HEXISTS', KEYS[2], 'aborted') == 1 then\n"
                             "  redis.call('DEL', KEYS[2])\n"
                             "  redis.call('SREM', KEYS[4], ARGV[1])\n"
                             "  return 'aborted'\n"
                             "end\n"
                             "if ARGV[2] == '1' then\n"
                             "  redis.call('DEL', KEYS[2])\n"
                             "  redis.call('SREM', KEYS[4], ARGV[1])\n"
                             "  return 'done'\n"
                             "end\n"
                             "if redis.call('EXISTS', KEYS[2]) == 0 then\n"
                             "  redis.call('SREM', KEYS[4], ARGV[1])\n"
                             "  return 'gone'\n"
                             "end\n"
                             "redis.call('HSET', KEYS[2], 'attempts', ARGV[3])\n"
                             "redis.call('ZADD', KEYS[3], tonumber(ARGV[4]), ARGV[1])\n"
                             "return 'scheduled'\n";

const char queue_lua_promote[] =
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, "
    "tonumber(ARGV[2]))\n"
    "for _, id in ipairs(due) do\n"
    "  redis.call('ZREM', KEYS[1], id)\n"
    "  redis.call('LPUSH', KEYS[2], id)\n"
    "end\n"
    "return #due\n";

const char queue_lua_fetch[] =
    "local out = {}\n"
    "for i = 1, tonumber(ARGV[2]) do\n"
    "  local id = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')\n"
    "  if not id then break end\n"
    "  out[#out + 1] = id\n"
    "  out[#out + 1] = redis.call('HGETALL', ARGV[1] .. 'job:' .. id)\n"
    "end\n"
    "return out\n";

const char queue_lua_reap[] =
    "local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])\n"
    "local n = 0\n"
    "for _, w in ipairs(dead) do\n"
    "  if w ~= ARGV[3] then\n"
    "    local list = ARGV[1] .. 'queue:inflight:' .. w\n"
    "    while true do\n"
    "      local id = redis.call('LMOVE', list, KEYS[2], 'RIGHT', 'RIGHT')\n"
    "      if not id then break end\n"
    "      local job = ARGV[1] .. 'job:' .. id\n"
    "      if redis.call('EXISTS', job) == 1 then\n"
    "        redis.call('HINCRBY', job, 'requeues', 1)\n"
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
 * base32; anything unreadable counts as old, so it cannot stick at the end of the list. */
const char queue_lua_unrecorded[] = "local A = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'\n"
                                    "local function born(id)\n"
                                    "  local t = 0\n"
                                    "  for i = 5, 14 do\n"
                                    "    local c = string.find(A, string.sub(id, i, i), 1, true)\n"
                                    "    if not c then return 0 end\n"
                                    "    t = t * 32 + c - 1\n"
                                    "  end\n"
                                    "  return t\n"
                                    "end\n"
                                    "local max = tonumber(ARGV[2])\n"
                                    "local ids = {}\n"
                                    "if ARGV[3] == 'newest' then\n"
                                    "  ids = redis.call('LPOP', KEYS[1], max) or {}\n"
                                    "else\n"
                                    "  local cutoff = tonumber(ARGV[3])\n"
                                    "  while #ids < max do\n"
                                    "    local id = redis.call('LINDEX', KEYS[1], -1)\n"
                                    "    if not id or born(id) >= cutoff then break end\n"
                                    "    redis.call('RPOP', KEYS[1])\n"
                                    "    ids[#ids + 1] = id\n"
                                    "  end\n"
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
