//! [`RedisStore`]: GCRA counted atomically in Redis, one script call per request.
//!
//! The script (`gcra.lua`) runs every check of a request in order, at Redis's own clock (so
//! servers with skewed clocks agree) unless the request carries its own time, and stops
//! after the first exceeded enforced limit, as the in-process limiter does. Each key lives
//! until its theoretical arrival time has passed (at most one period plus the burst), so
//! Redis holds only active keys. Keys are `PREFIX:{HASH}`: the hash of the rule and the
//! client's key parts (client text never becomes a key), in braces so Redis Cluster slots
//! by it ([`RedisStore::connect_cluster`]: there a request's limits may live on several
//! nodes, and each is one script call, in order).
//!
//! The connection lives on a small runtime of the store's own (one worker thread), so the
//! store serves synchronous and asynchronous embedders alike and any executor; it
//! reconnects by itself. Every call is bounded by `RedisOptions::timeout`; a failed or late
//! call is answered from the [`FailureMode`], and after `breaker_failures` failures in a
//! row the store stops asking Redis (the circuit is open) and probes it once per cooldown
//! until it answers again.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use portcullis_decide::{intervals, LimitCheck, RateCheck, RateLimiter};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use siphasher::sip::SipHasher13;
use std::hash::Hasher;

use super::{Answers, RateStore};

/// Where the store logs that it stopped or resumed asking Redis.
const STORE_TARGET: &str = "portcullis::store";

/// The GCRA script. KEYS: one per check. ARGV[1]: the time in microseconds, or 0 for
/// Redis's clock; then per check: emission interval and burst tolerance in microseconds,
/// and 1 when enforced. Returns per check {allowed, remaining, reset, retry after}, in
/// microseconds.
const SCRIPT: &str = include_str!("gcra.lua");

/// What the store does with a request's limits when Redis does not answer in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureMode {
    /// Count in process, each limit and burst divided by the expected number of servers
    /// (at least 1): the fleet as a whole stays near its limit. The default, with 1.
    Local {
        /// How many servers share the limits.
        instances: u32,
    },
    /// Let the request through uncounted.
    Open,
    /// Refuse with the limit's status (429 by default) and a `Retry-After` of one
    /// emission interval.
    Closed,
}

/// How a [`RedisStore`] connects and fails.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// Prefix of every key (default `portcullis`); servers sharing limits share it, and it
    /// seeds the key hash, so two prefixes never share a count.
    pub prefix: String,
    /// The longest a request waits for Redis (default 5 ms).
    pub timeout: Duration,
    /// The longest connecting may take (default 1 s).
    pub connect_timeout: Duration,
    /// What happens when Redis does not answer in time.
    pub failure_mode: FailureMode,
    /// Failures in a row that open the circuit (default 3).
    pub breaker_failures: u32,
    /// How long the open circuit waits before it probes Redis (default 1 s).
    pub breaker_cooldown: Duration,
    /// Keys the local fallback remembers (default 100,000).
    pub fallback_keys: usize,
}

impl Default for RedisOptions {
    fn default() -> RedisOptions {
        RedisOptions {
            prefix: "portcullis".to_string(),
            timeout: Duration::from_millis(5),
            connect_timeout: Duration::from_secs(1),
            failure_mode: FailureMode::Local { instances: 1 },
            breaker_failures: 3,
            breaker_cooldown: Duration::from_secs(1),
            fallback_keys: 100_000,
        }
    }
}

