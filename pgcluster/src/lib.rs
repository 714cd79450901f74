//! A private PostgreSQL cluster, owned and managed by this process.
//!
//! This crate owns the life cycle of a local PostgreSQL cluster that nobody
//! else administers: finding the server binaries ([`PgBinaries::locate`]),
//! creating the cluster with `initdb` on first use, generating and keeping its
//! superuser password, choosing and persisting its TCP port, starting it with
//! `pg_ctl` (or reusing one that is already running), stopping it, and
//! cleaning it up after the owning process has gone
//! ([`Cluster::stop_when_process_exits`]).
//!
//! The cluster listens on `127.0.0.1` only, over TCP (no Unix socket), and
//! authenticates with `scram-sha-256`. Next to the data directory
//! `<data_dir>` live two sibling files: `<data_dir>.password` (the
//! superuser's password, mode 0600) and `<data_dir>.log` (the server log).
//!
//! PostgreSQL refuses to run as root. When this process's effective user is
//! root, every `initdb`/`pg_ctl` invocation runs as the unprivileged
//! `postgres` user (or `nobody` when there is no such user) through
//! `runuser`, and the data directory, password file and log file are owned by
//! that user. That user must be able to traverse every directory above the
//! data directory (anything under `/tmp` is fine; `/root/...` is not).
//!
//! The API is synchronous: it runs the PostgreSQL tools with
//! [`std::process::Command`] and blocks until they are done.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;
use rand::distr::Alphanumeric;

/// Where the distribution packages install PostgreSQL server binaries.
const PG_LIB_DIR: &str = "/usr/lib/postgresql";

/// How long to wait for the server to start or to accept TCP connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How many lines of the server log a failed command's error quotes.
const LOG_TAIL_LINES: usize = 10;

/// Length of the generated superuser password.
const PASSWORD_LEN: usize = 32;

