/*
 * flow.c - flow control fields and the Lua scripts that keep their state in Redis
 * (see flow.h).
 */
#include "flow.h"

#include "job.h"
#include "template.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLOW_MAX_REQUESTS 1000000L
#define FLOW_MAX_PER_SECONDS 86400L
#define FLOW_MAX_CONCURRENCY 10000L
#define FLOW_MAX_FAILURES 1000L
#define FLOW_MAX_OPEN_SECONDS 86400L
#define FLOW_MAX_KEY 256

/* A whole JSON number in lo..hi. */
static bool flow_int_in(const cJSON *v, long lo, long hi, long *out)
{
    if (!cJSON_IsNumber(v))
        return false;
    double d = v->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi) || (double)(long)d != d)
        return false;
    *out = (long)d;
    return true;
}

static void flow_put(cJSON **flow, const char *name, cJSON *item)
{
    if (*flow == NULL)
        *flow = cJSON_CreateObject();
    if (cJSON_GetObjectItemCaseSensitive(*flow, name) != NULL)
        cJSON_ReplaceItemInObjectCaseSensitive(*flow, name, item);
    else
        cJSON_AddItemToObject(*flow, name, item);
}

static void flow_drop(cJSON **flow, const char *name)
{
    if (*flow != NULL)
        cJSON_DeleteItemFromObjectCaseSensitive(*flow, name);
}

/* Only the members in `allowed` (a NULL-ended list); names the first other one. */
static bool flow_only(const cJSON *v, const char *const *allowed, char *err, size_t errlen)
{
    for (const cJSON *m = v->child; m != NULL; m = m->next) {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL; i++)
            ok = ok || strcmp(m->string, allowed[i]) == 0;
        if (!ok) {
            snprintf(err, errlen, "unknown member %.64s", m->string);
            return false;
        }
    }
    return true;
}

int flow_set_rate_limit(cJSON **flow, const cJSON *v, char *err, size_t errlen)
{
    static const char *const allowed[] = {"requests", "per_seconds", "key", NULL};
    long n;
    if (cJSON_IsNull(v)) {
        flow_drop(flow, "rate_limit");
        return 0;
    }
    if (!cJSON_IsObject(v)) {
        snprintf(err, errlen, "must be an object {requests, per_seconds, key} or null");
        return -1;
    }
    if (!flow_only(v, allowed, err, errlen))
        return -1;
    if (!flow_int_in(cJSON_GetObjectItemCaseSensitive(v, "requests"), 1, FLOW_MAX_REQUESTS, &n)) {
        snprintf(err, errlen, "requests must be an integer in 1..%ld", FLOW_MAX_REQUESTS);
        return -1;
    }
    if (!flow_int_in(cJSON_GetObjectItemCaseSensitive(v, "per_seconds"), 1, FLOW_MAX_PER_SECONDS,
                     &n)) {
        snprintf(err, errlen, "per_seconds must be an integer in 1..%ld", FLOW_MAX_PER_SECONDS);
        return -1;
    }
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(v, "key");
    if (key != NULL && !cJSON_IsNull(key)) {
        char why[200];
        if (!cJSON_IsString(key) || key->valuestring[0] == '\0' ||
            strlen(key->valuestring) > FLOW_MAX_KEY) {
            snprintf(err, errlen, "key must be a non-empty template of at most %d bytes",
                     FLOW_MAX_KEY);
            return -1;
        }
        if (tmpl_check(key->valuestring, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "key: %s", why);
            return -1;
        }
    }
    flow_put(flow, "rate_limit", cJSON_Duplicate(v, true));
    return 0;
}

int flow_set_max_concurrency(cJSON **flow, const cJSON *v, char *err, size_t errlen)
{
    long n;
    if (cJSON_IsNull(v)) {
        flow_drop(flow, "max_concurrency");
        return 0;
    }
    if (!flow_int_in(v, 1, FLOW_MAX_CONCURRENCY, &n)) {
        snprintf(err, errlen, "must be an integer in 1..%ld or null", FLOW_MAX_CONCURRENCY);
        return -1;
    }
    flow_put(flow, "max_concurrency", cJSON_CreateNumber((double)n));
    return 0;
}

