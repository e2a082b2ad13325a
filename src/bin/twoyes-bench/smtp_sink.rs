//! A local SMTP sink for twoyes to deliver to, and a one-connection client
//! giving the raw rate this machine's loopback SMTP can reach, as a baseline.
//! The sink shares the CPU with the server under test, so its hot path does
//! no allocation and no locking per line: one lock per message.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

const EHLO_REPLY: &[u8] = b"250-sink.twoyes.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n\
250-SMTPUTF8\r\n250-SIZE 52428800\r\n250 ENHANCEDSTATUSCODES\r\n";

const GREETING: &[u8] = b"220 sink.twoyes.test ESMTP twoyes-bench\r\n";
const GO_AHEAD: &[u8] = b"354 End data with <CR><LF>.<CR><LF>\r\n";

#[derive(Default)]
struct Kept {
    first: Option<Instant>,
    last: Option<Instant>,
    messages: Vec<Vec<u8>>,
}

struct Shared {
    keep: bool,
    count: AtomicUsize,
    kept: Mutex<Kept>,
    arrived: Notify,
}

impl Shared {
    /// A poisoned lock only means a test panicked elsewhere; the data is still good.
    fn kept(&self) -> MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn accept(&self, body: Option<Vec<u8>>) {
        let now = Instant::now();
        {
            let mut kept = self.kept();
            kept.first.get_or_insert(now);
            kept.last = Some(now);
            if let Some(body) = body {
                kept.messages.push(body);
            }
            // Counted under the lock, so `first_and_last` never lags `received`.
            self.count.fetch_add(1, Ordering::Release);
        }
        self.arrived.notify_waiters();
    }
}

/// The running sink; dropping it stops accepting connections.
pub struct Sink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accepting: JoinHandle<()>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl Sink {
    /// Listens on 127.0.0.1 on a free port. With `keep`, every message's bytes
    /// are kept; without, only counted (and timed, as with `keep`).
    pub async fn start(keep: bool) -> anyhow::Result<Sink> {
        let socket = TcpSocket::new_v4().context("creating the sink's socket")?;
        socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        // A deep backlog: a pool may open all its connections at once.
        let listener = socket.listen(4096).context("listening for SMTP")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            keep,
            count: AtomicUsize::new(0),
            kept: Mutex::new(Kept::default()),
            arrived: Notify::new(),
        });
        let for_task = shared.clone();
        let accepting = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(serve(stream, for_task.clone()));
                    }
                    // Out of file descriptors, most likely: wait for some to close.
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        });
        Ok(Sink {
            addr,
            shared,
            accepting,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Messages accepted so far.
    pub fn received(&self) -> usize {
        self.shared.count.load(Ordering::Acquire)
    }

    /// Waits until `n` messages have been accepted or `timeout` passes; true if reached.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let shared = &self.shared;
        let reached = async {
            loop {
                let notified = shared.arrived.notified();
                tokio::pin!(notified);
                // Registered before the check, so no message slips in between.
                notified.as_mut().enable();
                if shared.count.load(Ordering::Acquire) >= n {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, reached).await.is_ok()
    }

    /// Instant of the first and last accepted message (None before any).
    pub fn first_and_last(&self) -> Option<(Instant, Instant)> {
        let kept = self.shared.kept();
        kept.first.zip(kept.last)
    }

    /// Takes the kept messages (raw RFC 5322 bytes after dot-unstuffing), leaving none.
    pub fn take_messages(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.shared.kept().messages)
    }
}

/// The command word, up to the first space or line end.
fn verb(line: &[u8]) -> &[u8] {
    let end = line.iter().position(|&b| matches!(b, b' ' | b'\r' | b'\n'));
    &line[..end.unwrap_or(line.len())]
}

async fn serve(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (read, write) = stream.into_split();
    let mut reader = BufReader::with_capacity(64 * 1024, read);
    let mut writer = BufWriter::with_capacity(8 * 1024, write);
    writer.write_all(GREETING).await?;
    writer.flush().await?;
    let mut line = Vec::with_capacity(1024);
    let mut body = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let verb = verb(&line);
        let is = |word: &[u8]| verb.eq_ignore_ascii_case(word);
        let reply: &[u8] = if is(b"EHLO") {
            EHLO_REPLY
        } else if is(b"HELO") {
            b"250 sink.twoyes.test\r\n"
        } else if is(b"MAIL") {
            b"250 2.1.0 Ok\r\n"
        } else if is(b"RCPT") {
            b"250 2.1.5 Ok\r\n"
        } else if is(b"RSET") || is(b"NOOP") {
            b"250 2.0.0 Ok\r\n"
        } else if is(b"QUIT") {
            writer.write_all(b"221 2.0.0 Bye\r\n").await?;
            return writer.flush().await;
        } else if is(b"DATA") {
            // The client waits for 354 before sending the body: always flush.
            writer.write_all(GO_AHEAD).await?;
            writer.flush().await?;
            loop {
                line.clear();
                if reader.read_until(b'\n', &mut line).await? == 0 {
                    return Ok(()); // Gone mid-message: nothing accepted.
                }
                if line == b".\r\n" || line == b".\n" {
                    break;
                }
                if shared.keep {
                    let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
                    body.extend_from_slice(unstuffed);
                }
            }
            let kept = shared.keep.then(|| {
                let capacity = body.len();
                std::mem::replace(&mut body, Vec::with_capacity(capacity))
            });
            shared.accept(kept);
            b"250 2.0.0 Ok: queued\r\n"
        } else {
            b"502 5.5.2 Command not recognized\r\n"
        };
        writer.write_all(reply).await?;
        // Another whole line already read means the client pipelined: its
        // replies go out together, once the batch is answered.
        if !reader.buffer().contains(&b'\n') {
            writer.flush().await?;
        }
    }
}