/// Everything that can go wrong while managing a cluster.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum Error {
    /// Neither PATH nor `/usr/lib/postgresql/*/bin` holds `initdb` and `pg_ctl`.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or under \
         /usr/lib/postgresql/*/bin: install them (apt install postgresql) or set DATABASE_URL \
         to an existing server."
    )]
    BinariesNotFound,

    /// Running as root, but there is no unprivileged user to run PostgreSQL as.
    #[error(
        "PostgreSQL refuses to run as root and neither the `postgres` nor the `nobody` user \
         exists: create a `postgres` user or run as an unprivileged user."
    )]
    NoUnprivilegedUser,

    /// Running as root, the unprivileged user PostgreSQL runs as cannot reach the data directory.
    #[error(
        "PostgreSQL runs as the `{user}` user here (Inlet runs as root), and `{user}` cannot enter \
         {blocked} (mode {mode:04o}), which holds the data directory {data_dir}. Set \
         INLET_DATA_DIR to a directory outside it (e.g. /var/lib/inlet), or run Inlet as an \
         unprivileged user."
    )]
    UnreachableDataDir {
        /// The cluster's data directory.
        data_dir: PathBuf,
        /// The first directory on the way that the user cannot enter.
        blocked: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// The user PostgreSQL runs as.
        user: String,
    },

    /// The data directory path does not name a directory (e.g. `/` or `..`).
    #[error("invalid PostgreSQL data directory {0}: it must end in a directory name.")]
    InvalidDataDir(PathBuf),

    /// The cluster exists but its password file is missing or empty.
    #[error(
        "the PostgreSQL cluster in {data_dir} is initialized but its password file \
         {password_file} is missing or empty: restore the file or remove the data directory \
         to start afresh."
    )]
    MissingPassword {
        /// The cluster's data directory.
        data_dir: PathBuf,
        /// Where the password was expected.
        password_file: PathBuf,
    },

    /// A file-system operation failed.
    #[error("could not {action} {path}: {source}")]
    Io {
        /// What was being done, e.g. "create directory".
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// A command could not be started at all.
    #[error("could not run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The underlying error.
        source: io::Error,
    },

    /// `initdb` or `pg_ctl` exited unsuccessfully.
    #[error("`{command}` failed ({status}): {output} (server log: {log})")]
    CommandFailed {
        /// The command line.
        command: String,
        /// How it exited.
        status: ExitStatus,
        /// Its stderr (or stdout when stderr was empty), then the last lines of the server log.
        output: String,
        /// The server log file, which usually says more.
        log: PathBuf,
    },

    /// The server started but never accepted a TCP connection.
    #[error(
        "PostgreSQL did not accept TCP connections on 127.0.0.1:{port} within {timeout_secs}s \
         (server log: {log})"
    )]
    NotReady {
        /// The port that was tried.
        port: u16,
        /// How long we waited.
        timeout_secs: u64,
        /// The server log file.
        log: PathBuf,
    },

    /// No free TCP port could be reserved on 127.0.0.1.
    #[error("could not find a free TCP port on 127.0.0.1: {0}")]
    NoFreePort(#[source] io::Error),
}

/// The directory holding the PostgreSQL server binaries (`initdb`, `pg_ctl`, `postgres`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgBinaries {
    /// Directory containing `initdb` and `pg_ctl`.
    pub bin_dir: PathBuf,
}

impl PgBinaries {
    /// Finds `initdb`/`pg_ctl`: first on PATH (the first directory containing
    /// both `pg_ctl` and `initdb`; symlinks are resolved to the real binary
    /// directory when it holds both too), else the highest version under
    /// `/usr/lib/postgresql/*/bin`.
    pub fn locate() -> Result<PgBinaries, Error> {
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                if has_server_binaries(&dir) {
                    return Ok(PgBinaries {
                        bin_dir: resolve_bin_dir(&dir),
                    });
                }
            }
        }
        let mut versions: Vec<(Vec<u64>, PathBuf)> = fs::read_dir(PG_LIB_DIR)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let version = parse_version(&entry.file_name().to_string_lossy())?;
                let bin_dir = entry.path().join("bin");
                has_server_binaries(&bin_dir).then_some((version, bin_dir))
            })
            .collect();
        versions.sort();
        versions
            .pop()
            .map(|(_, bin_dir)| PgBinaries { bin_dir })
            .ok_or(Error::BinariesNotFound)
    }

    /// Path of one binary in [`Self::bin_dir`].
    fn binary(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
}

fn has_server_binaries(dir: &Path) -> bool {
    ["pg_ctl", "initdb"]
        .iter()
        .all(|name| is_executable(&dir.join(name)))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// When `dir/pg_ctl` is a symlink (e.g. `/usr/local/bin/pg_ctl` pointing into
/// `/usr/lib/postgresql/15/bin`), prefer the real directory so that every
/// binary comes from the same installation.
fn resolve_bin_dir(dir: &Path) -> PathBuf {
    fs::canonicalize(dir.join("pg_ctl"))
        .ok()
        .and_then(|real| real.parent().map(Path::to_path_buf))
        .filter(|real| has_server_binaries(real))
        .unwrap_or_else(|| dir.to_path_buf())
}

/// "15" -> [15], "9.6" -> [9, 6]; anything else -> None.
fn parse_version(name: &str) -> Option<Vec<u64>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// How to start a [`Cluster`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterOptions {
    /// The data directory (PGDATA). `initdb` creates the cluster there when it
    /// has no `PG_VERSION` file. Its parent is created when missing and must
    /// be traversable by the user PostgreSQL runs as.
    pub data_dir: PathBuf,
    /// The TCP port on 127.0.0.1. `None`: on first `initdb` pick a free port
    /// and persist it in `postgresql.conf`; on later starts reuse it.
    pub port: Option<u16>,
    /// `false` (for tests) runs with `fsync`, `synchronous_commit` and
    /// `full_page_writes` off: fast, but not crash-safe.
    pub fsync: bool,
    /// The superuser role created by `initdb`, e.g. `"inlet"`.
    pub superuser: String,
}

/// A running private PostgreSQL cluster.
///
/// Dropping a `Cluster` does not stop the server; call [`Cluster::stop`] or
/// [`Cluster::stop_when_process_exits`].
#[derive(Clone)]
pub struct Cluster {
    data_dir: PathBuf,
    port: u16,
    superuser: String,
    password: String,
    bins: PgBinaries,
    run_as: Option<RunAs>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("data_dir", &self.data_dir)
            .field("port", &self.port)
            .field("superuser", &self.superuser)
            .field("password", &"<redacted>")
            .field("bins", &self.bins)
            .field("run_as", &self.run_as)
            .finish()
    }
}

/// The unprivileged user that runs PostgreSQL when we are root.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RunAs {
    name: String,
    uid: u32,
    gid: u32,
}

impl Cluster {
    /// Starts the cluster in `opts.data_dir`, creating it first when needed.
    ///
    /// On first use this runs `initdb -U <superuser> --auth=scram-sha-256
    /// -E UTF8 --locale=C` with a freshly generated 32-character alphanumeric
    /// password, stored in `<data_dir>.password` (mode 0600) and read back on
    /// later starts, and configures `listen_addresses = '127.0.0.1'`,
    /// `unix_socket_directories = ''` (TCP only), `max_connections = 200` and
    /// the port. It then runs `pg_ctl start` with the log in `<data_dir>.log`.
    /// A cluster that is already running (e.g. left behind by a process that
    /// was killed) is reused. Returns once 127.0.0.1:port accepts TCP
    /// connections.
    pub fn start(opts: ClusterOptions) -> Result<Cluster, Error> {
        let bins = PgBinaries::locate()?;
        let data_dir = std::path::absolute(&opts.data_dir).map_err(|source| Error::Io {
            action: "resolve path",
            path: opts.data_dir.clone(),
            source,
        })?;
        let parent = data_dir
            .parent()
            .filter(|_| data_dir.file_name().is_some())
            .ok_or_else(|| Error::InvalidDataDir(data_dir.clone()))?;
        fs::create_dir_all(parent).map_err(|source| Error::Io {
            action: "create directory",
            path: parent.to_path_buf(),
            source,
        })?;
        let run_as = if current_euid() == Some(0) {
            Some(unprivileged_user()?)
        } else {
            None
        };
        if let Some(user) = &run_as
            && let Some((blocked, mode)) = blocking_ancestor(&data_dir, user)
        {
            return Err(Error::UnreachableDataDir {
                data_dir,
                blocked,
                mode,
                user: user.name.clone(),
            });
        }

        // Port and password are filled in below, by initdb or from the existing cluster.
        let mut cluster = Cluster {
            data_dir,
            port: 0,
            superuser: opts.superuser.clone(),
            password: String::new(),
            bins,
            run_as,
        };
        let log = cluster.log_file();
        prepare_owned_file(&log, cluster.run_as.as_ref(), None)?;

        if !cluster.data_dir.join("PG_VERSION").is_file() {
            cluster.init(opts.port, opts.fsync)?;
        } else {
            cluster.password = read_password(&cluster.data_dir, &cluster.password_file())?;
            cluster.port = match (opts.port, read_persisted_port(&cluster.data_dir)) {
                (Some(port), _) | (None, Some(port)) => port,
                (None, None) => {
                    let port = free_port()?;
                    persist_port(&cluster.data_dir, port)?;
                    port
                }
            };
        }

        if cluster.is_running()? {
            if let Some(running) = running_port(&cluster.data_dir)
                && running != cluster.port
            {
                tracing::warn!(
                    data_dir = %cluster.data_dir.display(),
                    wanted = cluster.port,
                    running,
                    "PostgreSQL cluster is already running on another port; reusing it"
                );
                cluster.port = running;
            }
            tracing::info!(
                data_dir = %cluster.data_dir.display(),
                port = cluster.port,
                "reusing running PostgreSQL cluster"
            );
        } else {
            cluster.pg_ctl_start(opts.fsync)?;
        }
        cluster.wait_for_tcp()?;
        Ok(cluster)
    }

    /// The TCP port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory (absolute).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// `postgres://<superuser>:<password>@127.0.0.1:<port>/<database>`
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{}:{}@127.0.0.1:{}/{}",
            percent_encode(&self.superuser),
            percent_encode(&self.password),
            self.port,
            percent_encode(database)
        )
    }

    /// Whether `pg_ctl status` reports a server running on this data directory.
    pub fn is_running(&self) -> Result<bool, Error> {
        let mut cmd = self.pg_command("pg_ctl");
        cmd.arg("-D").arg(&self.data_dir).arg("status");
        let (_, output) = run(cmd)?;
        Ok(output.status.success())
    }

    /// Stops the server with `pg_ctl stop -m fast -w`. Does nothing when it
    /// is not running.
    pub fn stop(&self) -> Result<(), Error> {
        if !self.is_running()? {
            return Ok(());
        }
        tracing::info!(data_dir = %self.data_dir.display(), "stopping PostgreSQL cluster");
        let mut cmd = self.pg_command("pg_ctl");
        cmd.arg("-D")
            .arg(&self.data_dir)
            .args(["stop", "-m", "fast", "-w"]);
        let (command, output) = run(cmd)?;
        if output.status.success() || !self.is_running()? {
            Ok(())
        } else {
            Err(self.command_failed(command, &output))
        }
    }

    /// Spawns a detached watchdog (`setsid -f sh -c ...`) that waits until
    /// the current process is gone, then stops the server with
    /// `pg_ctl stop -m immediate` and, when `remove_dir` is true, removes the
    /// data directory, the password file and the log file.
    ///
    /// Meant for a process-wide cluster that has no destructor (tests). The
    /// watchdog also runs when this process is killed.
    pub fn stop_when_process_exits(&self, remove_dir: bool) -> Result<(), Error> {
        let pid = std::process::id();
        let mut stop = Vec::new();
        if let Some(user) = &self.run_as {
            stop.extend([
                runuser_path(),
                "-u".into(),
                user.name.clone().into(),
                "--".into(),
            ]);
        }
        stop.extend([
            self.bins.binary("pg_ctl").into_os_string(),
            "-D".into(),
            self.data_dir.clone().into_os_string(),
            "stop".into(),
            "-m".into(),
            "immediate".into(),
            "-w".into(),
        ]);
        let mut script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {}",
            shell_join(&stop)
        );
        if remove_dir {
            script.push_str("; rm -rf ");
            script.push_str(&shell_join(&[
                self.data_dir.clone().into_os_string(),
                self.password_file().into_os_string(),
                self.log_file().into_os_string(),
            ]));
        }
        let mut cmd = Command::new("setsid");
        cmd.arg("-f")
            .arg("sh")
            .arg("-c")
            .arg(&script)
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let command = describe(&cmd);
        let status = cmd.status().map_err(|source| Error::Spawn {
            command: command.clone(),
            source,
        })?;
        if !status.success() {
            return Err(Error::CommandFailed {
                command,
                status,
                output: String::new(),
                log: self.log_file(),
            });
        }
        tracing::debug!(pid, remove_dir, "PostgreSQL cleanup watchdog spawned");
        Ok(())
    }

    fn password_file(&self) -> PathBuf {
        sibling(&self.data_dir, "password")
    }

    fn log_file(&self) -> PathBuf {
        sibling(&self.data_dir, "log")
    }

    /// Creates the cluster with initdb and writes our settings.
    fn init(&mut self, port: Option<u16>, fsync: bool) -> Result<(), Error> {
        let port = match port {
            Some(port) => port,
            None => free_port()?,
        };
        let password: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(PASSWORD_LEN)
            .map(char::from)
            .collect();
        let password_file = self.password_file();
        prepare_owned_file(&password_file, self.run_as.as_ref(), Some(&password))?;

        if !self.data_dir.exists() {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&self.data_dir)
                .map_err(|source| Error::Io {
                    action: "create directory",
                    path: self.data_dir.clone(),
                    source,
                })?;
        }
        if let Some(user) = &self.run_as {
            chown(&self.data_dir, user)?;
        }

        tracing::info!(
            data_dir = %self.data_dir.display(),
            superuser = %self.superuser,
            "initializing PostgreSQL cluster (initdb)"
        );
        let mut cmd = self.pg_command("initdb");
        cmd.arg("-D")
            .arg(&self.data_dir)
            .arg("-U")
            .arg(&self.superuser)
            .arg("--auth=scram-sha-256")
            .arg({
                let mut arg = OsString::from("--pwfile=");
                arg.push(&password_file);
                arg
            })
            .args(["-E", "UTF8", "--locale=C", "--no-instructions"]);
        if !fsync {
            cmd.arg("--no-sync");
        }
        let (command, output) = run(cmd)?;
        if !output.status.success() {
            return Err(self.command_failed(command, &output));
        }

        let conf = self.data_dir.join("postgresql.conf");
        append(
            &conf,
            "\n# Added by inlet-pgcluster\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = ''\n\
             max_connections = 200\n",
        )?;
        persist_port(&self.data_dir, port)?;
        self.password = password;
        self.port = port;
        Ok(())
    }

    fn pg_ctl_start(&self, fsync: bool) -> Result<(), Error> {
        let mut server_opts = format!("-p {}", self.port);
        if !fsync {
            server_opts.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        tracing::info!(
            data_dir = %self.data_dir.display(),
            port = self.port,
            fsync,
            "starting PostgreSQL cluster"
        );
        let mut cmd = self.pg_command("pg_ctl");
        cmd.arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(self.log_file())
            .args(["-w", "-t"])
            .arg(START_TIMEOUT.as_secs().to_string())
            .arg("start")
            .arg("-o")
            .arg(server_opts);
        let (command, output) = run(cmd)?;
        if output.status.success() {
            Ok(())
        } else {
            Err(self.command_failed(command, &output))
        }
    }

    fn wait_for_tcp(&self) -> Result<(), Error> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady {
                    port: self.port,
                    timeout_secs: START_TIMEOUT.as_secs(),
                    log: self.log_file(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A command for one PostgreSQL binary, run as the unprivileged user when we are root.
    fn pg_command(&self, binary: &str) -> Command {
        let program = self.bins.binary(binary);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut cmd = Command::new(runuser_path());
                cmd.arg("-u").arg(&user.name).arg("--").arg(program);
                cmd
            }
            None => Command::new(program),
        };
        // The unprivileged user may not be able to enter our working directory.
        cmd.current_dir("/").stdin(Stdio::null());
        cmd
    }

    fn command_failed(&self, command: String, output: &Output) -> Error {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let text = if stderr.trim().is_empty() {
            String::from_utf8_lossy(&output.stdout)
        } else {
            stderr
        };
        let mut text = text.trim().to_string();
        // pg_ctl only says "Examine the log output": quote its end.
        let log = self.log_file();
        if let Ok(contents) = fs::read_to_string(&log) {
            let lines: Vec<&str> = contents.lines().collect();
            let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
            if !tail.trim().is_empty() {
                text.push_str("\nlast server log lines:\n");
                text.push_str(&tail);
            }
        }
        Error::CommandFailed {
            command,
            status: output.status,
            output: text,
            log,
        }
    }
}