int flow_set_circuit(cJSON **flow, const cJSON *v, char *err, size_t errlen)
{
    static const char *const allowed[] = {"failures", "open_seconds", NULL};
    long n = 0;
    if (cJSON_IsNull(v)) {
        /* Kept as null: the breaker is on unless turned off. */
        flow_put(flow, "circuit", cJSON_CreateNull());
        return 0;
    }
    if (!cJSON_IsObject(v)) {
        snprintf(err, errlen, "must be an object {failures, open_seconds} or null (off)");
        return -1;
    }
    if (!flow_only(v, allowed, err, errlen))
        return -1;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(v, "failures");
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(v, "open_seconds");
    cJSON *c = cJSON_CreateObject();
    if (f != NULL && !flow_int_in(f, 1, FLOW_MAX_FAILURES, &n)) {
        snprintf(err, errlen, "failures must be an integer in 1..%ld", FLOW_MAX_FAILURES);
        cJSON_Delete(c);
        return -1;
    }
    cJSON_AddNumberToObject(c, "failures", f ? (double)n : FLOW_CIRCUIT_FAILURES);
    if (o != NULL && !flow_int_in(o, 1, FLOW_MAX_OPEN_SECONDS, &n)) {
        snprintf(err, errlen, "open_seconds must be an integer in 1..%ld", FLOW_MAX_OPEN_SECONDS);
        cJSON_Delete(c);
        return -1;
    }
    cJSON_AddNumberToObject(c, "open_seconds", o ? (double)n : FLOW_CIRCUIT_OPEN_S);
    flow_put(flow, "circuit", c);
    return 0;
}

void flow_to_api(const cJSON *flow, cJSON *o)
{
    const cJSON *rl = cJSON_GetObjectItemCaseSensitive(flow, "rate_limit");
    const cJSON *mc = cJSON_GetObjectItemCaseSensitive(flow, "max_concurrency");
    const cJSON *cb = cJSON_GetObjectItemCaseSensitive(flow, "circuit");
    cJSON_AddItemToObject(o, "rate_limit", rl ? cJSON_Duplicate(rl, true) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "max_concurrency",
                          mc ? cJSON_Duplicate(mc, true) : cJSON_CreateNull());
    if (cb != NULL) {
        cJSON_AddItemToObject(o, "circuit", cJSON_Duplicate(cb, true));
    } else {
        cJSON *c = cJSON_AddObjectToObject(o, "circuit");
        cJSON_AddNumberToObject(c, "failures", FLOW_CIRCUIT_FAILURES);
        cJSON_AddNumberToObject(c, "open_seconds", FLOW_CIRCUIT_OPEN_S);
    }
}

static long flow_num(const cJSON *o, const char *name, long def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : def;
}

void flow_conf_from(const cJSON *rate_limit, long max_concurrency, const cJSON *circuit,
                    struct flow_conf *c)
{
    memset(c, 0, sizeof(*c));
    if (cJSON_IsObject(rate_limit)) {
        c->rl_requests = flow_num(rate_limit, "requests", 0);
        c->rl_per_seconds = flow_num(rate_limit, "per_seconds", 1);
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(rate_limit, "key");
        if (cJSON_IsString(key))
            c->rl_key = xstrdup(key->valuestring);
    }
    c->max_concurrency = max_concurrency > 0 ? max_concurrency : 0;
    if (circuit == NULL) {
        c->cb_failures = FLOW_CIRCUIT_FAILURES;
        c->cb_open_seconds = FLOW_CIRCUIT_OPEN_S;
    } else if (cJSON_IsObject(circuit)) {
        c->cb_failures = flow_num(circuit, "failures", FLOW_CIRCUIT_FAILURES);
        c->cb_open_seconds = flow_num(circuit, "open_seconds", FLOW_CIRCUIT_OPEN_S);
    }
}

void flow_conf_read(const cJSON *flow, struct flow_conf *c)
{
    flow_conf_from(cJSON_GetObjectItemCaseSensitive(flow, "rate_limit"),
                   flow_num(flow, "max_concurrency", 0),
                   cJSON_GetObjectItemCaseSensitive(flow, "circuit"), c);
}

void flow_conf_clear(struct flow_conf *c)
{
    free(c->rl_key);
    memset(c, 0, sizeof(*c));
}

void flow_key_paused_set(const char *prefix, char *out, size_t outlen)
{
    snprintf(out, outlen, "%sflow:paused", prefix);
}

void flow_key_waits(const char *prefix, char *out, size_t outlen)
{
    snprintf(out, outlen, "%sflow:waits", prefix);
}

