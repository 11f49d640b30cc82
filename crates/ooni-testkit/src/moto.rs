//! A `moto_server` on a free loopback port that stops when its [`Moto`] is dropped *or* when
//! the test process dies in any way (panic=abort, a nextest timeout, SIGKILL).
//!
//! `Drop` alone is not enough: statics are never dropped and a killed process runs no
//! destructors. So moto runs under a tiny Python watchdog ([`WATCHDOG`]) whose stdin is a
//! pipe from this process. The kernel closes that pipe when this process exits for any
//! reason; on EOF the watchdog stops moto's whole process group and exits.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `argv[1:]` (`moto_server -H 127.0.0.1 -p PORT`) in a new session, so that it and
/// whatever it spawns (`moto_server` may be a pyenv shim) can be signalled as one process
/// group, then blocks reading stdin. On EOF, or SIGTERM/SIGHUP/SIGINT, it sends SIGTERM to
/// the group, SIGKILL after 3 s, and exits 0. If moto exits on its own first (port taken,
/// crash), the watchdog exits with moto's status (128+signal when killed); 127 when
/// `moto_server` is not on PATH. On Linux moto also gets SIGKILL should the watchdog itself
/// be SIGKILLed (PR_SET_PDEATHSIG).
const WATCHDOG: &str = r#"
import os, shutil, signal, subprocess, sys, threading

def stop(*_):
    raise KeyboardInterrupt

for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    signal.signal(s, stop)

proc = None
stopping = threading.Event()
done = threading.Event()

def status(code):
    return code if code >= 0 else 128 - code

def reap():
    code = proc.wait()
    if not stopping.is_set():
        os._exit(status(code))
    done.set()

try:
    exe = shutil.which(sys.argv[1])
    if exe is None:
        os._exit(127)
    pdeathsig = None
    try:
        import ctypes
        prctl = ctypes.CDLL(None, use_errno=True).prctl
        pdeathsig = lambda: prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except Exception:
        pass
    proc = subprocess.Popen(
        [exe] + sys.argv[2:],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=pdeathsig,
    )
    threading.Thread(target=reap, daemon=True).start()
    while os.read(0, 65536):
        pass
except BaseException:
    pass

for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    signal.signal(s, signal.SIG_IGN)
stopping.set()
if proc is None:
    os._exit(1)

def killpg(sig):
    try:
        os.killpg(proc.pid, sig)
    except OSError:
        pass

killpg(signal.SIGTERM)
done.wait(3)
killpg(signal.SIGKILL)
done.wait(2)
os._exit(0)
"#;

/// moto's server application (as `moto_server` builds it) under werkzeug without threads:
/// requests are answered one at a time, each connection closed after its answer (HTTP/1.0).
/// Arguments: host, port.
const SERIAL_MOTO: &str = r#"
import os, sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
os.environ.setdefault("MOTO_PORT", sys.argv[2])
run_simple(sys.argv[1], int(sys.argv[2]), DomainDispatcherApplication(create_backend_app), threaded=False)
"#;

/// The watchdog's exit status when `moto_server` is not on PATH (also pyenv's, when the shim
/// exists but the active Python lacks moto).
const NOT_FOUND: i32 = 127;

const NOT_ON_PATH: &str = "`moto_server` is not on PATH. The ooni-s3 tests need a real S3 \
                           server: install it with `pip install 'moto[server]'` (CI does).";

/// A running moto server.
pub struct Moto {
    /// `python3 -c WATCHDOG moto_server …`: moto's parent, which stops it on stdin EOF.
    watchdog: Child,
    /// The write end of the watchdog's stdin; dropping it stops moto.
    lifeline: Option<ChildStdin>,
    /// `127.0.0.1:PORT`.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Moto {
    /// Starts `moto_server -H 127.0.0.1 -p <free port>` and waits until it answers HTTP.
    ///
    /// The server stops when the `Moto` is dropped, and also when this process dies without
    /// running destructors.
    ///
    /// Panics (failing the test) when `moto_server` is not installed.
    pub fn start() -> Moto {
        Moto::launch(&["moto_server", "-H", "127.0.0.1", "-p"])
    }

    /// Starts moto's own application answering one request at a time (a single-threaded WSGI server), for
    /// tests of racing conditional writes: `moto_server` answers on many threads, and moto
    /// checks a PUT's `If-None-Match` / `If-Match` and then writes, so two racing writers
    /// could both win (seen once in CI: two of eight). S3 makes each conditional write
    /// atomic; so does a server that handles one request at a time, while the writers
    /// still race to reach it.
    pub fn start_serial() -> Moto {
        Moto::launch(&["python3", "-c", SERIAL_MOTO, "127.0.0.1"])
    }

    /// Runs `command` followed by a free port under the watchdog, until it answers HTTP.
    fn launch(command: &[&str]) -> Moto {
        let mut last = String::new();
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .unwrap()
                .port();
            let watchdog = Command::new("python3")
                .args(["-c", WATCHDOG])
                .args(command)
                .arg(port.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let mut watchdog = match watchdog {
                Ok(child) => child,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                    "`python3` is not on PATH; it runs the watchdog that stops moto_server \
                     when the test ends. {NOT_ON_PATH}"
                ),
                Err(e) => panic!("could not start moto_server's watchdog (python3): {e}"),
            };
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let mut moto = Moto {
                lifeline: watchdog.stdin.take(),
                watchdog,
                addr,
                endpoint: format!("http://{addr}"),
            };
            match moto.wait_ready(Duration::from_secs(30)) {
                Ok(()) => return moto,
                Err(e) => last = e,
            }
        }
        panic!(
            "moto_server did not start ({last}). Is it installed? \
             `pip install 'moto[server]'` (CI does)."
        );
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.watchdog.try_wait() {
                if status.code() == Some(NOT_FOUND) {
                    panic!("{NOT_ON_PATH}");
                }
                return Err(format!("moto_server exited with {status} (port taken?)"));
            }
            if answers(self.addr) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("no answer on {} within {limit:?}", self.addr))
    }
}

/// Whether an HTTP server answers on `addr` (how `Moto::start` knows moto is ready, and how
/// tests know it is gone).
pub fn answers(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

impl Drop for Moto {
    /// Closes the watchdog's stdin, which makes it stop moto and exit; kills the watchdog if
    /// it has not exited within 10 s (moto then gets SIGKILL through PR_SET_PDEATHSIG).
    fn drop(&mut self) {
        drop(self.lifeline.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.watchdog.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) if Instant::now() >= deadline => break,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
    }
}
