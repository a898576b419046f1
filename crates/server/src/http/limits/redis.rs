//! The shared backend: each check is one Lua script run atomically in Redis on Redis's own clock, so any
//! number of `tlink` processes pointed at the same Redis together allow exactly the limit.

use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

use parking_lot::{Mutex, RwLock};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::gcra::Decision;
use super::gcra::{TRIM_AT, now_us};

/// Records a lock-out of bucket `key` until `until_us`, dropping ended ones when the map grows.
fn remember(locks: &Mutex<HashMap<String, u64>>, key: &str, until_us: u64) {
    let mut m = locks.lock();
    if m.len() >= TRIM_AT {
        let now = now_us();
        m.retain(|_, until| *until > now);
    }
    m.insert(key.to_string(), until_us);
}

/// [`super::gcra::step`] in Lua over several buckets in order, each with an optional lock-out, stopping at
/// the first refusal (later buckets are not counted). `KEYS` are (bucket, lock) pairs; `ARGV` is the window
/// and the lock-out channel, then (limit, lockout, want) per bucket. An allowed bucket may reserve up to
/// `want` units at once (a lease, see [`Shared::check`]), but never more than a sixteenth of what it has
/// left, so near its limit every request is decided here, one unit at a time. A new lock-out is published
/// on the channel as `<bucket key> <microseconds>`. Returns `{allowed, remaining, reset_us, retry_after_us,
/// granted}` per bucket checked, flattened.
const CHECK: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS / 2 do
  local key, lock = KEYS[2 * i - 1], KEYS[2 * i]
  local limit = tonumber(ARGV[3 * i])
  local lockout = tonumber(ARGV[3 * i + 1])
  local want = tonumber(ARGV[3 * i + 2])
  local r
  local pttl = -1
  if lockout > 0 then pttl = redis.call('PTTL', lock) end
  if pttl > 0 then
    r = {0, 0, pttl * 1000, pttl * 1000, 0}
  else
    local interval = math.max(math.floor(window / limit), 1)
    local burst = interval * limit
    local tat = math.max(tonumber(redis.call('GET', key) or '0'), now)
    local new_tat = tat + interval
    if new_tat - now > burst then
      if lockout > 0 then
        redis.call('SET', lock, '1', 'PX', math.ceil(lockout / 1000))
        redis.call('PUBLISH', ARGV[2], key .. ' ' .. lockout)
        r = {0, 0, lockout, lockout, 0}
      else
        r = {0, 0, tat - now, new_tat - now - burst, 0}
      end
    else
      local avail = math.floor((burst - (tat - now)) / interval)
      local granted = math.min(want, math.max(1, math.floor(avail / 16)))
      new_tat = tat + granted * interval
      redis.call('SET', key, string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
      r = {1, math.floor((burst - (new_tat - now)) / interval), new_tat - now, 0, granted}
    end
  end
  for j = 1, 5 do out[#out + 1] = r[j] end
  if r[1] == 0 then break end
end
return out
";

/// Failed logins ([`crate::http::auth::LoginThrottle`]): a sorted set per key of failure times on Redis's clock.
/// Drops the failures older than the window (`ARGV[1]`, microseconds) and returns the longest wait, in
/// microseconds, among the `KEYS` holding `ARGV[2]` failures or more (0: none is blocked).
const LOGIN_WAIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window, max = tonumber(ARGV[1]), tonumber(ARGV[2])
local wait = 0
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if redis.call('ZCARD', KEYS[i]) >= max then
    local oldest = tonumber(redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')[2])
    wait = math.max(wait, oldest + window - now)
  end
end
return wait
";

/// Records a failed login on every key: adds now (member made unique by `ARGV[3]`), keeps the newest
/// `ARGV[2]` failures, and lets the set expire a window (`ARGV[1]`, microseconds) after the last one.
const LOGIN_FAILED: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window, max = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now, now .. ':' .. ARGV[3])
  redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(max + 1))
  redis.call('PEXPIRE', KEYS[i], math.ceil(window / 1000))
end
return 0
";

static LOGIN_WAIT_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(LOGIN_WAIT));
static LOGIN_FAILED_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(LOGIN_FAILED));