/// One side of a client session, checking every reply.
struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    reply: Vec<u8>,
}

impl Client {
    /// Sends `bytes` (if any), then reads one possibly multi-line reply and
    /// checks it is of `class` (2xx, 3xx).
    async fn step(&mut self, bytes: &[u8], class: u8, what: &str) -> anyhow::Result<()> {
        self.writer.write_all(bytes).await?;
        loop {
            self.reply.clear();
            if self.reader.read_until(b'\n', &mut self.reply).await? == 0 {
                bail!("the SMTP server closed the connection instead of answering {what}");
            }
            let reply = &self.reply;
            if reply.len() < 4 || reply[0] != class {
                let text = String::from_utf8_lossy(reply);
                let wanted = class as char;
                bail!(
                    "SMTP reply to {what} was {:?}, not {wanted}xx",
                    text.trim_end()
                );
            }
            if reply[3] != b'-' {
                return Ok(());
            }
        }
    }
}

/// The raw send rate of ONE plain TCP connection with TCP_NODELAY: EHLO once, then
/// sequential MAIL FROM / RCPT TO / DATA / message / "." transactions, each reply
/// awaited before the next command (no pipelining), until `max` messages or `duration`.
/// Returns (messages sent, elapsed).
pub async fn raw_send_rate(
    addr: SocketAddr,
    message: &[u8],
    max: usize,
    duration: Duration,
) -> anyhow::Result<(usize, Duration)> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to the SMTP server at {addr}"))?;
    stream.set_nodelay(true)?;
    let (read, writer) = stream.into_split();
    let reader = BufReader::new(read);
    let reply = Vec::with_capacity(512);
    let mut client = Client {
        reader,
        writer,
        reply,
    };
    client.step(b"", b'2', "the connection (greeting)").await?;
    client
        .step(b"EHLO bench.twoyes.test\r\n", b'2', "EHLO")
        .await?;

    // Stuffed once up front, body and terminator in one write, so the loop
    // measures SMTP round trips and not our own copying.
    let mut payload = Vec::with_capacity(message.len() + message.len() / 64 + 8);
    for piece in message.split_inclusive(|&b| b == b'\n') {
        if piece.starts_with(b".") {
            payload.push(b'.');
        }
        payload.extend_from_slice(piece);
    }
    if !payload.is_empty() && !payload.ends_with(b"\r\n") {
        payload.extend_from_slice(b"\r\n");
    }
    payload.extend_from_slice(b".\r\n");

    let start = Instant::now();
    let mut sent = 0;
    while sent < max && start.elapsed() < duration {
        let from = b"MAIL FROM:<bench@twoyes.test>\r\n";
        client.step(from, b'2', "MAIL FROM").await?;
        let to = b"RCPT TO:<sink@twoyes.test>\r\n";
        client.step(to, b'2', "RCPT TO").await?;
        client.step(b"DATA\r\n", b'3', "DATA").await?;
        client.step(&payload, b'2', "the message").await?;
        sent += 1;
    }
    let elapsed = start.elapsed();
    client.step(b"QUIT\r\n", b'2', "QUIT").await?;
    Ok((sent, elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    use tokio::io::AsyncReadExt;

    const MESSAGE: &[u8] = b"From: a@twoyes.test\r\nTo: b@twoyes.test\r\nSubject: hi\r\n\r\n\
Hello.\r\n.a line starting with a dot\r\n..two dots\r\n.\r\nbye\r\n";

    #[tokio::test]
    async fn raw_client_delivers_and_the_sink_keeps_unstuffed_bytes() {
        let sink = Sink::start(true).await.unwrap();
        let long = Duration::from_secs(30);
        let (sent, _) = raw_send_rate(sink.addr(), MESSAGE, 200, long)
            .await
            .unwrap();
        assert_eq!(sent, 200);
        assert!(sink.wait_for(200, Duration::from_secs(5)).await);
        assert_eq!(sink.received(), 200);
        let (first, last) = sink.first_and_last().unwrap();
        assert!(first <= last);
        let kept = sink.take_messages();
        assert_eq!(kept.len(), 200);
        assert!(kept.iter().all(|m| m == MESSAGE));
        assert!(sink.take_messages().is_empty());
        assert!(!sink.wait_for(201, Duration::from_millis(50)).await);
    }

    #[tokio::test]
    async fn lettre_delivers_to_two_recipients() {
        let sink = Sink::start(true).await.unwrap();
        let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(sink.addr().port())
            .build();
        let email = Message::builder()
            .from("Twoyes <hello@twoyes.test>".parse().unwrap())
            .to("Bea <bea@twoyes.test>".parse().unwrap())
            .to("cal@twoyes.test".parse().unwrap())
            .subject("An introduction — déjà vu")
            .body(String::from("Hi both,\r\n.starts with a dot\r\nbye\r\n"))
            .unwrap();
        let formatted = email.formatted();
        mailer.send(email).await.unwrap();
        assert!(sink.wait_for(1, Duration::from_secs(5)).await);
        let kept = sink.take_messages();
        // lettre always appends CRLF "." CRLF, so a body ending in CRLF gains a blank line.
        assert_eq!(kept[0].strip_suffix(b"\r\n"), Some(&formatted[..]));
        let dotted: &[u8] = b"\r\n.starts with a dot\r\n";
        assert!(kept[0].windows(dotted.len()).any(|w| w == dotted));
    }

    #[tokio::test]
    async fn pipelined_commands_get_every_reply_in_order() {
        let sink = Sink::start(true).await.unwrap();
        let mut stream = TcpStream::connect(sink.addr()).await.unwrap();
        let batch = b"EHLO x\r\nNOOP\r\nRSET\r\nMAIL FROM:<a@b> SIZE=10 BODY=8BITMIME\r\n\
RCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nDATA\r\n";
        stream.write_all(batch).await.unwrap();
        let mut got = Vec::new();
        while !got.ends_with(GO_AHEAD) {
            let mut buf = [0u8; 1024];
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        let last_lines = got
            .split(|&b| b == b'\n')
            .filter(|l| l.get(3) == Some(&b' '));
        let codes: Vec<&[u8]> = last_lines.map(|l| &l[..3]).collect();
        let want: [&[u8]; 8] = [
            b"220", b"250", b"250", b"250", b"250", b"250", b"250", b"354",
        ];
        assert_eq!(codes, want);
        let rest = b"x\r\n.\r\nBOGUS\r\nQUIT\r\n";
        stream.write_all(rest).await.unwrap();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).await.unwrap();
        let want = b"250 2.0.0 Ok: queued\r\n502 5.5.2 Command not recognized\r\n221 2.0.0 Bye\r\n";
        assert_eq!(got, want);
        assert_eq!(sink.take_messages(), [b"x\r\n".to_vec()]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn twoyes_pool_delivers_concurrently() {
        use twoyes::config::{SmtpSettings, SmtpTls};
        use twoyes::mail::{OutgoingMessage, SmtpTransport, Transport};
        let sink = Sink::start(true).await.unwrap();
        let settings = SmtpSettings {
            host: "127.0.0.1".into(),
            port: sink.addr().port(),
            tls: SmtpTls::Plain,
            credentials: None,
            ca_file: None,
            pool_size: 16,
            recycle_after: 50,
            max_per_second: None,
        };
        let transport = Arc::new(SmtpTransport::new(settings, Duration::from_secs(10)).unwrap());
        let from = "hello@twoyes.test".parse().ok();
        let to = vec![
            "a@twoyes.test".parse().unwrap(),
            "b@twoyes.test".parse().unwrap(),
        ];
        let message = OutgoingMessage {
            outbox_id: "1".into(),
            message_id: "1".into(),
            envelope: lettre::address::Envelope::new(from, to).unwrap(),
            raw: MESSAGE.to_vec(),
        };
        let sends = (0..400).map(|_| {
            let (transport, message) = (transport.clone(), message.clone());
            tokio::spawn(async move { transport.send(&message).await })
        });
        for send in sends.collect::<Vec<_>>() {
            send.await.unwrap().unwrap();
        }
        assert!(sink.wait_for(400, Duration::from_secs(5)).await);
        let kept = sink.take_messages();
        assert!(
            kept.iter()
                .all(|m| m.strip_suffix(b"\r\n") == Some(MESSAGE))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn raw_rate_order_of_magnitude() {
        let sink = Sink::start(false).await.unwrap();
        let long = Duration::from_secs(60);
        let (sent, took) = raw_send_rate(sink.addr(), MESSAGE, 20_000, long)
            .await
            .unwrap();
        assert!(sink.wait_for(sent, Duration::from_secs(5)).await);
        let rate = sent as f64 / took.as_secs_f64();
        eprintln!("raw SMTP rate, one connection: {sent} messages in {took:?} = {rate:.0}/s");
    }
}
