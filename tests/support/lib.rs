//! Helpers for the workspace-level end-to-end tests: they run the `ctxlint` binary as a user
//! does (a child process, its exit code, stdout and stderr) on inputs under `fixtures/cli/`
//! or in throw-away directories.
//!
//! # How the binary is found
//!
//! `CARGO_BIN_EXE_ctxlint` is only set for the tests of the package that owns the binary
//! (`lint/`), not for this root package, and a dev-dependency on `ctxlint` would not help
//! (Cargo builds no binaries of dependencies; artifact dependencies are unstable). So
//! [`ctxlint_bin`] finds it once per test process (behind a [`OnceLock`]):
//!
//! 1. `CTXLINT_BIN=/path/to/ctxlint`, if set, is used as is (a release build, an installed
//!    copy).
//! 2. Else the binary beside the tests, `<target-dir>/<profile-dir>/ctxlint` (the tests run
//!    from `<profile-dir>/deps/`), if it is newer than every file under `lint/` and the
//!    workspace's `Cargo.toml` and `Cargo.lock`. `cargo test --workspace` has always just
//!    built it, for `lint/`'s own integration tests, so CI pays nothing here.
//! 3. Else it asks Cargo: `$CARGO build -p ctxlint --bin ctxlint --profile <profile>
//!    --message-format=json-render-diagnostics`, with the profile the tests were built with,
//!    and takes the path from the `compiler-artifact` message of the binary (so a custom
//!    `CARGO_TARGET_DIR` or `build-dir` works too). Cargo's own freshness check then covers
//!    what file times cannot (flags, dependencies). This is what `cargo test -p ctxlint-e2e`
//!    from a clean `target/`, or after editing `lint/src`, goes through.
//!
//! Nesting Cargo does not deadlock: `cargo test` holds the build-directory lock only while
//! it compiles and releases it before it runs the test executables (checked with `cargo test
//! --workspace --all-features` from a clean `target/`, Cargo 1.95). The inner build selects
//! only `ctxlint`, so its dependencies' features can differ from the outer build's and it
//! may compile `syn`, `serde` and `ctxlint` once more (about 30 s on two cores, once); step 2
//! avoids that whenever the outer build already made the binary.
//!
//! The runner gives every child a time limit ([`Ctxlint::timeout`]) so a hang fails the
//! test instead of stalling the suite, sets `NO_COLOR=1`, and captures both streams.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root (this package's manifest directory).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `fixtures/cli/` in the workspace: committed inputs of the end-to-end tests.
pub fn fixtures_dir() -> PathBuf {
    workspace_root().join("fixtures").join("cli")
}

/// The `ctxlint` binary, built (or found up to date) once per test process.
pub fn ctxlint_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("CTXLINT_BIN") {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "CTXLINT_BIN={} is not a file",
                path.display()
            );
            path
        }
        _ => fresh_sibling_bin().unwrap_or_else(build_ctxlint),
    })
}

/// The directory the running test executable's profile writes to: the tests run from
/// `<target-dir>/[<triple>/]<profile-dir>/deps/<name>`.
fn profile_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    if deps.file_name() != Some(OsStr::new("deps")) {
        return None;
    }
    deps.parent().map(Path::to_path_buf)
}

/// `<profile-dir>/ctxlint` if it exists and is newer than everything it is built from.
fn fresh_sibling_bin() -> Option<PathBuf> {
    let bin = profile_dir()?.join(format!("ctxlint{}", std::env::consts::EXE_SUFFIX));
    let built = std::fs::metadata(&bin).ok()?.modified().ok()?;
    let root = workspace_root();
    let mut newest = None;
    for file in [root.join("Cargo.toml"), root.join("Cargo.lock")] {
        newest = newest.max(std::fs::metadata(file).ok()?.modified().ok());
    }
    newest = newest.max(newest_modification(&root.join("lint"))?);
    (newest? <= built).then_some(bin)
}

/// The latest modification time of any file under `dir` (`None` if one cannot be read).
fn newest_modification(dir: &Path) -> Option<Option<std::time::SystemTime>> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()? {
        let entry = entry.ok()?;
        let kind = entry.file_type().ok()?;
        if kind.is_dir() {
            newest = newest.max(newest_modification(&entry.path())?);
        } else {
            newest = newest.max(Some(entry.metadata().ok()?.modified().ok()?));
        }
    }
    Some(newest)
}

/// The Cargo profile the running test executable was built with: the `dev` and `test`
/// profiles write to `debug`, every other profile to a directory of its own name.
fn current_profile() -> String {
    let dir = profile_dir();
    let name = dir
        .as_deref()
        .and_then(Path::file_name)
        .and_then(OsStr::to_str)
        .unwrap_or("debug");
    match name {
        "debug" => "dev".to_string(),
        other => other.to_string(),
    }
}