/// How long reserved units may be used; unused ones are then given up (the bucket refills over time).
const LEASE_TTL_US: u64 = 1_000_000;

/// Units of one bucket this process reserved in Redis and has not used yet.
#[derive(Debug, Clone, Copy)]
struct Lease {
    left: u32,
    limit: u32,
    /// What Redis had left for others when it granted the lease.
    remote_remaining: u32,
    /// When the bucket is full again (unix microseconds), as of the grant.
    full_at_us: u64,
    expires_us: u64,
}

impl Lease {
    /// Units still usable at `now` for a bucket of `limit` a minute: none once the lease has expired, or
    /// when the bucket's limit changed since the grant.
    fn usable(&self, now: u64, limit: u32) -> u32 {
        if self.expires_us > now && self.limit == limit { self.left } else { 0 }
    }
}

/// A Redis connection that is (re)established in the background; until it is, checks fail.
#[derive(Clone)]
pub struct Shared {
    conn: Arc<RwLock<Option<ConnectionManager>>>,
    script: Arc<redis::Script>,
    prefix: String,
    /// Reserved units per bucket key (see [`Shared::check`]).
    leases: Arc<Mutex<HashMap<String, Lease>>>,
    /// Lock-outs published by any process (bucket key → until, unix microseconds).
    locks: Arc<Mutex<HashMap<String, u64>>>,
    /// Most units one check may reserve for later requests of the same bucket in this process (0 or 1:
    /// none, every check is decided in Redis).
    lease_max: u32,
}