/// Runs a command to completion, capturing its output.
fn run(mut cmd: Command) -> Result<(String, Output), Error> {
    let command = describe(&cmd);
    let output = cmd.output().map_err(|source| Error::Spawn {
        command: command.clone(),
        source,
    })?;
    Ok((command, output))
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|arg| {
            let arg = arg.to_string_lossy();
            if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || c == '\'') {
                format!("'{}'", arg.replace('\'', r"'\''"))
            } else {
                arg.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `<data_dir>.<ext>`, a sibling of the data directory.
fn sibling(data_dir: &Path, ext: &str) -> PathBuf {
    let mut name = data_dir.file_name().map(OsString::from).unwrap_or_default();
    name.push(".");
    name.push(ext);
    data_dir.with_file_name(name)
}

/// Creates (or truncates, when `contents` is given) a file of mode 0600 owned
/// by the run-as user, so that PostgreSQL can read or append to it.
fn prepare_owned_file(
    path: &Path,
    run_as: Option<&RunAs>,
    contents: Option<&str>,
) -> Result<(), Error> {
    let io_err = |action| {
        move |source| Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    };
    let mut options = fs::OpenOptions::new();
    options.mode(0o600);
    if contents.is_some() {
        options.write(true).create(true).truncate(true);
    } else {
        options.append(true).create(true);
    }
    let mut file = options.open(path).map_err(io_err("open"))?;
    if let Some(contents) = contents {
        file.write_all(contents.as_bytes())
            .map_err(io_err("write"))?;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io_err("set permissions of"))?;
    }
    if let Some(user) = run_as {
        chown(path, user)?;
    }
    Ok(())
}

fn read_password(data_dir: &Path, password_file: &Path) -> Result<String, Error> {
    let missing = || Error::MissingPassword {
        data_dir: data_dir.to_path_buf(),
        password_file: password_file.to_path_buf(),
    };
    let text = match fs::read_to_string(password_file) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing()),
        Err(source) => {
            return Err(Error::Io {
                action: "read",
                path: password_file.to_path_buf(),
                source,
            });
        }
    };
    let password = text.lines().next().unwrap_or("").trim().to_string();
    if password.is_empty() {
        Err(missing())
    } else {
        Ok(password)
    }
}

