//! The run, in order: the machine's limits first (minimal handler, durable
//! INSERT handler, raw SMTP), then twoyes through the life of its intros —
//! created through the API, asks delivered by SMTP, decision pages opened and
//! submitted — and finally the dashboard over a million intros.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::child::Process;
use crate::load::{self, Load, MakeRequest, Outcome};
use crate::report::{Report, Target};
use crate::smtp_sink::{Sink, raw_send_rate};
use crate::twoyes_proc::{Running, Twoyes, release_binary};
use crate::{pg, seed, session};

pub struct Plan {
    pub quick: bool,
    pub database_url: Option<String>,
    pub connections: usize,
    pub dashboard_intros: u64,
    pub work_dir: PathBuf,
}

impl Plan {
    /// How long each measured load runs.
    fn load_time(&self) -> Duration {
        Duration::from_secs(if self.quick { 3 } else { 10 })
    }

    fn closed(&self, max_requests: usize, expect_status: u16) -> Load {
        Load {
            connections: self.connections,
            max_requests,
            duration: self.load_time(),
            rate: None,
            expect_status,
        }
    }

    /// An open-loop load at half the measured peak.
    fn half_of(&self, peak: &Outcome, max_requests: usize, expect_status: u16) -> Load {
        Load {
            rate: Some(peak.per_second() / 2.0),
            ..self.closed(max_requests, expect_status)
        }
    }
}

const P99_AT_HALF_PEAK_MS: f64 = 25.0;