impl Shared {
    /// Starts connecting to `url` in the background.
    ///
    /// # Errors
    /// A malformed URL.
    pub fn connect(url: &str, timeout: Duration, prefix: &str, lease_max: u32) -> anyhow::Result<Shared> {
        let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("invalid redis_url: {e}"))?;
        let shared = Shared {
            conn: Arc::new(RwLock::new(None)),
            script: Arc::new(redis::Script::new(CHECK)),
            prefix: prefix.to_string(),
            leases: Arc::default(),
            locks: Arc::default(),
            lease_max,
        };
        shared.listen(client.clone());
        let slot = shared.conn.clone();
        tokio::spawn(async move {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                // No retries inside a request: while Redis is down each check fails after at most
                // `redis_timeout_ms` (and falls back), instead of waiting out reconnection attempts; the
                // manager reconnects on later use.
                .set_number_of_retries(0);
            let mut wait = Duration::from_millis(200);
            loop {
                match ConnectionManager::new_with_config(client.clone(), config.clone()).await {
                    Ok(c) => {
                        tracing::info!("connected to Redis for shared rate limits");
                        *slot.write() = Some(c);
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "connecting to Redis failed; retrying");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(5));
                    }
                }
            }
        });
        Ok(shared)
    }

    /// Waits up to `within` for the first connection; whether it is up.
    pub async fn wait_connected(&self, within: Duration) -> bool {
        let until = tokio::time::Instant::now() + within;
        while self.conn.read().is_none() {
            if tokio::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        self.conn
            .read()
            .clone()
            .ok_or_else(|| redis::RedisError::from((redis::ErrorKind::Io, "not connected to Redis yet")))
    }

    fn channel(&self) -> String {
        format!("{}lockouts", self.prefix)
    }

    /// Follows the lock-out channel: a lock-out set by any process drops this process's lease on the
    /// bucket and is remembered until it ends, so it is refused here without asking Redis. Reconnects
    /// with backoff.
    fn listen(&self, client: redis::Client) {
        let (leases, locks, channel, prefix) =
            (self.leases.clone(), self.locks.clone(), self.channel(), format!("{}rl:", self.prefix));
        tokio::spawn(async move {
            let mut wait = Duration::from_millis(200);
            loop {
                match client.get_async_pubsub().await {
                    Ok(mut pubsub) => {
                        if pubsub.subscribe(&channel).await.is_ok() {
                            wait = Duration::from_millis(200);
                            let mut messages = pubsub.on_message();
                            while let Some(msg) = futures_util::StreamExt::next(&mut messages).await {
                                let Ok(text) = msg.get_payload::<String>() else { continue };
                                let Some((key, lockout)) = text.rsplit_once(' ') else { continue };
                                let (Some(key), Ok(lockout)) = (key.strip_prefix(&prefix), lockout.parse::<u64>())
                                else {
                                    continue;
                                };
                                leases.lock().remove(key);
                                remember(&locks, key, now_us() + lockout);
                            }
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "lock-out channel unavailable; retrying"),
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        });
    }

    /// A lock-out of bucket `key` this process knows of: microseconds left.
    pub fn known_lock(&self, key: &str) -> Option<u64> {
        let now = now_us();
        self.locks.lock().get(key).copied().filter(|&until| until > now).map(|until| until - now)
    }

    /// GCRA steps on several buckets, `(key, limit, lockout_us)` each, as [`CHECK`] defines them, in one
    /// round trip — or in none: when every bucket has units this process reserved earlier (a lease), they
    /// are used here. Redis grants leases only while a bucket is far from its limit (at most a sixteenth of
    /// what is left, at most `limits.redis_lease_max`, for [`LEASE_TTL_US`]), so all processes together never allow
    /// more than the limit, and near it every request is decided by Redis. Unused units are given up when
    /// the lease ends, and a lock-out anywhere ends the bucket's leases everywhere (published by the
    /// script). With leases the remaining counts in headers are this process's view.
    pub async fn check(&self, buckets: &[(String, u32, u64)], window_us: u64) -> redis::RedisResult<Vec<Decision>> {
        let now = now_us();
        if let Some(local) = self.decide_locally(buckets, now) {
            return Ok(local);
        }
        // A bucket that still holds reserved units asks only for what tops it up to `lease_max`, so a
        // reservation does not grow with every round trip another bucket of the request needs.
        let wants: Vec<u32> = {
            let leases = self.leases.lock();
            buckets
                .iter()
                .map(|(key, limit, _)| {
                    let held = leases.get(key).map_or(0, |l| l.usable(now, *limit));
                    self.lease_max.saturating_sub(held).max(1)
                })
                .collect()
        };
        let mut conn = self.connection()?;
        let mut inv = self.script.prepare_invoke();
        inv.arg(window_us).arg(self.channel());
        for ((key, limit, lockout), want) in buckets.iter().zip(wants) {
            inv.key(format!("{}rl:{key}", self.prefix)).key(format!("{}lock:{key}", self.prefix));
            inv.arg((*limit).max(1)).arg(*lockout).arg(want);
        }
        let flat: Vec<i64> = inv.invoke_async(&mut conn).await?;
        let pos = |v: i64| u64::try_from(v).unwrap_or(0);
        let now = now_us();
        let mut out = Vec::with_capacity(buckets.len());
        let mut leases = self.leases.lock();
        for (r, (key, limit, lockout)) in flat.chunks_exact(5).zip(buckets) {
            let d = Decision {
                allowed: r[0] == 1,
                limit: *limit,
                remaining: u32::try_from(r[1]).unwrap_or(0),
                reset_us: pos(r[2]),
                retry_after_us: pos(r[3]),
            };
            let granted = u32::try_from(r[4]).unwrap_or(0);
            if granted > 1 {
                if leases.len() >= TRIM_AT {
                    leases.retain(|_, l| l.expires_us > now);
                }
                let lease = leases.entry(key.clone()).or_insert(Lease {
                    left: 0,
                    limit: *limit,
                    remote_remaining: 0,
                    full_at_us: 0,
                    expires_us: 0,
                });
                lease.left = lease.usable(now, *limit) + granted - 1;
                lease.limit = *limit;
                lease.remote_remaining = d.remaining;
                lease.full_at_us = now + d.reset_us;
                lease.expires_us = now + LEASE_TTL_US;
            } else if !d.allowed {
                leases.remove(key);
                if *lockout > 0 {
                    remember(&self.locks, key, now + d.retry_after_us);
                }
            }
            out.push(Decision { remaining: d.remaining + leases.get(key).map_or(0, |l| l.left), ..d });
        }
        Ok(out)
    }

    /// The decisions when every bucket has a live lease (using one unit of each), or when one of them is
    /// under a known lock-out (refused); `None` when Redis must decide.
    fn decide_locally(&self, buckets: &[(String, u32, u64)], now: u64) -> Option<Vec<Decision>> {
        // Only a first bucket can be refused before the others are counted (lock-outs are on IP buckets,
        // which come first).
        if let Some((key, limit, _)) = buckets.first()
            && let Some(left) = self.known_lock(key)
        {
            return Some(vec![Decision::locked(*limit, left)]);
        }
        let mut leases = self.leases.lock();
        let usable = buckets.iter().all(|(key, limit, _)| leases.get(key).is_some_and(|l| l.usable(now, *limit) > 0));
        if !usable {
            return None;
        }
        Some(
            buckets
                .iter()
                .filter_map(|(key, _, _)| {
                    let l = leases.get_mut(key)?;
                    l.left -= 1;
                    Some(Decision {
                        allowed: true,
                        limit: l.limit,
                        remaining: l.remote_remaining + l.left,
                        reset_us: l.full_at_us.saturating_sub(now),
                        retry_after_us: 0,
                    })
                })
                .collect(),
        )
    }

    fn login_key(&self, key: &str) -> String {
        format!("{}login:{key}", self.prefix)
    }

    /// The longest wait, in microseconds, among `keys` with `max` failed logins within `window_us`; 0 when
    /// none is blocked.
    pub async fn login_wait(&self, keys: &[String], max: u32, window_us: u64) -> redis::RedisResult<u64> {
        let mut conn = self.connection()?;
        let mut inv = LOGIN_WAIT_SCRIPT.prepare_invoke();
        for key in keys {
            inv.key(self.login_key(key));
        }
        inv.arg(window_us).arg(max.max(1));
        let wait: i64 = inv.invoke_async(&mut conn).await?;
        Ok(u64::try_from(wait).unwrap_or(0))
    }

    /// Counts a failed login against every key.
    pub async fn login_failed(&self, keys: &[String], max: u32, window_us: u64) -> redis::RedisResult<()> {
        let mut conn = self.connection()?;
        let mut inv = LOGIN_FAILED_SCRIPT.prepare_invoke();
        for key in keys {
            inv.key(self.login_key(key));
        }
        inv.arg(window_us).arg(max.max(1)).arg(rand::random::<u64>());
        inv.invoke_async::<i64>(&mut conn).await.map(|_| ())
    }

    /// Forgets the failed logins of `key`.
    pub async fn login_clear(&self, key: &str) -> redis::RedisResult<()> {
        let mut conn = self.connection()?;
        redis::cmd("DEL").arg(self.login_key(key)).query_async::<i64>(&mut conn).await.map(|_| ())
    }

    /// Records `key` for `ttl`; false if it was already recorded (a replayed nonce).
    pub async fn first_use(&self, key: &str, ttl: Duration) -> redis::RedisResult<bool> {
        let mut conn = self.connection()?;
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let set: Option<String> = redis::cmd("SET")
            .arg(format!("{}nonce:{key}", self.prefix))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ms)
            .query_async(&mut conn)
            .await?;
        Ok(set.is_some())
    }
}