fn append(path: &Path, text: &str) -> Result<(), Error> {
    let io_err = |action| {
        move |source| Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    };
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io_err("open"))?;
    file.write_all(text.as_bytes()).map_err(io_err("write"))
}

fn persist_port(data_dir: &Path, port: u16) -> Result<(), Error> {
    append(
        &data_dir.join("postgresql.conf"),
        &format!("port = {port}\n"),
    )
}

/// The last `port = N` setting in postgresql.conf, overridden by postgresql.auto.conf.
fn read_persisted_port(data_dir: &Path) -> Option<u16> {
    ["postgresql.conf", "postgresql.auto.conf"]
        .iter()
        .filter_map(|name| fs::read_to_string(data_dir.join(name)).ok())
        .flat_map(|text| text.lines().filter_map(parse_port_line).collect::<Vec<_>>())
        .last()
}

fn parse_port_line(line: &str) -> Option<u16> {
    let line = line.split('#').next()?.trim();
    let (key, value) = line
        .split_once('=')
        .or_else(|| line.split_once(char::is_whitespace))?;
    if key.trim() != "port" {
        return None;
    }
    value.trim().trim_matches('\'').parse().ok()
}

/// The port of a running server, from line 4 of postmaster.pid.
fn running_port(data_dir: &Path) -> Option<u16> {
    fs::read_to_string(data_dir.join("postmaster.pid"))
        .ok()?
        .lines()
        .nth(3)?
        .trim()
        .parse()
        .ok()
}

fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(Error::NoFreePort)?;
    let port = listener.local_addr().map_err(Error::NoFreePort)?.port();
    Ok(port)
}

/// The effective uid, from /proc/self/status, else from `id -u`.
fn current_euid() -> Option<u32> {
    let from_proc = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1))
                .and_then(|euid| euid.parse().ok())
        });
    from_proc.or_else(|| id_of(None, "-u"))
}

/// `id <flag> [user]` parsed as a number; None when the user does not exist.
fn id_of(user: Option<&str>, flag: &str) -> Option<u32> {
    let mut cmd = Command::new("id");
    cmd.arg(flag);
    if let Some(user) = user {
        cmd.arg(user);
    }
    let output = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

/// `postgres`, else `nobody`, with uid and gid.
fn unprivileged_user() -> Result<RunAs, Error> {
    ["postgres", "nobody"]
        .iter()
        .find_map(|name| lookup_user(name))
        .ok_or(Error::NoUnprivilegedUser)
}

fn lookup_user(name: &str) -> Option<RunAs> {
    let from_id = id_of(Some(name), "-u").zip(id_of(Some(name), "-g"));
    let (uid, gid) = from_id.or_else(|| {
        let passwd = fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() >= 4 && fields[0] == name {
                Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
            } else {
                None
            }
        })
    })?;
    Some(RunAs {
        name: name.to_string(),
        uid,
        gid,
    })
}