pub async fn run(plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    let bin = release_binary()?;
    let size = std::fs::metadata(&bin)?.len() as f64 / (1024.0 * 1024.0);
    report.add(
        "release binary size (stripped)",
        size,
        "MiB",
        None,
        &[Target::Below(30.0)],
    );

    eprintln!("baseline: minimal axum handler");
    let hello = {
        let server = Process::baseline("hello", None)?;
        let make = load::cycle(Arc::new(vec![load::get("/hello", "")]));
        load::run(server.addr, &plan.closed(usize::MAX, 200), make)
            .await?
            .check("minimal handler")?
    };
    eprintln!("baseline: minimal handler + one durable SQLite INSERT");
    // Then the disk's own tail: the same handler at half its peak. A
    // durable request cannot answer sooner than its fsync, so when this is
    // above the p99 line, the machine's disk is, whatever twoyes does.
    let (insert, insert_half) = {
        let server = Process::baseline("insert", Some(&plan.work_dir.join("baseline.db")))?;
        let post = load::post("/insert", FORM, "", "decision=yes&note=");
        let make = load::cycle(Arc::new(vec![post]));
        let peak = load::run(server.addr, &plan.closed(usize::MAX, 303), make.clone())
            .await?
            .check("durable INSERT handler")?;
        let half = load::run(server.addr, &plan.half_of(&peak, usize::MAX, 303), make)
            .await?
            .check("durable INSERT handler at half peak")?;
        (peak, half)
    };
    let disk_p99 = Some(("durable INSERT at half its peak", insert_half.p99_ms()));
    let durable = match &plan.database_url {
        None => ("durable-INSERT handler", insert.per_second()),
        Some(url) => {
            eprintln!("baseline: pgbench one-row UPDATE, 32 clients");
            (
                "pgbench UPDATE, 32 clients",
                pg::pgbench_update_tps(url, plan.load_time()).await?,
            )
        }
    };

    let sink = Sink::start(true).await?;
    let database_url = match &plan.database_url {
        None => format!("sqlite://{}/twoyes.db", plan.work_dir.display()),
        Some(url) => pg::fresh_database(url, "twoyes_bench").await?,
    };
    let twoyes = Twoyes {
        bin,
        data_dir: plan.work_dir.clone(),
        database_url: database_url.clone(),
        smtp_url: Some(format!("smtp://{}", sink.addr())),
    };
    let connector = twoyes.add_connector()?;

    eprintln!("twoyes: intro creation through the API");
    let server = twoyes.serve(false).await?;
    report.add(
        "ready after start (empty database)",
        ms(server.ready),
        "ms",
        None,
        &[Target::Below(200.0)],
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    report.add(
        "resident memory, idle",
        server.process.rss_mib()?,
        "MiB",
        None,
        &[Target::Below(30.0)],
    );
    let creator = Arc::new(Creator::new(&connector.api_token));
    let peak = create(&server, plan.closed(usize::MAX, 201), &creator).await?;
    report.add(
        "intro creation (API) throughput",
        peak.per_second(),
        "req/s",
        Some((durable.0, durable.1)),
        &creation_target(plan),
    );
    let half = create(&server, plan.half_of(&peak, usize::MAX, 201), &creator).await?;
    report.add(
        "intro creation p99 at half peak",
        half.p99_ms(),
        "ms",
        disk_p99,
        &[Target::Below(P99_AT_HALF_PEAK_MS)],
    );
    // Enough open asks for the decision loads, outside the measurements.
    let wanted = if plan.quick { 15_000 } else { 50_000 };
    let have = creator.made();
    if have < wanted {
        let load = Load {
            duration: Duration::from_secs(120),
            ..plan.closed(wanted - have, 201)
        };
        create(&server, load, &creator).await?;
    }
    let mut peak_rss = server.process.peak_rss_mib()?;
    server.process.stop()?;
    if plan.database_url.is_some() {
        pg::analyze(&database_url).await?;
    }

    eprintln!("twoyes: delivering {} asks by SMTP", creator.made() * 2);
    let server = twoyes.serve(true).await?;
    let asks = creator.made() * 2;
    if !sink.wait_for(asks, Duration::from_secs(300)).await {
        bail!(
            "only {} of {asks} asks arrived within 5 minutes",
            sink.received()
        );
    }
    let (first, last) = sink.first_and_last().context("no email arrived")?;
    let delivery = (asks - 1) as f64 / (last - first).as_secs_f64().max(1e-9);
    let messages = sink.take_messages();
    let tokens = session::decision_tokens(&messages)?;
    let sample = messages.first().context("no email arrived")?.clone();
    drop(messages);
    let raw = {
        let counter = Sink::start(false).await?;
        let (sent, took) =
            raw_send_rate(counter.addr(), &sample, usize::MAX, plan.load_time()).await?;
        sent as f64 / took.as_secs_f64()
    };
    report.add(
        "outbox delivery to local SMTP",
        delivery,
        "msg/s",
        Some(("raw SMTP, one TCP_NODELAY conn", raw)),
        &[Target::AtLeast(1000.0), Target::RatioAtLeast(0.25)],
    );

    eprintln!("twoyes: decision pages ({} links)", tokens.len());
    let gets: Arc<Vec<Vec<u8>>> = Arc::new(
        tokens
            .iter()
            .map(|t| load::get(&format!("/o/{t}"), ""))
            .collect(),
    );
    let peak = load::run(
        server.process.addr,
        &plan.closed(usize::MAX, 200),
        load::cycle(gets.clone()),
    )
    .await?
    .check("decision page")?;
    report.add(
        "decision page GET throughput",
        peak.per_second(),
        "req/s",
        Some(("minimal axum handler", hello.per_second())),
        &[Target::RatioAtLeast(0.25)],
    );
    let half = load::run(
        server.process.addr,
        &plan.half_of(&peak, usize::MAX, 200),
        load::cycle(gets),
    )
    .await?
    .check("decision page at half peak")?;
    report.add(
        "decision page GET p99 at half peak",
        half.p99_ms(),
        "ms",
        None,
        &[Target::Below(P99_AT_HALF_PEAK_MS)],
    );

    // Each POST decides one open ask: the peak run may use 60% of them.
    let mut first_part: Vec<Vec<u8>> = tokens
        .iter()
        .map(|t| load::post(&format!("/o/{t}"), FORM, "", "decision=yes&note="))
        .collect();
    let second_part = first_part.split_off(first_part.len() * 6 / 10);
    let peak = load::run(
        server.process.addr,
        &plan.closed(first_part.len(), 303),
        load::each_once(first_part),
    )
    .await?
    .check("decision POST")?;
    report.add(
        "durable decision POST throughput",
        peak.per_second(),
        "req/s",
        Some((durable.0, durable.1)),
        &decision_target(plan),
    );
    let half = load::run(
        server.process.addr,
        &plan.half_of(&peak, second_part.len(), 303),
        load::each_once(second_part),
    )
    .await?
    .check("decision POST at half peak")?;
    report.add(
        "decision POST p99 at half peak",
        half.p99_ms(),
        "ms",
        disk_p99,
        &[Target::Below(P99_AT_HALF_PEAK_MS)],
    );
    peak_rss = peak_rss.max(server.process.peak_rss_mib()?);
    server.process.stop()?;

    eprintln!(
        "twoyes: seeding {} intros for the dashboard",
        plan.dashboard_intros
    );
    let took = seed::seed_intros(&database_url, &connector.id, plan.dashboard_intros).await?;
    eprintln!("  seeded in {:.1} s", took.as_secs_f64());
    let server = twoyes.serve(true).await?;
    report.add(
        "ready after start (1M intros)",
        ms(server.ready),
        "ms",
        None,
        &[Target::Below(200.0)],
    );
    let cookie =
        session::sign_in(server.process.addr, &connector.email, &connector.password).await?;
    let lists: Arc<Vec<Vec<u8>>> = Arc::new(
        [
            "/",
            "/?status=introduced",
            "/?status=declined",
            "/?status=expired",
        ]
        .iter()
        .map(|p| load::get(p, &format!("Cookie: {cookie}\r\n")))
        .collect(),
    );
    let one = Load {
        connections: 1,
        ..plan.closed(usize::MAX, 200)
    };
    let alone = load::run(server.process.addr, &one, load::cycle(lists.clone()))
        .await?
        .check("dashboard")?;
    report.add(
        "dashboard list p99 (1M intros)",
        alone.p99_ms(),
        "ms",
        None,
        &[Target::Below(20.0)],
    );
    let peak = load::run(
        server.process.addr,
        &plan.closed(usize::MAX, 200),
        load::cycle(lists.clone()),
    )
    .await?
    .check("dashboard")?;
    report.add(
        "dashboard list throughput (1M intros)",
        peak.per_second(),
        "req/s",
        None,
        &[],
    );
    let half = load::run(
        server.process.addr,
        &plan.half_of(&peak, usize::MAX, 200),
        load::cycle(lists),
    )
    .await?
    .check("dashboard at half peak")?;
    report.add(
        "dashboard p99 at half peak",
        half.p99_ms(),
        "ms",
        None,
        &[Target::Below(P99_AT_HALF_PEAK_MS)],
    );
    peak_rss = peak_rss.max(server.process.peak_rss_mib()?);
    report.add(
        "resident memory, peak under load",
        peak_rss,
        "MiB",
        None,
        &[Target::Below(100.0)],
    );
    server.process.stop()?;
    Ok(())
}

const FORM: &str = "application/x-www-form-urlencoded";

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn creation_target(plan: &Plan) -> Vec<Target> {
    match plan.database_url {
        None => vec![Target::RatioAtLeast(0.5)],
        Some(_) => vec![],
    }
}

fn decision_target(plan: &Plan) -> Vec<Target> {
    match plan.database_url {
        None => vec![Target::RatioAtLeast(1.0)],
        Some(_) => vec![Target::RatioAtLeast(0.3)],
    }
}

/// Makes API requests that each propose a new intro between two new people
/// (so no guard or cap applies), asking both at once.
struct Creator {
    token: String,
    next: std::sync::atomic::AtomicUsize,
}

impl Creator {
    fn new(token: &str) -> Self {
        Self {
            token: token.to_string(),
            next: Default::default(),
        }
    }

    fn made(&self) -> usize {
        self.next.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn request(&self) -> Vec<u8> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let body = serde_json::json!({
            "requester": {"name": format!("Rae Requester {n}"), "email": format!("rae{n}@requesters.example"),
                          "blurb": "Builds solar microgrids for rural clinics and is looking for a hardware partner."},
            "target": {"name": format!("Tam Target {n}"), "email": format!("tam{n}@targets.example")},
            "reason": "You both work on off-grid power and I think an hour together would help you both.",
            "topic": "off-grid power",
            "mode": "parallel",
        });
        load::post(
            "/api/v1/intros",
            "application/json",
            &format!("Authorization: Bearer {}\r\n", self.token),
            &body.to_string(),
        )
    }
}

async fn create(server: &Running, load: Load, creator: &Arc<Creator>) -> anyhow::Result<Outcome> {
    let c = creator.clone();
    let make: MakeRequest = Arc::new(move |_| Some(c.request()));
    let addr: SocketAddr = server.process.addr;
    load::run(addr, &load, make).await?.check("intro creation")
}

/// A scratch folder for one run, removed afterwards.
pub fn work_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("twoyes-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

pub fn remove(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}