void flow_key_rl_waiting(const char *prefix, char *out, size_t outlen)
{
    snprintf(out, outlen, "%sflow:rl_waiting", prefix);
}

/* Time is Redis's own (TIME; scripts replicate their effects), so that every worker and
 * host measures windows and leases on one clock. */
#define FLOW_LUA_NOW                                                                               \
    "local t = redis.call('TIME')\n"                                                               \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

#define FLOW_STR2(x) #x
#define FLOW_STR(x) FLOW_STR2(x)

const char flow_lua_gate[] =
    "local id, bridge, route, member = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"
    "local conc_max, cb_fail, cb_open = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])\n"
    "local rl_n, rl_per, probe_ms = tonumber(ARGV[8]), tonumber(ARGV[9]), "
    "tonumber(ARGV[10])\n"
    /* A route entry ("id/route") keeps its own reserved slot in the shared job hash. */
    "local slotf = string.find(id, '/', 1, true) and ('rl_slot/' .. route) or "
    "'rl_slot'\n" FLOW_LUA_NOW "local function park(list, tag, why, until_ms)\n"
    "  redis.call('LREM', KEYS[2], 1, id)\n"
    "  redis.call('LPUSH', list, id)\n"
    "  redis.call('SADD', KEYS[5], tag)\n"
    "  if until_ms > 0 then\n"
    "    redis.call('HSET', KEYS[1], 'waiting', why, 'wait_until', until_ms)\n"
    "  else\n"
    "    redis.call('HSET', KEYS[1], 'waiting', why)\n"
    "    redis.call('HDEL', KEYS[1], 'wait_until')\n"
    "  end\n"
    "  return {why, until_ms}\n"
    "end\n"
    "if redis.call('SISMEMBER', KEYS[4], bridge) == 1 then\n"
    "  return park(KEYS[10], 'p|' .. bridge, 'paused', 0)\n"
    "end\n"
    "local tag = bridge .. '|' .. route\n"
    "redis.call('HSET', KEYS[6], 'conc_max', conc_max, 'cb_failures', cb_fail, 'cb_open_ms', "
    "cb_open)\n"
    "local probe, fails = 0, 0\n"
    "if cb_fail > 0 then\n"
    "  local c = redis.call('HMGET', KEYS[6], 'fails', 'open_until', 'probe', 'probe_until')\n"
    "  fails = tonumber(c[1] or '0')\n"
    "  if fails >= cb_fail then\n"
    "    local open_until = tonumber(c[2] or '0')\n"
    "    if now < open_until then\n"
    "      return park(KEYS[9], 'k|' .. tag, 'circuit', open_until)\n"
    "    end\n"
    "    if c[3] and c[3] ~= id and tonumber(c[4] or '0') > now then\n"
    "      return park(KEYS[9], 'k|' .. tag, 'circuit', 0)\n"
    "    end\n"
    "    probe = 1\n"
    "  end\n"
    "end\n"
    "local leased = false\n"
    "if conc_max > 0 then\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now)\n"
    "  if not redis.call('ZSCORE', KEYS[7], member) and redis.call('ZCARD', KEYS[7]) >= conc_max "
    "then\n"
    "    return park(KEYS[8], 'c|' .. tag, 'concurrency', 0)\n"
    "  end\n"
    "  redis.call('ZADD', KEYS[7], now + " FLOW_STR(
        FLOW_LEASE_MS) ", member)\n"
                       "  redis.call('PEXPIRE', KEYS[7], 3 * " FLOW_STR(
                           FLOW_LEASE_MS) ")\n"
                                          "  leased = true\n"
                                          "end\n"
                                          "local function later(at)\n"
                                          "  if leased then redis.call('ZREM', KEYS[7], member) "
                                          "end\n"
                                          "  redis.call('LREM', KEYS[2], 1, id)\n"
                                          "  redis.call('ZADD', KEYS[3], at, id)\n"
                                          "  redis.call('ZADD', KEYS[13], at, id)\n"
                                          "  redis.call('HSET', KEYS[1], 'waiting', 'rate_limit', "
                                          "'wait_until', at)\n"
                                          "  return {'rate_limit', at}\n"
                                          "end\n"
                                          "if rl_n > 0 then\n"
                                          "  local slot = tonumber(redis.call('HGET', KEYS[1], "
                                          "slotf) or '0')\n"
                                          "  if slot == 0 then\n"
                                          /* Reserve the earliest start that keeps `requests`
                                           * reservations `per` apart: each job is scheduled once,
                                           * straight to its slot, so a backlog costs one call a
                                           * job, never a retry storm. */
                                          "    slot = now\n"
                                          "    if redis.call('LLEN', KEYS[11]) >= rl_n then\n"
                                          "      local first = tonumber(redis.call('LINDEX', "
                                          "KEYS[11], -rl_n))\n"
                                          "      if first + rl_per > slot then slot = first + "
                                          "rl_per end\n"
                                          "    end\n"
                                          "    redis.call('RPUSH', KEYS[11], slot)\n"
                                          "    redis.call('LTRIM', KEYS[11], -rl_n, -1)\n"
                                          "    redis.call('PEXPIRE', KEYS[11], slot - now + rl_per "
                                          "+ 1000)\n"
                                          "    if slot > now then\n"
                                          "      redis.call('HSET', KEYS[1], slotf, slot)\n"
                                          "      return later(slot)\n"
                                          "    end\n"
                                          "  end\n"
                                          /* A start must also keep the real starts apart: a job
                                           * promoted a little later than its slot must not let the
                                           * next one start less than `per` after it. */
                                          "  if redis.call('LLEN', KEYS[12]) >= rl_n then\n"
                                          "    local first = tonumber(redis.call('LINDEX', "
                                          "KEYS[12], -rl_n))\n"
                                          "    if first + rl_per > now then\n"
                                          "      if first + rl_per - now > 2000 then return "
                                          "later(first + rl_per) end\n"
                                          "      if leased then redis.call('ZREM', KEYS[7], "
                                          "member) end\n"
                                          "      return {'hold', first + rl_per - now}\n"
                                          "    end\n"
                                          "  end\n"
                                          "  redis.call('RPUSH', KEYS[12], now)\n"
                                          "  redis.call('LTRIM', KEYS[12], -rl_n, -1)\n"
                                          "  redis.call('PEXPIRE', KEYS[12], rl_per + 1000)\n"
                                          "  redis.call('HDEL', KEYS[1], slotf)\n"
                                          "  redis.call('ZREM', KEYS[13], id)\n"
                                          "end\n"
                                          "if probe == 1 then\n"
                                          "  redis.call('HSET', KEYS[6], 'probe', id, "
                                          "'probe_until', now + probe_ms)\n"
                                          "end\n"
                                          "redis.call('HDEL', KEYS[1], 'waiting', 'wait_until')\n"
                                          "return {'go', probe + 2 * math.min(fails, 1)}\n";

