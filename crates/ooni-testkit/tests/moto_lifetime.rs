//! A [`Moto`] server stops when its owner does: on drop, and when the test process holding
//! it is SIGKILLed (no destructor runs then; the watchdog sees its stdin close).
//!
//! `moto_server` must be on PATH (`pip install 'moto[server]'`).

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ooni_testkit::{Moto, answers};

/// Set in the re-executed test binary: there, [`child_holds_moto_forever`] does its work.
const CHILD_ENV: &str = "OONI_TESTKIT_CHILD";
/// Prefix of the line on which the child reports its server's port.
const PORT_LINE: &str = "OONI_TESTKIT_MOTO_PORT=";

/// Processes (pid, command line) running `moto_server` with `port` among their arguments:
/// moto itself and its watchdog.
fn moto_processes(port: u16) -> Vec<(String, String)> {
    let port = port.to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.iter().any(|a| a.contains("moto_server")) && args.contains(&port) {
            found.push((pid, args.join(" ")));
        }
    }
    found
}

/// Waits up to 10 s for the server on `port` to be gone: no answer and no process left.
fn assert_gone(port: u16) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    loop {
        let answering = answers(addr);
        let processes = moto_processes(port);
        if !answering && processes.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "moto on port {port} still there after 10 s (answers: {answering}); \
             processes: {processes:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn dropping_moto_stops_the_server() {
    let moto = Moto::start();
    let port = moto.addr.port();
    assert!(answers(moto.addr));
    assert!(!moto_processes(port).is_empty() || !std::path::Path::new("/proc").exists());
    drop(moto);
    assert_gone(port);
}

#[test]
fn moto_dies_with_a_killed_test_process() {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = Command::new(exe)
        .args(["--exact", "child_holds_moto_forever", "--nocapture"])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("re-executing the test binary");
    let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut port = None;
    for line in stdout.lines() {
        let line = line.expect("reading the child's stdout");
        if let Some(at) = line.find(PORT_LINE) {
            let digits: String = line[at + PORT_LINE.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            port = Some(digits.parse::<u16>().expect("a port number"));
            break;
        }
    }
    let Some(port) = port else {
        let status = child.wait();
        panic!("the child test printed no port (it exited with {status:?})");
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    assert!(answers(addr), "the child's moto does not answer on {addr}");

    // SIGKILL: the child runs no destructor, no atexit, nothing.
    child.kill().expect("killing the child test process");
    let status = child.wait().expect("reaping the child test process");
    assert!(!status.success());

    assert_gone(port);
}

/// The child half of [`moto_dies_with_a_killed_test_process`]: starts a server, reports its
/// port and waits to be killed. Does nothing unless [`CHILD_ENV`] is set.
#[test]
fn child_holds_moto_forever() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let moto = Moto::start();
    let mut out = std::io::stdout().lock();
    writeln!(out, "\n{PORT_LINE}{}", moto.addr.port()).expect("writing to stdout");
    out.flush().expect("flushing stdout");
    drop(out);
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
