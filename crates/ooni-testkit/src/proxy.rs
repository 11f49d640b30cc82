//! A small HTTP/1.1 proxy on 127.0.0.1 that forwards to a loopback server and injects faults:
//! `503 Slow Down` answers, connections closed before any answer, bodies cut or stalled after N
//! bytes. One request per connection (`Connection: close` both ways). It records every request
//! head it sees, and stops (joining its threads) when dropped.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward it and relay the whole answer.
    Pass,
    /// Answer `503 Slow Down` with S3's XML error body, without forwarding.
    SlowDown,
    /// Close the connection without answering.
    Reset,
    /// Forward, relay the answer's head and the first N body bytes, then close.
    CutAfter(usize),
    /// Forward, relay the head and N body bytes, then send nothing more until the proxy stops
    /// (at most 30 s).
    StallAfter(usize),
    /// Forward and relay everything, with body byte N inverted.
    FlipByte(usize),
}

/// One request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET`, `PUT`, …
    pub method: String,
    /// The request target (`/bucket/key?query`).
    pub target: String,
    /// The whole request head.
    pub head: String,
}

impl Seen {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.head, name)
    }
}

type Plan = dyn Fn(&Seen) -> Fault + Send + Sync;

/// A running proxy.
pub struct Proxy {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    accept: Option<JoinHandle<()>>,
    workers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// Starts a proxy to `upstream` (a loopback address), choosing faults with `plan`.
    pub fn start(
        upstream: SocketAddr,
        plan: impl Fn(&Seen) -> Fault + Send + Sync + 'static,
    ) -> Proxy {
        assert!(
            upstream.ip().is_loopback(),
            "the proxy only talks to 127.0.0.1"
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let workers = Arc::new(Mutex::new(Vec::new()));
        let plan: Arc<Plan> = Arc::new(plan);
        let accept = {
            let (stop, seen, workers) = (stop.clone(), seen.clone(), workers.clone());
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let (stop, seen, plan) = (stop.clone(), seen.clone(), plan.clone());
                    let worker = std::thread::spawn(move || {
                        let _ = handle(client, upstream, &*plan, &seen, &stop);
                    });
                    workers.lock().unwrap().push(worker);
                }
            })
        };
        Proxy {
            endpoint: format!("http://{addr}"),
            addr,
            stop,
            seen,
            accept: Some(accept),
            workers,
        }
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        let workers = std::mem::take(&mut *self.workers.lock().unwrap());
        for worker in workers {
            let _ = worker.join();
        }
    }
}

const SLOW_DOWN_BODY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
<Message>Please reduce your request rate.</Message><RequestId>PROXY</RequestId></Error>";

fn handle(
    mut client: TcpStream,
    upstream: SocketAddr,
    plan: &Plan,
    seen: &Mutex<Vec<Seen>>,
    stop: &AtomicBool,
) -> io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    client.set_write_timeout(Some(Duration::from_secs(10)))?;
    let (head, mut body) = read_head(&mut client)?;
    let mut first = head.lines().next().unwrap_or("").split(' ');
    let request = Seen {
        method: first.next().unwrap_or("").to_owned(),
        target: first.next().unwrap_or("").to_owned(),
        head: head.clone(),
    };
    let length = header(&head, "content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    read_to(&mut client, &mut body, length)?;
    let fault = plan(&request);
    seen.lock().unwrap().push(request.clone());

    match fault {
        Fault::Reset => return Ok(()),
        Fault::SlowDown => {
            let answer = format!(
                "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{SLOW_DOWN_BODY}",
                SLOW_DOWN_BODY.len()
            );
            client.write_all(answer.as_bytes())?;
            return client.shutdown(Shutdown::Write);
        }
        Fault::Pass | Fault::CutAfter(_) | Fault::StallAfter(_) | Fault::FlipByte(_) => {}
    }

    let mut server = TcpStream::connect_timeout(&upstream, Duration::from_secs(5))?;
    server.set_read_timeout(Some(Duration::from_secs(10)))?;
    server.set_write_timeout(Some(Duration::from_secs(10)))?;
    server.write_all(close_connection(&head).as_bytes())?;
    server.write_all(&body)?;

    let (answer_head, mut pending) = read_head(&mut server)?;
    client.write_all(close_connection(&answer_head).as_bytes())?;
    let status: u16 = answer_head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body_len = if request.method == "HEAD" || status == 204 || status == 304 {
        Some(0)
    } else {
        header(&answer_head, "content-length").and_then(|v| v.parse::<usize>().ok())
    };
    let limit = match fault {
        Fault::CutAfter(n) | Fault::StallAfter(n) => Some(body_len.map_or(n, |len| len.min(n))),
        _ => body_len,
    };
    // Relay up to `limit` body bytes (or until the server closes).
    let mut relayed = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if let Fault::FlipByte(at) = fault
            && at >= relayed
            && at - relayed < pending.len()
        {
            pending[at - relayed] ^= 0xff;
        }
        if let Some(limit) = limit {
            if relayed >= limit {
                break;
            }
            let n = pending.len().min(limit - relayed);
            client.write_all(&pending[..n])?;
            relayed += n;
            pending.drain(..n);
            if relayed >= limit {
                break;
            }
        } else {
            client.write_all(&pending)?;
            relayed += pending.len();
            pending.clear();
        }
        let n = server.read(&mut buf)?;
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
    }
    client.flush()?;
    if let Fault::StallAfter(_) = fault {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}

/// Reads up to the end of an HTTP head; returns it and the bytes read past it.
fn read_head(stream: &mut TcpStream) -> io::Result<(String, Vec<u8>)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = data.split_off(end + 4);
            return Ok((String::from_utf8_lossy(&data).into_owned(), rest));
        }
        if data.len() > 256 * 1024 {
            return Err(io::Error::other("HTTP head too long"));
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed within the HTTP head",
            ));
        }
        data.extend_from_slice(&buf[..n]);
    }
}

fn read_to(stream: &mut TcpStream, data: &mut Vec<u8>, len: usize) -> io::Result<()> {
    let mut buf = [0u8; 64 * 1024];
    while data.len() < len {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "body cut"));
        }
        data.extend_from_slice(&buf[..n]);
    }
    Ok(())
}

/// The head with its connection headers replaced by `Connection: close`.
fn close_connection(head: &str) -> String {
    let mut out = String::with_capacity(head.len() + 20);
    for line in head.trim_end_matches("\r\n").split("\r\n") {
        let name = line.split(':').next().unwrap_or("").trim();
        if ["connection", "keep-alive", "proxy-connection"]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
        {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}
