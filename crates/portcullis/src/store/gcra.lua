-- GCRA for every rate limit one request reaches, in order, atomically.
-- KEYS[i]: the limit's key. ARGV[1]: now in microseconds, 0 for the server's clock.
-- ARGV[3i-1], ARGV[3i], ARGV[3i+1]: emission interval and burst tolerance in microseconds,
-- and 1 when the limit is enforced (an exceeded enforced limit ends the request's checks).
-- Returns per limit {allowed (1/0), remaining, reset, retry after}, in microseconds.
-- Numbers are doubles: microseconds since the epoch stay exact (below 2^53).
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local out = {}
for i, key in ipairs(KEYS) do
  local t = tonumber(ARGV[3 * i - 1])
  local tau = tonumber(ARGV[3 * i])
  local enforce = ARGV[3 * i + 1] == '1'
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local new_tat = tat + t
  local ahead = new_tat - now
  if ahead > tau then
    out[i] = {0, 0, tat - now, ahead - tau}
    if enforce then return out end
  else
    -- The key lives until its arrival time has passed: then it is as good as new.
    redis.call('SET', key, string.format('%.0f', new_tat), 'PX', math.ceil(ahead / 1000) + 1)
    out[i] = {1, math.floor((tau - ahead) / t), ahead, 0}
  end
end
return out
