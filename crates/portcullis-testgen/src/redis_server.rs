//! A real `redis-server` for tests, on 127.0.0.1 on a free port, stopped on drop.
//!
//! Where `redis-server` is not installed, [`RedisServer::start`] says so loudly on stderr
//! and returns `None` (the test skips), unless `PORTCULLIS_REQUIRE_REDIS` is set (CI sets
//! it, after installing Debian's `redis-server`): then a missing server fails the test.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    /// Extra arguments (a cluster node's).
    args: Vec<String>,
}

impl RedisServer {
    /// Starts a server on a free port, or says why not and returns `None`.
    ///
    /// # Panics
    ///
    /// When the server is missing and `PORTCULLIS_REQUIRE_REDIS` is set, or when it does
    /// not come up.
    #[must_use]
    pub fn start(test: &str) -> Option<RedisServer> {
        RedisServer::start_with(test, Vec::new())
    }

    fn start_with(test: &str, args: Vec<String>) -> Option<RedisServer> {
        let found = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            assert!(
                std::env::var_os("PORTCULLIS_REQUIRE_REDIS").is_none(),
                "{test}: redis-server is not installed and PORTCULLIS_REQUIRE_REDIS is set"
            );
            eprintln!(
                "\n*** SKIPPED {test}: redis-server is not installed \
                 (Debian: apt-get install redis-server); set PORTCULLIS_REQUIRE_REDIS=1 \
                 to make this a failure ***\n"
            );
            return None;
        }
        let port = free_port();
        let bus = free_port().to_string();
        let args = args
            .into_iter()
            .map(|a| {
                a.replace("{port}", &port.to_string())
                    .replace("{bus}", &bus)
            })
            .collect();
        let mut server = RedisServer {
            child: None,
            port,
            args,
        };
        server.restart();
        Some(server)
    }

    /// The server's URL.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (as a crash would: no shutdown).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port (empty: it keeps nothing on disk).
    ///
    /// # Panics
    ///
    /// When it does not answer a `PING` within 10 seconds.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self
                .command(&["PING"])
                .is_some_and(|r| r.starts_with("+PONG"))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not answer", self.port);
    }

    /// Sends one command and returns the raw reply (RESP), for tests to look into Redis.
    #[must_use]
    pub fn command(&self, args: &[&str]) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).ok()?;
        let mut buf = vec![0u8; 1 << 20];
        let n = s.read(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nothing listens on now.
///
/// # Panics
///
/// When the system has no free port.
#[must_use]
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A Redis Cluster of three masters on free ports, each slot range on one of them.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    dir: std::path::PathBuf,
}

impl RedisCluster {
    /// Starts the cluster, or says why not and returns `None` (as [`RedisServer::start`]).
    ///
    /// # Panics
    ///
    /// As [`RedisServer::start`], and when the cluster does not form within 20 seconds.
    #[must_use]
    pub fn start(test: &str) -> Option<RedisCluster> {
        let dir = std::env::temp_dir().join(format!(
            "portcullis-redis-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let conf = dir.join("nodes-{port}.conf");
        let args = vec![
            "--cluster-enabled".to_string(),
            "yes".to_string(),
            "--cluster-config-file".to_string(),
            conf.display().to_string(),
            // Not port + 10000, which may be taken or past 65535.
            "--cluster-port".to_string(),
            "{bus}".to_string(),
        ];
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(RedisServer::start_with(test, args.clone())?);
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(created, "redis-cli --cluster create {addrs:?} failed");
        let cluster = RedisCluster { nodes, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cluster.nodes.iter().all(|n| {
            n.command(&["CLUSTER", "INFO"])
                .is_some_and(|i| i.contains("cluster_state:ok"))
        }) {
            assert!(Instant::now() < deadline, "the cluster did not form");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(cluster)
    }

    /// The nodes' URLs.
    #[must_use]
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The nodes.
    #[must_use]
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