/// The first existing directory above `path` that `user` cannot traverse (no search permission for
/// it as owner, group or other), with its mode; `None` when the way is open.
fn blocking_ancestor(path: &Path, user: &RunAs) -> Option<(PathBuf, u32)> {
    use std::os::unix::fs::MetadataExt;
    let mut ancestors: Vec<&Path> = path.ancestors().skip(1).collect();
    ancestors.reverse();
    for dir in ancestors {
        let Ok(meta) = fs::metadata(dir) else {
            // Not created yet: created by us below, as root with the default mode.
            break;
        };
        let mode = meta.mode() & 0o7777;
        let can = if meta.uid() == user.uid {
            mode & 0o100 != 0
        } else if meta.gid() == user.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !can {
            return Some((dir.to_path_buf(), mode));
        }
    }
    None
}

fn chown(path: &Path, user: &RunAs) -> Result<(), Error> {
    std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid)).map_err(|source| Error::Io {
        action: "change owner of",
        path: path.to_path_buf(),
        source,
    })
}

/// `runuser` from PATH, else from /usr/sbin or /sbin.
fn runuser_path() -> OsString {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join("runuser"))
        .find(|candidate| is_executable(candidate));
    on_path.map_or_else(|| "runuser".into(), PathBuf::into_os_string)
}