const char flow_lua_done[] =
    "local member, ok = ARGV[1], ARGV[2] == '1'\n"
    "local cb_fail, cb_open, id = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]\n" FLOW_LUA_NOW
    "local out = ''\n"
    "local function wake(list, to)\n"
    "  local w = redis.call('LMOVE', list, KEYS[5], 'RIGHT', to)\n"
    "  if w then\n"
    "    local e = string.find(w, '/', 1, true)\n"
    "    local j = e and string.sub(w, 1, e - 1) or w\n"
    "    redis.call('HDEL', ARGV[6] .. 'job:' .. j, 'waiting', 'wait_until')\n"
    "  end\n"
    "  return w\n"
    "end\n"
    "if member ~= '' then\n"
    "  redis.call('ZREM', KEYS[2], member)\n"
    "  wake(KEYS[3], 'RIGHT')\n"
    "end\n"
    "if cb_fail > 0 then\n"
    "  local c = redis.call('HMGET', KEYS[1], 'fails', 'probe')\n"
    "  local fails = tonumber(c[1] or '0')\n"
    "  if ok then\n"
    "    if fails > 0 then redis.call('HSET', KEYS[1], 'fails', 0) end\n"
    "    redis.call('HDEL', KEYS[1], 'open_until', 'probe', 'probe_until')\n"
    "    if fails >= cb_fail then\n"
    "      out = 'closed'\n"
    "      for i = 1, 1000 do\n"
    "        if not wake(KEYS[4], 'LEFT') then break end\n"
    "      end\n"
    "    end\n"
    "  else\n"
    "    fails = redis.call('HINCRBY', KEYS[1], 'fails', 1)\n"
    "    if fails == cb_fail or c[2] == id then\n"
    "      redis.call('HSET', KEYS[1], 'open_until', now + cb_open)\n"
    "      redis.call('HDEL', KEYS[1], 'probe', 'probe_until')\n"
    "      out = 'opened'\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return out\n";

