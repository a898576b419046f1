//! The shared backend: each check is one Lua script run atomically in Redis on Redis's own clock, so any
//! number of `tlink` processes pointed at the same Redis together allow exactly the limit.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::gcra::Decision;

/// [`super::gcra::step`] in Lua over several buckets in order, each with an optional lock-out, stopping at
/// the first refusal (later buckets are not counted). `KEYS` are (bucket, lock) pairs; `ARGV` is the window,
/// then (limit, lockout) per bucket. Returns `{allowed, remaining, reset_us, retry_after_us}` per bucket
/// checked, flattened.
const CHECK: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS / 2 do
  local key, lock = KEYS[2 * i - 1], KEYS[2 * i]
  local limit = tonumber(ARGV[2 * i])
  local lockout = tonumber(ARGV[2 * i + 1])
  local r
  local pttl = -1
  if lockout > 0 then pttl = redis.call('PTTL', lock) end
  if pttl > 0 then
    r = {0, 0, pttl * 1000, pttl * 1000}
  else
    local interval = math.max(math.floor(window / limit), 1)
    local burst = interval * limit
    local tat = math.max(tonumber(redis.call('GET', key) or '0'), now)
    local new_tat = tat + interval
    if new_tat - now > burst then
      if lockout > 0 then
        redis.call('SET', lock, '1', 'PX', math.ceil(lockout / 1000))
        r = {0, 0, lockout, lockout}
      else
        r = {0, 0, tat - now, new_tat - now - burst}
      end
    else
      redis.call('SET', key, string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
      r = {1, math.floor((burst - (new_tat - now)) / interval), new_tat - now, 0}
    end
  end
  for j = 1, 4 do out[#out + 1] = r[j] end
  if r[1] == 0 then break end
end
return out
";

/// A Redis connection that is (re)established in the background; until it is, checks fail.
#[derive(Clone)]
pub struct Shared {
    conn: Arc<RwLock<Option<ConnectionManager>>>,
    script: Arc<redis::Script>,
    prefix: String,
}

impl Shared {
    /// Starts connecting to `url` in the background.
    ///
    /// # Errors
    /// A malformed URL.
    pub fn connect(url: &str, timeout: Duration, prefix: &str) -> anyhow::Result<Shared> {
        let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("invalid redis_url: {e}"))?;
        let shared = Shared {
            conn: Arc::new(RwLock::new(None)),
            script: Arc::new(redis::Script::new(CHECK)),
            prefix: prefix.to_string(),
        };
        let slot = shared.conn.clone();
        tokio::spawn(async move {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(2);
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

    /// GCRA steps on several buckets in one atomic script (see [`CHECK`]): `(key, limit, lockout_us)` each.
    pub async fn check(&self, buckets: &[(String, u32, u64)], window_us: u64) -> redis::RedisResult<Vec<Decision>> {
        let mut conn = self.connection()?;
        let mut inv = self.script.prepare_invoke();
        inv.arg(window_us);
        for (key, limit, lockout) in buckets {
            inv.key(format!("{}rl:{key}", self.prefix)).key(format!("{}lock:{key}", self.prefix));
            inv.arg((*limit).max(1)).arg(*lockout);
        }
        let flat: Vec<i64> = inv.invoke_async(&mut conn).await?;
        let pos = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(flat
            .chunks_exact(4)
            .zip(buckets)
            .map(|(r, (_, limit, _))| Decision {
                allowed: r[0] == 1,
                limit: *limit,
                remaining: u32::try_from(r[1]).unwrap_or(0),
                reset_us: pos(r[2]),
                retry_after_us: pos(r[3]),
            })
            .collect())
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
