//! A real PostgreSQL server for tests, started from the Debian package's binaries in a
//! temporary folder, listening on 127.0.0.1 and a socket in that folder, and stopped by its pid.
//!
//! `initdb` and `postgres` refuse to run as root, so as root (CI) the server runs as the
//! `postgres` system user, or a `paperscout-pg` user made for it. With
//! `PAPERSCOUT_REQUIRE_POSTGRES=1` (as `make test` sets) a machine without PostgreSQL fails the
//! tests that need it; without it they say so and pass over it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The database superuser the tests connect as (no password: trust on loopback only).
const SUPERUSER: &str = "paperscout";

/// A running PostgreSQL server of a test's own.
#[derive(Debug)]
pub struct TestPostgres {
    folder: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// The user the server runs as, when not this process's own (as root).
    run_as: Option<String>,
    databases: AtomicUsize,
    /// Server options beyond the listening ones (TLS's).
    extra_options: String,
}

/// Whether the tests must have PostgreSQL.
fn required() -> bool {
    std::env::var_os("PAPERSCOUT_REQUIRE_POSTGRES").is_some_and(|value| value == "1")
}

/// The folder of PostgreSQL's server binaries: `PAPERSCOUT_PG_BIN`, the newest Debian
/// version's, or the one `initdb` on the `PATH` lives in.
fn find_binaries() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("PAPERSCOUT_PG_BIN") {
        return Some(PathBuf::from(bin));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    })
}

fn run(command: &mut Command) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|err| format!("cannot run {command:?}: {err}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{command:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u")).is_ok_and(|uid| uid.trim() == "0")
}

/// A system user to run the server as, made when missing.
fn server_user() -> Result<String, String> {
    for name in ["postgres", "paperscout-pg"] {
        if run(Command::new("id").arg("-u").arg(name)).is_ok() {
            return Ok(name.to_owned());
        }
    }
    run(Command::new("useradd")
        .args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
        ])
        .arg("paperscout-pg"))?;
    Ok("paperscout-pg".to_owned())
}

fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|err| format!("no free port: {err}"))?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(|err| err.to_string())
}

impl TestPostgres {
    /// Starts a server, or `None` (with a line on stderr) where PostgreSQL is not installed
    /// and the tests do not require it. Panics when a required server cannot start.
    pub fn start() -> Option<Self> {
        let Some(bin) = find_binaries() else {
            assert!(
                !required(),
                "PostgreSQL's server binaries are not installed (no initdb under \
                 /usr/lib/postgresql): install the postgresql package (`make test` does), or \
                 set PAPERSCOUT_PG_BIN"
            );
            eprintln!("PostgreSQL is not installed: skipping the test's PostgreSQL part");
            return None;
        };
        match Self::start_with(bin, false) {
            Ok(server) => Some(server),
            Err(err) => panic!("could not start a test PostgreSQL server: {err}"),
        }
    }

    /// [`Self::start`], the server with TLS (`ssl = on`) under a certificate for 127.0.0.1
    /// signed by a CA made for it, whose file is [`Self::ca_file`].
    pub fn start_with_tls() -> Option<Self> {
        let bin = find_binaries()?;
        match Self::start_with(bin, true) {
            Ok(server) => Some(server),
            Err(err) => panic!("could not start a test PostgreSQL server with TLS: {err}"),
        }
    }

    /// The CA that signed a TLS server's certificate (PEM).
    pub fn ca_file(&self) -> PathBuf {
        self.folder.path().join("ca.pem")
    }