fn build_ctxlint() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from(env!("CARGO")));
    let profile = current_profile();
    let output = Command::new(&cargo)
        .args(["build", "-p", "ctxlint", "--bin", "ctxlint", "--profile"])
        .arg(&profile)
        .arg("--message-format=json-render-diagnostics")
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", cargo.to_string_lossy()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "`cargo build -p ctxlint --bin ctxlint --profile {profile}` failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .filter(|line| line.contains(r#""reason":"compiler-artifact""#))
        .filter(|line| line.contains(r#""kind":["bin"]"#) && line.contains(r#""name":"ctxlint""#))
        .find_map(executable_field)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("cargo reported no `ctxlint` executable:\n{stdout}"))
}

/// The `"executable":"..."` value of one Cargo JSON message (no JSON parser in this lib:
/// it has no dependencies; Cargo escapes only `"` and `\` in paths here).
fn executable_field(line: &str) -> Option<String> {
    let key = r#""executable":""#;
    let rest = &line[line.find(key)? + key.len()..];
    let mut value = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    value.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

/// What a finished run printed and how it exited.
#[derive(Debug, Clone)]
pub struct Output {
    /// The exit code (`None` if a signal ended the process).
    pub code: Option<i32>,
    /// Standard output, decoded as UTF-8 (lossily).
    pub stdout: String,
    /// Standard error, decoded as UTF-8 (lossily).
    pub stderr: String,
    /// How long the run took.
    pub elapsed: Duration,
}

impl Output {
    /// Panics with both streams unless the exit code is `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit code\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// The non-empty lines of stdout.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|line| !line.trim().is_empty())
            .collect()
    }

    /// The findings of a `--output-format concise` run; panics on a line that is not one.
    #[track_caller]
    pub fn findings(&self) -> Vec<Finding> {
        self.lines()
            .into_iter()
            .map(|line| {
                Finding::parse(line).unwrap_or_else(|| {
                    panic!(
                        "not a concise finding: {line:?}\n--- stdout ---\n{}",
                        self.stdout
                    )
                })
            })
            .collect()
    }

    /// [`Finding::short`] of every finding of a `concise` run: `path:row:col CODE`.
    #[track_caller]
    pub fn short(&self) -> Vec<String> {
        self.findings().iter().map(Finding::short).collect()
    }
}

/// One line of `--output-format concise`: `path:row:col: CODE [name] message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The path as printed.
    pub path: String,
    /// 1-based row.
    pub row: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// `CTX000`.
    pub code: String,
    /// `syntax-error`.
    pub name: String,
    /// The message.
    pub message: String,
}

impl Finding {
    /// Parses one concise line (the path may itself contain `:`).
    pub fn parse(line: &str) -> Option<Finding> {
        // The first `:<row>:<col>: CTX` from the right of the path decides where it ends.
        let marker = line.find(": CTX")?;
        let (location, rest) = (&line[..marker], &line[marker + 2..]);
        let mut parts = location.rsplitn(3, ':');
        let column = parts.next()?.parse().ok()?;
        let row = parts.next()?.parse().ok()?;
        let path = parts.next()?.to_string();
        let (code, rest) = rest.split_once(' ')?;
        let rest = rest.strip_prefix('[')?;
        let (name, message) = rest.split_once("] ")?;
        Some(Finding {
            path,
            row,
            column,
            code: code.to_string(),
            name: name.to_string(),
            message: message.to_string(),
        })
    }

    /// `path:row:col CODE`, for compact assertions.
    pub fn short(&self) -> String {
        format!("{}:{}:{} {}", self.path, self.row, self.column, self.code)
    }
}

/// A `ctxlint` invocation.
#[derive(Debug, Clone)]
pub struct Ctxlint {
    args: Vec<OsString>,
    dir: PathBuf,
    envs: Vec<(OsString, Option<OsString>)>,
    timeout: Duration,
}

impl Ctxlint {
    /// `ctxlint ARGS...` run in `dir`.
    pub fn new<I, S>(dir: impl AsRef<Path>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Ctxlint {
            args: args
                .into_iter()
                .map(|arg| arg.as_ref().to_owned())
                .collect(),
            dir: dir.as_ref().to_path_buf(),
            envs: Vec::new(),
            timeout: Duration::from_secs(300),
        }
    }

    /// Sets an environment variable for the child.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Removes an environment variable for the child.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.envs.push((key.as_ref().to_owned(), None));
        self
    }

    /// Kills the child and fails the test if it runs longer than this (default 300 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs to completion (or the time limit, which panics).
    #[track_caller]
    pub fn run(&self) -> Output {
        let mut command = Command::new(ctxlint_bin());
        command
            .args(&self.args)
            .current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("FORCE_COLOR")
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in &self.envs {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        let started = Instant::now();
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", ctxlint_bin().display()));
        let stdout = drain(child.stdout.take().expect("piped stdout"));
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        let status: ExitStatus = loop {
            if let Some(status) = child.try_wait().expect("waiting for ctxlint") {
                break status;
            }
            if started.elapsed() > self.timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "ctxlint {:?} (in {}) did not finish within {:?}",
                    self.args,
                    self.dir.display(),
                    self.timeout
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let elapsed = started.elapsed();
        Output {
            code: status.code(),
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
            elapsed,
        }
    }
}

fn drain(mut stream: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Shorthand: `ctxlint ARGS...` in `dir`, run to completion.
#[track_caller]
pub fn ctxlint<I, S>(dir: impl AsRef<Path>, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Ctxlint::new(dir, args).run()
}

/// A fresh directory under the system temporary directory, removed (with everything in
/// it, permissions restored first) when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `<tmp>/ctxlint-e2e-<pid>-<n>-<label>`, unique for this process.
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let base = std::env::temp_dir();
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = base.join(format!("ctxlint-e2e-{}-{n}-{label}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return TempDir { path },
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(error) => panic!("cannot create {}: {error}", path.display()),
            }
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` to `relative` (creating parent directories) and returns its path.
    pub fn write(&self, relative: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent directories");
        }
        std::fs::write(&path, contents).expect("write a test input");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        restore_permissions(&self.path);
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Makes everything under `dir` readable and writable again so it can be removed.
fn restore_permissions(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_symlink() {
                continue;
            }
            let mode = if kind.is_dir() { 0o755 } else { 0o644 };
            let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode));
            if kind.is_dir() {
                restore_permissions(&entry.path());
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
}