/// Why a [`RedisStore`] could not be made.
#[derive(Debug)]
pub struct StoreError(String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// Rate limits shared through Redis (see the module docs of [`crate::store`]).
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// Always `Some` but in `drop`.
    runtime: Option<tokio::runtime::Runtime>,
    conn: Conn,
    script: redis::Script,
    options: RedisOptions,
    seed: (u64, u64),
    url: String,
    fallback: RateLimiter,
    breaker: Breaker,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.inner.url)
            .field("prefix", &self.inner.options.prefix)
            .field("circuit_open", &self.circuit_open())
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://[USER:PASSWORD@]HOST:PORT[/DB]`; `rediss://`, TLS, is
    /// not built in) and checks that the server answers.
    ///
    /// # Errors
    ///
    /// A URL that does not parse, or a server that does not answer a `PING` within
    /// `connect_timeout`.
    pub fn connect(url: &str, options: RedisOptions) -> Result<RedisStore, StoreError> {
        RedisStore::connect_lazy(url, options)?.ping()
    }

    /// As [`RedisStore::connect`], without waiting for the server: a server down at start
    /// is treated as one that went down later (the failure mode applies until it answers).
    ///
    /// # Errors
    ///
    /// A URL that does not parse, or options out of range.
    pub fn connect_lazy(url: &str, options: RedisOptions) -> Result<RedisStore, StoreError> {
        let client =
            redis::Client::open(url).map_err(|e| StoreError(format!("redis URL `{url}`: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.timeout.max(Duration::from_millis(50))))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        RedisStore::build(url.to_string(), options, |rt| {
            let _guard = rt.enter();
            ConnectionManager::new_lazy_with_config(client, config)
                .map(Conn::Single)
                .map_err(|e| StoreError(format!("redis at {url}: {e}")))
        })
    }

    /// Connects to a Redis Cluster through any of its `nodes` (URLs as for
    /// [`RedisStore::connect`]) and checks that it answers. Keys are spread over the slots
    /// by their hash; a request whose limits live on several nodes is one call per limit,
    /// in rule order (a request reaching one limit, the common case, is one round trip).
    ///
    /// # Errors
    ///
    /// URLs that do not parse, or a cluster that does not answer within
    /// `connect_timeout`.
    pub fn connect_cluster<S: AsRef<str>>(
        nodes: &[S],
        options: RedisOptions,
    ) -> Result<RedisStore, StoreError> {
        let urls: Vec<&str> = nodes.iter().map(AsRef::as_ref).collect();
        let name = urls.join(",");
        if urls.is_empty() {
            return Err(StoreError("redis cluster: no node given".to_string()));
        }
        let client = redis::cluster::ClusterClient::builder(urls)
            .connection_timeout(options.connect_timeout)
            .response_timeout(options.timeout.max(Duration::from_millis(50)))
            .retries(1)
            .build()
            .map_err(|e| StoreError(format!("redis cluster `{name}`: {e}")))?;
        let config = redis::cluster::ClusterConfig::new()
            .set_connection_timeout(options.connect_timeout)
            .set_response_timeout(options.timeout.max(Duration::from_millis(50)));
        RedisStore::build(name, options, |rt| {
            let _guard = rt.enter();
            Ok(Conn::Cluster(
                client.get_pending_async_connection_with_config(config),
            ))
        })?
        .ping()
    }

    fn build(
        url: String,
        options: RedisOptions,
        conn: impl FnOnce(&tokio::runtime::Runtime) -> Result<Conn, StoreError>,
    ) -> Result<RedisStore, StoreError> {
        if options.prefix.is_empty() || options.prefix.len() > 64 {
            return Err(StoreError(
                "redis key prefix: 1 to 64 bytes expected".to_string(),
            ));
        }
        if options.timeout.is_zero() {
            return Err(StoreError("redis timeout: must be above zero".to_string()));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("portcullis-redis")
            .enable_all()
            .build()
            .map_err(|e| StoreError(format!("redis store runtime: {e}")))?;
        let conn = conn(&runtime)?;
        let mut h = SipHasher13::new_with_keys(0x706f_7274_6375_6c6c, 0x6973_2d72_6c2d_6b65);
        h.write(options.prefix.as_bytes());
        let k0 = h.finish();
        h.write(b"/1");
        let seed = (k0, h.finish());
        Ok(RedisStore {
            inner: Arc::new(Inner {
                runtime: Some(runtime),
                conn,
                script: redis::Script::new(SCRIPT),
                fallback: RateLimiter::new(options.fallback_keys),
                breaker: Breaker::new(),
                seed,
                url,
                options,
            }),
        })
    }

    /// The store, once its server answered a `PING` within `connect_timeout`.
    fn ping(self) -> Result<RedisStore, StoreError> {
        let inner = &self.inner;
        let Some(runtime) = &inner.runtime else {
            return Err(StoreError("redis store runtime: gone".to_string()));
        };
        let mut conn = inner.conn.clone();
        // On the store's runtime, waited for on a plain channel: this works from async
        // code too (where `block_on` would panic), blocking the caller at most this long.
        let wait = inner.options.connect_timeout;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        drop(runtime.spawn(async move {
            let ping = tokio::time::timeout(wait, conn.ping()).await;
            let _ = tx.send(ping);
        }));
        let url = &inner.url;
        match rx.recv_timeout(wait + Duration::from_millis(100)) {
            Ok(Ok(Ok(()))) => Ok(self),
            Ok(Ok(Err(e))) => Err(StoreError(format!("redis at {url}: {e}"))),
            Ok(Err(_)) | Err(_) => Err(StoreError(format!(
                "redis at {url}: no answer within {wait:?}"
            ))),
        }
    }

    /// Whether the circuit is open: the store answers from its failure mode without asking
    /// Redis, but for one probe per cooldown.
    #[must_use]
    pub fn circuit_open(&self) -> bool {
        self.inner.breaker.failures.load(Ordering::Relaxed) >= self.inner.options.breaker_failures
    }

    /// The Redis key of a check (for operators looking into Redis, and tests).
    #[must_use]
    pub fn key_of(&self, check: &LimitCheck) -> String {
        key(&self.inner.options.prefix, check.key)
    }
}

impl RateStore for RedisStore {
    fn seed(&self) -> (u64, u64) {
        self.inner.seed
    }

    fn check(&self, checks: &[LimitCheck], done: Box<dyn FnOnce(Answers) + Send>) {
        let inner = &self.inner;
        if !inner.breaker.admit(&inner.options) {
            done(inner.fail(checks));
            return;
        }
        let now_us = checks
            .iter()
            .find_map(|c| c.now_ns)
            .map_or(0, |ns| ns / 1000);
        let keys: Vec<String> = checks
            .iter()
            .map(|c| key(&inner.options.prefix, c.key))
            .collect();
        let checks: Vec<LimitCheck> = checks.to_vec();
        let mut conn = inner.conn.clone();
        let me = Arc::clone(inner);
        let call = async move {
            let started = Instant::now();
            let answer = tokio::time::timeout(
                me.options.timeout,
                conn.run(&me.script, now_us, &keys, &checks),
            )
            .await;
            let parsed = match answer {
                Ok(Ok(rows)) => parse(&rows, &checks),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {:?}", started.elapsed())),
            };
            match parsed {
                Ok(a) => {
                    me.breaker.success(&me.url);
                    done(a);
                }
                Err(why) => {
                    me.breaker.failure(&me.options, &me.url, &why);
                    done(me.fail(&checks));
                }
            }
        };
        // Without a runtime (never, but in drop) the call and its `done` are dropped, which
        // answers the request as unavailable.
        if let Some(rt) = &inner.runtime {
            drop(rt.spawn(call));
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropping a runtime waits for its threads, which an async context forbids: the
        // last engine holding the store may well be dropped inside a task.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Inner {
    /// The answers of the failure mode.
    fn fail(&self, checks: &[LimitCheck]) -> Answers {
        let mut out = Vec::with_capacity(checks.len());
        for c in checks {
            let a = match self.options.failure_mode {
                FailureMode::Open => None,
                FailureMode::Closed => Some(RateCheck {
                    allowed: false,
                    remaining: 0,
                    reset_ns: 0,
                    retry_after_ns: intervals(c.limit, c.period_ns, c.burst).0,
                }),
                FailureMode::Local { instances } => {
                    let share = |n: u32| (n / instances.max(1)).max(1);
                    let now = c.now_ns.unwrap_or_else(wall_ns);
                    // The low half of a keyed 128-bit hash is a keyed 64-bit hash.
                    #[allow(clippy::cast_possible_truncation)]
                    let key = c.key as u64;
                    Some(
                        self.fallback
                            .check(key, now, share(c.limit), c.period_ns, share(c.burst)),
                    )
                }
            };
            let stop = c.enforce && a.is_some_and(|a| !a.allowed);
            out.push(a);
            if stop {
                break;
            }
        }
        Answers {
            checks: out,
            unavailable: true,
        }
    }
}

/// A connection to one server, or to a cluster; both reconnect by themselves.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Conn {
    async fn ping(&mut self) -> redis::RedisResult<()> {
        let cmd = redis::cmd("PING");
        match self {
            Conn::Single(c) => cmd.query_async::<String>(c).await.map(drop),
            Conn::Cluster(c) => cmd.query_async::<String>(c).await.map(drop),
        }
    }

    /// The script's rows for `checks`: one call on one server; on a cluster, whose nodes
    /// each hold some keys, one call per check, in order, stopping after the first
    /// exceeded enforced limit as the script does.
    async fn run(
        &mut self,
        script: &redis::Script,
        now_us: u64,
        keys: &[String],
        checks: &[LimitCheck],
    ) -> redis::RedisResult<Vec<Vec<i64>>> {
        match self {
            Conn::Single(c) => invoke(script, now_us, keys, checks, c).await,
            Conn::Cluster(c) => {
                let mut rows = Vec::with_capacity(checks.len());
                for (k, check) in keys.iter().zip(checks) {
                    let one = std::slice::from_ref(check);
                    let got = invoke(script, now_us, std::slice::from_ref(k), one, c).await?;
                    let refused = got.first().and_then(|r| r.first()) == Some(&0);
                    rows.extend(got);
                    if check.enforce && refused {
                        break;
                    }
                }
                Ok(rows)
            }
        }
    }
}

/// One script call for `checks`.
async fn invoke(
    script: &redis::Script,
    now_us: u64,
    keys: &[String],
    checks: &[LimitCheck],
    conn: &mut impl redis::aio::ConnectionLike,
) -> redis::RedisResult<Vec<Vec<i64>>> {
    let mut invocation = script.prepare_invoke();
    invocation.arg(now_us);
    for (k, c) in keys.iter().zip(checks) {
        let (t, tau) = intervals(c.limit, c.period_ns, c.burst);
        invocation
            .key(k)
            .arg((t / 1000).max(1))
            .arg((tau / 1000).max(1))
            .arg(u8::from(c.enforce));
    }
    invocation.invoke_async(conn).await
}

fn key(prefix: &str, hash: u128) -> String {
    format!("{prefix}:{{{hash:032x}}}")
}

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The script's rows as answers; anything else is an error (a store answering garbage is
/// an unavailable store).
fn parse(rows: &[Vec<i64>], checks: &[LimitCheck]) -> Result<Answers, String> {
    if rows.is_empty() || rows.len() > checks.len() {
        return Err(format!("{} answers to {} checks", rows.len(), checks.len()));
    }
    let mut out = Vec::with_capacity(rows.len());
    let mut refused = false;
    for (row, check) in rows.iter().zip(checks) {
        let &[allowed, remaining, reset, retry] = row.as_slice() else {
            return Err(format!("an answer of {} values, 4 expected", row.len()));
        };
        let us = |v: i64| u64::try_from(v).map(|v| v.saturating_mul(1000));
        let (Ok(reset_ns), Ok(retry_after_ns), Ok(remaining)) =
            (us(reset), us(retry), u32::try_from(remaining))
        else {
            return Err("a negative or huge value in an answer".to_string());
        };
        let allowed = match allowed {
            1 => true,
            0 => false,
            _ => return Err(format!("allowed = {allowed}")),
        };
        out.push(Some(RateCheck {
            allowed,
            remaining,
            reset_ns,
            retry_after_ns,
        }));
        if check.enforce && !allowed {
            refused = true;
            break;
        }
    }
    if out.len() != rows.len() || (out.len() < checks.len() && !refused) {
        return Err(format!("{} answers to {} checks", rows.len(), checks.len()));
    }
    Ok(Answers {
        checks: out,
        unavailable: false,
    })
}

/// The circuit breaker: failures in a row, and when the open circuit next lets a probe by.
struct Breaker {
    started: Instant,
    failures: AtomicU32,
    /// Milliseconds since `started` before which no probe is sent.
    next_probe_ms: AtomicU64,
}

impl Breaker {
    fn new() -> Breaker {
        Breaker {
            started: Instant::now(),
            failures: AtomicU32::new(0),
            next_probe_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether to ask Redis: always while closed; while open, one caller per cooldown.
    fn admit(&self, o: &RedisOptions) -> bool {
        if self.failures.load(Ordering::Relaxed) < o.breaker_failures {
            return true;
        }
        let now = self.now_ms();
        let next = self.next_probe_ms.load(Ordering::Relaxed);
        let cooldown = u64::try_from(o.breaker_cooldown.as_millis()).unwrap_or(u64::MAX);
        now >= next
            && self
                .next_probe_ms
                .compare_exchange(
                    next,
                    now.saturating_add(cooldown),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    fn success(&self, url: &str) {
        if self.failures.swap(0, Ordering::AcqRel) > 0 {
            tracing::info!(target: STORE_TARGET, url, "redis answers again: limits shared");
        }
    }

    fn failure(&self, o: &RedisOptions, url: &str, why: &str) {
        let n = self
            .failures
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        if n == o.breaker_failures {
            let cooldown = u64::try_from(o.breaker_cooldown.as_millis()).unwrap_or(u64::MAX);
            self.next_probe_ms
                .store(self.now_ms().saturating_add(cooldown), Ordering::Release);
            tracing::warn!(
                target: STORE_TARGET,
                url,
                error = why,
                failure_mode = ?o.failure_mode,
                "redis unavailable: circuit open, limits under the failure mode"
            );
        } else if n < o.breaker_failures {
            tracing::warn!(target: STORE_TARGET, url, error = why, "redis call failed");
        }
    }
}