/// Quotes each word for `sh` with single quotes and joins them with spaces.
fn shell_join(words: &[OsString]) -> String {
    words
        .iter()
        .map(|word| format!("'{}'", word.to_string_lossy().replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_data_dir_under_a_closed_directory_is_found_before_initdb() {
        use std::os::unix::fs::PermissionsExt;
        let root = std::env::temp_dir().join(format!("inlet-pg-closed-{}", std::process::id()));
        let closed = root.join("home");
        fs::create_dir_all(closed.join("me")).expect("dirs");
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).expect("chmod");
        fs::set_permissions(&closed, fs::Permissions::from_mode(0o700)).expect("chmod");
        // A user that owns none of it (uid/gid of nobody, or made up).
        let stranger = RunAs {
            name: "stranger".into(),
            uid: 65_533,
            gid: 65_533,
        };
        let data = closed.join("me").join("data").join("postgres");
        let found = blocking_ancestor(&data, &stranger);
        assert_eq!(found, Some((closed.clone(), 0o700)));
        let message = Error::UnreachableDataDir {
            data_dir: data.clone(),
            blocked: closed.clone(),
            mode: 0o700,
            user: "postgres".into(),
        }
        .to_string();
        assert!(message.contains("Set INLET_DATA_DIR"), "{message}");
        fs::set_permissions(&closed, fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(blocking_ancestor(&data, &stranger), None);
        let _ = fs::remove_dir_all(&root);
    }

    use super::*;

    #[test]
    fn parses_port_lines() {
        assert_eq!(parse_port_line("port = 5433"), Some(5433));
        assert_eq!(parse_port_line("port=6000 # comment"), Some(6000));
        assert_eq!(parse_port_line("port = '7000'"), Some(7000));
        assert_eq!(parse_port_line("#port = 5432"), None);
        assert_eq!(parse_port_line("portal = 1"), None);
    }

    #[test]
    fn siblings_and_versions() {
        assert_eq!(
            sibling(Path::new("/tmp/pg/data"), "password"),
            PathBuf::from("/tmp/pg/data.password")
        );
        assert_eq!(parse_version("15"), Some(vec![15]));
        assert_eq!(parse_version("9.6"), Some(vec![9, 6]));
        assert_eq!(parse_version("common"), None);
        assert!(parse_version("9.6") < parse_version("15"));
    }

    #[test]
    fn quoting_and_encoding() {
        assert_eq!(
            shell_join(&["a b".into(), "it's".into()]),
            r"'a b' 'it'\''s'"
        );
        assert_eq!(percent_encode("a b@c"), "a%20b%40c");
    }

    #[test]
    fn not_found_message_is_one_sentence() {
        let message = Error::BinariesNotFound.to_string();
        assert!(message.starts_with("PostgreSQL server binaries (initdb, pg_ctl) were not found"));
        assert!(message.ends_with("or set DATABASE_URL to an existing server."));
        assert!(!message.contains('\n'));
    }
}
