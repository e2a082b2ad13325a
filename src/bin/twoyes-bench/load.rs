//! A small HTTP/1.1 load generator: keep-alive connections on loopback,
//! every load bounded in count and time. Closed loop (each connection sends
//! its next request when the last answered) measures peak throughput; open
//! loop (requests scheduled at a fixed rate, latency counted from the
//! scheduled time, so a stalled server cannot hide its queue) measures p99
//! at a given load.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Builds request `i` as raw bytes; `None` when there is nothing left to send.
pub type MakeRequest = Arc<dyn Fn(usize) -> Option<Vec<u8>> + Send + Sync>;

#[derive(Debug, Clone)]
pub struct Load {
    pub connections: usize,
    pub max_requests: usize,
    pub duration: Duration,
    /// Requests per second for an open-loop run; `None` for closed loop.
    pub rate: Option<f64>,
    pub expect_status: u16,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub count: usize,
    pub elapsed: Duration,
    pub latencies_us: Vec<u32>,
    pub unexpected: usize,
    pub first_unexpected: Option<String>,
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn p99_ms(&self) -> f64 {
        percentile(&self.latencies_us, 0.99) as f64 / 1000.0
    }

    /// A run that got an answer it did not expect measured something else.
    pub fn check(self, what: &str) -> anyhow::Result<Self> {
        if self.unexpected > 0 {
            bail!(
                "{what}: {} of {} answers were not as expected; first: {}",
                self.unexpected,
                self.count,
                self.first_unexpected.as_deref().unwrap_or("?")
            );
        }
        if self.count == 0 {
            bail!("{what}: no request was answered");
        }
        Ok(self)
    }
}

/// The `q` quantile of unsorted samples (nearest rank).
pub fn percentile(samples: &[u32], q: f64) -> u32 {
    if samples.is_empty() {
        return 0;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub async fn run(addr: SocketAddr, load: &Load, make: MakeRequest) -> anyhow::Result<Outcome> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + load.duration;
    let mut tasks = Vec::with_capacity(load.connections);
    for _ in 0..load.connections {
        let (next, make, load) = (next.clone(), make.clone(), load.clone());
        tasks.push(tokio::spawn(async move {
            connection(addr, &load, start, deadline, &next, &make).await
        }));
    }
    let mut outcome = Outcome::default();
    for task in tasks {
        let part = task.await.context("a load connection panicked")??;
        outcome.count += part.count;
        outcome.latencies_us.extend(part.latencies_us);
        outcome.unexpected += part.unexpected;
        if outcome.first_unexpected.is_none() {
            outcome.first_unexpected = part.first_unexpected;
        }
    }
    outcome.elapsed = start.elapsed();
    Ok(outcome)
}

async fn connection(
    addr: SocketAddr,
    load: &Load,
    start: Instant,
    deadline: Instant,
    next: &AtomicUsize,
    make: &MakeRequest,
) -> anyhow::Result<Outcome> {
    let mut out = Outcome::default();
    let mut stream = connect(addr).await?;
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= load.max_requests {
            break;
        }
        let sent_at = match load.rate {
            Some(rate) => {
                let at = start + Duration::from_secs_f64(i as f64 / rate);
                if at >= deadline {
                    break;
                }
                tokio::time::sleep_until(at.into()).await;
                at
            }
            None => Instant::now(),
        };
        if sent_at >= deadline {
            break;
        }
        let Some(request) = make(i) else { break };
        stream
            .write_all(&request)
            .await
            .context("sending a request")?;
        let answer = read_response(&mut stream, &mut buf).await?;
        out.latencies_us
            .push(sent_at.elapsed().as_micros().min(u32::MAX as u128) as u32);
        out.count += 1;
        if answer.status != load.expect_status {
            out.unexpected += 1;
            if out.first_unexpected.is_none() {
                let body = String::from_utf8_lossy(&answer.body);
                out.first_unexpected = Some(format!(
                    "status {} (expected {}): {}",
                    answer.status,
                    load.expect_status,
                    body.chars().take(300).collect::<String>()
                ));
            }
        }
        if answer.close {
            stream = connect(addr).await?;
        }
    }
    Ok(out)
}

async fn connect(addr: SocketAddr) -> anyhow::Result<TcpStream> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    close: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one response with a `Content-Length` body (what axum sends for
/// every page twoyes serves).
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<Response> {
    buf.clear();
    let head_end = loop {
        if let Some(at) = find(buf, b"\r\n\r\n") {
            break at + 4;
        }
        read_more(stream, buf).await?;
    };
    let head = std::str::from_utf8(&buf[..head_end]).context("a response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line `{status_line}`"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
        close: false,
    };
    if response
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        bail!("chunked responses are not supported by the load generator");
    }
    response.close = response
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let length: usize = response
        .header("content-length")
        .map(|v| v.parse())
        .transpose()
        .context("bad content-length")?
        .unwrap_or(0);
    while buf.len() < head_end + length {
        read_more(stream, buf).await?;
    }
    response.body = buf[head_end..head_end + length].to_vec();
    Ok(response)
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    let n = stream
        .read(&mut chunk)
        .await
        .context("reading a response")?;
    if n == 0 {
        bail!("the server closed the connection");
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Sends these requests round and round, for as long as the load lasts.
pub fn cycle(requests: Arc<Vec<Vec<u8>>>) -> MakeRequest {
    Arc::new(move |i| Some(requests[i % requests.len()].clone()))
}

/// Sends each request once, then stops (each POST decides one ask).
pub fn each_once(requests: Vec<Vec<u8>>) -> MakeRequest {
    Arc::new(move |i| requests.get(i).cloned())
}

/// One request on a fresh connection, for set-up steps (sign-in, probes).
pub async fn once(addr: SocketAddr, request: &[u8]) -> anyhow::Result<Response> {
    let mut stream = connect(addr).await?;
    stream.write_all(request).await?;
    let mut buf = Vec::new();
    read_response(&mut stream, &mut buf).await
}

/// A GET request's bytes.
pub fn get(path: &str, extra_headers: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra_headers}\r\n").into_bytes()
}

/// A POST request's bytes with a body of `content_type`.
pub fn post(path: &str, content_type: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra_headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<u32> = (1..=100).rev().collect();
        assert_eq!(percentile(&samples, 0.99), 99);
        assert_eq!(percentile(&samples, 0.5), 50);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.99), 0);
    }
}