    /// A CA and a certificate for 127.0.0.1 signed by it, made with `openssl`, owned by the
    /// server's user; returns the server's options for them.
    fn make_certificates(&self) -> Result<String, String> {
        let folder = self.folder.path();
        let openssl = |args: &[&str]| run(Command::new("openssl").args(args).current_dir(folder));
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=paperscout test CA",
        ])?;
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ])?;
        std::fs::write(
            folder.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .map_err(|err| err.to_string())?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ])?;
        run(Command::new("chmod")
            .arg("600")
            .arg(folder.join("server.key")))?;
        if let Some(user) = &self.run_as {
            run(Command::new("chown")
                .arg(user)
                .arg(folder.join("server.key"))
                .arg(folder.join("server.pem")))?;
        }
        Ok(format!(
            " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            folder.join("server.pem").display(),
            folder.join("server.key").display()
        ))
    }

    fn start_with(bin: PathBuf, tls: bool) -> Result<Self, String> {
        let folder = tempfile::Builder::new()
            .prefix("paperscout-pg-")
            .tempdir()
            .map_err(|err| err.to_string())?;
        let run_as = if is_root() {
            let user = server_user()?;
            run(Command::new("chown")
                .arg("-R")
                .arg(&user)
                .arg(folder.path()))?;
            Some(user)
        } else {
            None
        };
        let mut server = Self {
            folder,
            bin,
            port: 0,
            run_as,
            databases: AtomicUsize::new(0),
            extra_options: String::new(),
        };
        if tls {
            server.extra_options = server.make_certificates()?;
        }
        let data = server.data_dir();
        server.as_server_user(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                SUPERUSER.as_ref(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C".as_ref(),
                "--no-sync".as_ref(),
            ],
        )?;
        server.port = free_port()?;
        server.pg_ctl_start()?;
        Ok(server)
    }

    fn data_dir(&self) -> PathBuf {
        self.folder.path().join("data")
    }

    /// The folder of the server's Unix socket (and its log).
    pub fn folder(&self) -> &Path {
        self.folder.path()
    }

    fn as_server_user(&self, program: &str, args: &[&std::ffi::OsStr]) -> Result<String, String> {
        let program = self.bin.join(program);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(&program);
                command
            }
            None => Command::new(&program),
        };
        command.args(args).current_dir(self.folder.path());
        run(&mut command)
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c full_page_writes=off \
             -c max_connections=200{}",
            self.port,
            self.folder.path().display(),
            self.extra_options
        );
        let data = self.data_dir();
        let log = self.folder.path().join("server.log");
        self.as_server_user(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "-o".as_ref(),
                options.as_ref(),
                "start".as_ref(),
            ],
        )
        .map(drop)
    }

    /// The server's process id, from its `postmaster.pid`.
    pub fn pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data_dir().join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// A URL of the server's `database`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a new, empty database and returns its URL.
    pub fn new_database(&self) -> String {
        let number = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("test_{}_{number}", std::process::id());
        let mut client = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .unwrap_or_else(|err| panic!("connect to the test server: {err}"));
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|err| panic!("create database {name}: {err}"));
        self.url(&name)
    }

    /// Stops the server (fast shutdown: sessions end, committed work is kept) and waits for
    /// its process to end.
    pub fn stop(&self) {
        let Some(pid) = self.pid() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(pid.to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Command::new("kill")
            .arg("-0")
            .arg(pid.to_string())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the stopped server again on the same port.
    pub fn start_again(&self) {
        self.pg_ctl_start()
            .unwrap_or_else(|err| panic!("restart the test server: {err}"));
    }

    /// One server for the whole test process, with a database per test
    /// ([`Self::new_database`]). A watcher process stops it, by its pid, once this process has
    /// ended, and removes its folder.
    pub fn shared() -> Option<&'static Self> {
        static SHARED: OnceLock<Option<TestPostgres>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let server = Self::start()?;
                server.watch_for_exit();
                Some(server)
            })
            .as_ref()
    }

    fn watch_for_exit(&self) {
        let Some(pid) = self.pid() else {
            return;
        };
        let script = format!(
            "while kill -0 {test} 2>/dev/null; do sleep 1; done; kill -INT {pid}; \
             while kill -0 {pid} 2>/dev/null; do sleep 0.2; done; rm -rf '{folder}'",
            test = std::process::id(),
            folder = self.folder.path().display()
        );
        let spawned = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if let Err(err) = spawned {
            eprintln!("could not watch the test PostgreSQL server (pid {pid}): {err}");
        }
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}