const char flow_lua_sweep[] =
    "local prefix, batch = ARGV[1], tonumber(ARGV[2])\n" FLOW_LUA_NOW "local moved = 0\n"
    "local function move(list, n, to)\n"
    "  for i = 1, n do\n"
    "    local id = redis.call('LMOVE', list, KEYS[3], 'RIGHT', to)\n"
    "    if not id then return end\n"
    "    local e = string.find(id, '/', 1, true)\n"
    "    local j = e and string.sub(id, 1, e - 1) or id\n"
    "    redis.call('HDEL', prefix .. 'job:' .. j, 'waiting', 'wait_until')\n"
    "    moved = moved + 1\n"
    "  end\n"
    "end\n"
    "for _, m in ipairs(redis.call('SRANDMEMBER', KEYS[1], 100)) do\n"
    "  local kind, rest = string.sub(m, 1, 1), string.sub(m, 3)\n"
    "  local list\n"
    "  if kind == 'p' then\n"
    "    list = prefix .. 'flow:wait:' .. rest .. ':paused'\n"
    "    if redis.call('SISMEMBER', KEYS[2], rest) == 0 then move(list, batch, 'LEFT') end\n"
    "  else\n"
    "    local bar = string.find(rest, '|', 1, true) or 0\n"
    "    local base = string.sub(rest, 1, bar - 1) .. ':' .. string.sub(rest, bar + 1)\n"
    "    local h = prefix .. 'flow:route:' .. base\n"
    "    if kind == 'f' then\n"
    /* Parked for fairness: the worker that parked them takes them back as its slots free;
     * this moves them back to the queue when no worker has taken one for 5 s (it is gone),
     * not sooner, so as not to churn with it. */
    "      list = prefix .. 'flow:wait:' .. base .. ':fair'\n"
    "      if now - tonumber(redis.call('HGET', h, 'fair_pulled') or '0') > 5000 then\n"
    "        move(list, batch, 'LEFT')\n"
    "      end\n"
    "    elseif kind == 'c' then\n"
    "      list = prefix .. 'flow:wait:' .. base .. ':concurrency'\n"
    "      local z = prefix .. 'flow:conc:' .. base\n"
    "      redis.call('ZREMRANGEBYSCORE', z, '-inf', now)\n"
    "      local max = tonumber(redis.call('HGET', h, 'conc_max') or '0')\n"
    "      local free = batch\n"
    "      if max > 0 then free = math.min(batch, max - redis.call('ZCARD', z)) end\n"
    "      move(list, free, 'RIGHT')\n"
    "    else\n"
    "      list = prefix .. 'flow:wait:' .. base .. ':circuit'\n"
    "      local c = redis.call('HMGET', h, 'fails', 'open_until', 'probe', 'probe_until', "
    "'cb_failures')\n"
    "      local thr = tonumber(c[5] or '0')\n"
    "      if thr == 0 or tonumber(c[1] or '0') < thr then\n"
    "        move(list, batch, 'LEFT')\n"
    "      elseif now >= tonumber(c[2] or '0') and (not c[3] or tonumber(c[4] or '0') <= now) "
    "then\n"
    "        move(list, 1, 'RIGHT')\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  if redis.call('EXISTS', list) == 0 then redis.call('SREM', KEYS[1], m) end\n"
    "end\n"
    "return moved\n";

const char flow_lua_renew[] = FLOW_LUA_NOW
    "for i = 1, #ARGV, 2 do\n"
    "  redis.call('ZADD', ARGV[i], 'XX', now + " FLOW_STR(FLOW_LEASE_MS) ", ARGV[i + 1])\n"
                                                                         "end\n"
                                                                         "return 0\n";

