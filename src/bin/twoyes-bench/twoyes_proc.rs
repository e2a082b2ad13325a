//! twoyes itself, run as the real release binary: set up through its CLI,
//! served on loopback, timed from spawn to its first healthy answer.

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::child::Process;
use crate::load;

pub struct Twoyes {
    pub bin: PathBuf,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub smtp_url: Option<String>,
}

pub struct Connector {
    pub id: String,
    pub email: String,
    pub password: String,
    pub api_token: String,
}

/// A running `twoyes serve` and how long it took to be ready.
pub struct Running {
    pub process: Process,
    pub ready: Duration,
}

impl Twoyes {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .env("TWOYES_DATA_DIR", &self.data_dir)
            .env("TWOYES_DATABASE_URL", &self.database_url)
            .env("TWOYES_MAIL_FROM", "intros@bench.example")
            .env("TWOYES_LOG", "warn");
        match &self.smtp_url {
            Some(url) => command.env("TWOYES_SMTP_URL", url),
            None => command.env_remove("TWOYES_SMTP_URL"),
        };
        command
    }

    /// Runs one CLI command to completion and returns its standard output.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running {}", self.bin.display()))?;
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .context("no stdin")?
                .write_all(text.as_bytes())?;
        }
        drop(child.stdin.take());
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "twoyes {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8(out.stdout)?)
    }

    /// The connector every measured request acts for, with a password (for
    /// the web app) and an API token.
    pub fn add_connector(&self) -> anyhow::Result<Connector> {
        let email = "connie@bench.example".to_string();
        let password = format!("bench-{}", uuid::Uuid::new_v4().simple());
        let added = self.cli(
            &[
                "connector",
                "add",
                "--email",
                &email,
                "--name",
                "Connie Bench",
                "--password-stdin",
                "--json",
            ],
            Some(&format!("{password}\n")),
        )?;
        let added: serde_json::Value = serde_json::from_str(&added)?;
        let id = added["id"]
            .as_str()
            .context("connector add printed no id")?
            .to_string();
        let token = self.cli(&["token", "create", "--connector", &email, "--json"], None)?;
        let token: serde_json::Value = serde_json::from_str(&token)?;
        let api_token = token["token"]
            .as_str()
            .context("token create printed no token")?
            .to_string();
        Ok(Connector {
            id,
            email,
            password,
            api_token,
        })
    }

    /// Starts `twoyes serve` (with or without its worker) and waits for
    /// `/healthz`; `ready` runs from spawn to the first healthy answer.
    pub async fn serve(&self, worker: bool) -> anyhow::Result<Running> {
        let addr = free_port()?;
        let mut command = self.command();
        command
            .env("TWOYES_BIND", addr.to_string())
            .env("TWOYES_BASE_URL", format!("http://{addr}"))
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if !worker {
            command.arg("--no-worker");
        }
        let started = Instant::now();
        let child = command.spawn().context("starting twoyes serve")?;
        let mut process = Process::new(child, addr);
        let healthz = load::get("/healthz", "");
        loop {
            if let Ok(answer) = load::once(addr, &healthz).await
                && answer.status == 200
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("twoyes did not answer /healthz within 30 s");
            }
            if process.exited()? {
                bail!("twoyes serve exited during start-up");
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        Ok(Running {
            ready: started.elapsed(),
            process,
        })
    }
}

/// A port nobody listens on right now (the server binds it a moment later).
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// The release `twoyes` binary next to this one, built first if needed
/// (`cargo run --bin twoyes-bench` builds only the benchmark).
pub fn release_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("the benchmark binary has no folder")?;
    let bin = dir.join("twoyes");
    // Under `cargo run`, the same cargo brings twoyes up to date (a no-op
    // when it is); run by hand, the binary beside this one is measured.
    if let Ok(cargo) = std::env::var("CARGO") {
        let built = Command::new(cargo)
            .args(["build", "--release", "--bin", "twoyes"])
            .stdout(Stdio::null())
            .status();
        if !built.is_ok_and(|s| s.success()) {
            eprintln!("note: could not rebuild twoyes");
        }
    }
    if !bin.exists() {
        bail!("twoyes is not built: run `cargo build --release --bin twoyes`");
    }
    if !is_release_dir(dir) {
        eprintln!(
            "note: {} is not a release build; figures mean little",
            bin.display()
        );
    }
    Ok(bin)
}

fn is_release_dir(dir: &Path) -> bool {
    dir.file_name().is_some_and(|n| n == "release")
}
