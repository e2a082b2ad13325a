//! Child processes under measurement: started, watched (resident memory),
//! and stopped when dropped.

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use anyhow::{Context as _, bail};

pub struct Process {
    child: Child,
    pub addr: SocketAddr,
}

impl Process {
    pub fn new(child: Child, addr: SocketAddr) -> Self {
        Self { child, addr }
    }

    /// Starts this benchmark binary as a baseline server and reads its port.
    pub fn baseline(kind: &str, db: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut command = Command::new(exe);
        command.arg("baseline").arg(kind);
        if let Some(db) = db {
            command.arg("--db").arg(db);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting a baseline server")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        let port: u16 = match line.trim().strip_prefix("listening ") {
            Some(port) => port.parse()?,
            None => bail!("the {kind} baseline did not start: `{}`", line.trim()),
        };
        Ok(Self::new(child, SocketAddr::from(([127, 0, 0, 1], port))))
    }

    /// True once the process has ended.
    pub fn exited(&mut self) -> anyhow::Result<bool> {
        Ok(self.child.try_wait()?.is_some())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now, in MiB.
    pub fn rss_mib(&self) -> anyhow::Result<f64> {
        status_kib(self.pid(), "VmRSS:").map(|kib| kib / 1024.0)
    }

    /// The most resident memory the process has had, in MiB.
    pub fn peak_rss_mib(&self) -> anyhow::Result<f64> {
        status_kib(self.pid(), "VmHWM:").map(|kib| kib / 1024.0)
    }

    /// Asks the process to stop (SIGTERM, as a service manager would) and waits.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn status_kib(pid: u32, field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("reading /proc (resident memory is measured on Linux)")?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
    Ok(line
        .trim_start_matches(field)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?)
}