const char flow_lua_stats[] =
    "local prefix = ARGV[1]\n" FLOW_LUA_NOW "local p, c, k = 0, 0, 0\n"
    "for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  local kind, rest = string.sub(m, 1, 1), string.sub(m, 3)\n"
    "  if kind == 'p' then\n"
    "    p = p + redis.call('LLEN', prefix .. 'flow:wait:' .. rest .. ':paused')\n"
    "  else\n"
    "    local bar = string.find(rest, '|', 1, true) or 0\n"
    "    local base = string.sub(rest, 1, bar - 1) .. ':' .. string.sub(rest, bar + 1)\n"
    "    if kind == 'c' then\n"
    "      c = c + redis.call('LLEN', prefix .. 'flow:wait:' .. base .. ':concurrency')\n"
    "    elseif kind == 'k' then\n"
    "      k = k + redis.call('LLEN', prefix .. 'flow:wait:' .. base .. ':circuit')\n"
    "    end\n"
    "  end\n"
    "end\n"
    /* An id whose slot is an hour past was aborted or deleted while it waited. */
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 3600000)\n"
    "return {p, redis.call('ZCARD', KEYS[2]), c, k}\n";

const char flow_lua_circuit_park[] =
    FLOW_LUA_NOW "if redis.call('SISMEMBER', KEYS[5], ARGV[2]) == 1 then return {'ask', 0} end\n"
                 "local c = redis.call('HMGET', KEYS[2], 'fails', 'open_until')\n"
                 "local open_until = tonumber(c[2] or '0')\n"
                 "if tonumber(c[1] or '0') < tonumber(ARGV[3]) or now >= open_until then\n"
                 "  return {'ask', 0}\n"
                 "end\n"
                 "for i = 5, #ARGV do\n"
                 "  local e = ARGV[i]\n"
                 "  local s = string.find(e, '/', 1, true)\n"
                 "  redis.call('LREM', KEYS[1], 1, e)\n"
                 "  redis.call('LPUSH', KEYS[3], e)\n"
                 "  redis.call('HSET', ARGV[4] .. 'job:' .. (s and string.sub(e, 1, s - 1) or e),\n"
                 "             'waiting', 'circuit', 'wait_until', open_until)\n"
                 "end\n"
                 "redis.call('SADD', KEYS[4], ARGV[1])\n"
                 "return {'circuit', open_until}\n";

const char flow_lua_fair_park[] =
    "redis.call('LREM', KEYS[1], 1, ARGV[1])\n"
    "redis.call('LPUSH', KEYS[2], ARGV[1])\n"
    "redis.call('SADD', KEYS[3], ARGV[2])\n"
    /* The walk: the entries next to be taken that are this route's would only be taken
     * and parked one by one, so they move now, in order, each from ready to the fair
     * list in one step (always in exactly one list). It stops at anything else: what
     * lies behind another bridge or route is not looked at (fairness to it). */
    "local s = string.find(ARGV[1], '/', 1, true)\n"
    "local sfx = s and string.sub(ARGV[1], s) or ''\n"
    "local n = 0\n"
    "while n < tonumber(ARGV[5]) do\n"
    "  local e = redis.call('LINDEX', KEYS[4], -1)\n"
    "  if not e then break end\n"
    "  local t = string.find(e, '/', 1, true)\n"
    "  if (t and string.sub(e, t) or '') ~= sfx then break end\n"
    "  local j = ARGV[4] .. 'job:' .. (t and string.sub(e, 1, t - 1) or e)\n"
    "  if redis.call('HGET', j, '" JOB_F_BRIDGE "') ~= ARGV[3] then break end\n"
    "  redis.call('LMOVE', KEYS[4], KEYS[2], 'RIGHT', 'LEFT')\n"
    "  n = n + 1\n"
    "end\n"
    "return 1 + n\n";

const char flow_lua_fair_pull[] =
    FLOW_LUA_NOW "redis.call('HSET', KEYS[3], 'fair_pulled', now)\n"
                 "local out = {}\n"
                 /* Each entry moves from the fair list to the in-flight list in one step,
                  * oldest first: in exactly one list at every moment. */
                 "for i = 1, tonumber(ARGV[2] or '1') do\n"
                 "  local id = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')\n"
                 "  if not id then break end\n"
                 "  local e = string.find(id, '/', 1, true)\n"
                 "  local j = e and string.sub(id, 1, e - 1) or id\n"
                 "  out[#out + 1] = id\n"
                 "  out[#out + 1] = redis.call('HGETALL', ARGV[1] .. 'job:' .. j)\n"
                 "end\n"
                 "return out\n";

const char flow_lua_fair_release[] = "local n = 0\n"
                                     "while n < 100000 do\n"
                                     "  if not redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', "
                                     "'LEFT') then break end\n"
                                     "  n = n + 1\n"
                                     "end\n"
                                     "return n\n";
