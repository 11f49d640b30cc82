//! The lease that keeps two runs from writing one output directory.
//!
//! `DIR/_state/lock` names its holder (run, pid, host, a random token) and when its lease
//! ends. A live run renews the lease every [`RENEW_EVERY`]; a lock whose lease has ended is
//! taken over whatever its PID or host say, because in containers neither identifies a
//! process (a restarted container is PID 1 again; a rescheduled pod has another hostname).
//! On the same host, a lock whose process is gone, or whose PID is our own, is taken over
//! at once. A holder that may be alive elsewhere is watched for one renewal period: if it
//! renews, the run stops with an error naming it; if its lease ends, it is taken over.
//!
//! The lock is created with a hard link from a complete temporary file, so it is never seen
//! empty or half-written; a takeover moves the stale lock aside before creating a new one,
//! and the holder checks the token before every commit, so two runs never both commit.

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::RunError;
use crate::error::IoContext;
use serde::{Deserialize, Serialize};

/// How long a lease lasts without renewal.
pub const LEASE: Duration = Duration::from_secs(120);
/// How often a live run renews its lease.
pub const RENEW_EVERY: Duration = Duration::from_secs(30);

/// What the lock file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// The holder's process id (in its PID namespace).
    pub pid: u32,
    /// The holder's host name.
    pub host: String,
    /// The holder's run id.
    pub run_id: String,
    /// When the holder started (RFC 3339).
    pub started: String,
    /// Random, per acquisition: tells this holder's lock from a successor's.
    #[serde(default)]
    pub token: String,
    /// Seconds since the Unix epoch at which the lease ends unless renewed.
    #[serde(default)]
    pub expires_at: u64,
}

/// Held while a run writes to an output directory; renewed in the background, released on
/// drop.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    token: String,
    renewer: Renewer,
    info: Arc<Mutex<LockInfo>>,
}

impl Lock {
    /// Takes `<state dir>/lock` (`DIR/_state/lock` for a whole output); returns the lock and,
    /// when a stale lock was taken over, a sentence saying whose. `note` hears about a
    /// holder on another host being watched.
    pub fn acquire(
        dir: &Path,
        run_id: &str,
        started: &str,
        note: &dyn Fn(&str),
    ) -> Result<(Lock, Option<String>), RunError> {
        std::fs::create_dir_all(dir).at("creating", dir)?;
        let path = dir.join("lock");
        let mut info = new_info(run_id, started);
        let mut stale = None;
        for _ in 0..5 {
            info.expires_at = now_secs() + LEASE.as_secs();
            if create(&path, &info)? {
                return Ok((Lock::hold(path, info), stale));
            }
            let holder = read(&path);
            let why = match &holder {
                None => "its lock file is unreadable".to_owned(),
                Some(h) => match judge(h, &info) {
                    Watch::Stale(why) => why,
                    Watch::Changed => continue,
                    watch => match watch_or(watch, h, &path, note) {
                        Watch::Stale(why) => why,
                        Watch::Changed => continue,
                        Watch::Alive | Watch::Unknown => {
                            return Err(crate::RunError::refused(format!(
                                "{} is locked by run {} (pid {} on {}, started {}), which renews \
                             its lease: wait for it to finish",
                                path.display(),
                                h.run_id,
                                h.pid,
                                h.host,
                                h.started
                            )));
                        }
                    },
                },
            };
            take_over(&path, holder.as_ref())?;
            stale = Some(match holder {
                Some(h) => format!(
                    "took over the stale lock of run {} (pid {} on {}, started {}): {why}",
                    h.run_id, h.pid, h.host, h.started
                ),
                None => format!("removed a stale lock: {why}"),
            });
        }
        Err(crate::RunError::refused(format!(
            "could not take {}: other runs keep taking it",
            path.display()
        )))
    }

    fn hold(path: PathBuf, info: LockInfo) -> Lock {
        let token = info.token.clone();
        let info = Arc::new(Mutex::new(info));
        let renewer = {
            let (path, info) = (path.clone(), Arc::clone(&info));
            Renewer::start("lock-renewer", move || renew(&path, &info))
        };
        Lock {
            path,
            token,
            renewer,
            info,
        }
    }

    /// Fails if another run took the lock (our lease ran out, e.g. the machine was
    /// suspended): called before every commit, so that two runs never both commit.
    pub fn check(&self) -> Result<(), RunError> {
        let holder = read(&self.path);
        if self.renewer.lost() || holder.as_ref().map(|h| &h.token) != Some(&self.token) {
            return Err(crate::RunError::refused(format!(
                "lost the lock {} (its lease ran out and {} took it over); stopping without \
                 committing",
                self.path.display(),
                holder.map_or_else(|| "nobody".to_owned(), |h| format!("run {}", h.run_id))
            )));
        }
        // Renew now too: a long batch must not let the lease run out just before a commit.
        if !renew(&self.path, &self.info) {
            return Err(crate::RunError::refused(format!(
                "could not renew the lock {}",
                self.path.display()
            )));
        }
        Ok(())
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.renewer.stop();
        if read(&self.path).is_some_and(|h| h.token == self.token) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A thread that renews a lease every [`RENEW_EVERY`] until stopped, or until a renewal
/// fails: the lease is then lost, and [`Renewer::lost`] says so.
#[derive(Debug)]
pub(crate) struct Renewer {
    lost: Arc<AtomicBool>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Renewer {
    /// Starts the thread `name`; `renew` returns whether the lease is still held.
    pub(crate) fn start(name: &str, mut renew: impl FnMut() -> bool + Send + 'static) -> Renewer {
        let lost = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = {
            let lost = Arc::clone(&lost);
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(RENEW_EVERY) {
                        if !renew() {
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                    }
                })
                .ok()
        };
        Renewer {
            lost,
            stop: Some(stop),
            thread,
        }
    }

    /// Whether a renewal failed (or [`Renewer::mark_lost`] was called).
    pub(crate) fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Records that the lease is lost.
    pub(crate) fn mark_lost(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }

    /// Stops renewing and waits for the thread.
    pub(crate) fn stop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Renewer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// This process as a holder of `run_id`, with a fresh token and no lease yet.
pub(crate) fn new_info(run_id: &str, started: &str) -> LockInfo {
    LockInfo {
        pid: std::process::id(),
        host: hostname(),
        run_id: run_id.to_owned(),
        started: started.to_owned(),
        token: random_tag(),
        expires_at: 0,
    }
}

/// What can be told about a holder without waiting.
pub(crate) fn judge(holder: &LockInfo, me: &LockInfo) -> Watch {
    let now = now_secs();
    if holder.expires_at <= now {
        return Watch::Stale(if holder.expires_at == 0 {
            "it has no lease (written by an older ooni-pipeline)".to_owned()
        } else {
            format!("its lease ended {} s ago", now - holder.expires_at)
        });
    }
    if holder.host != me.host {
        return Watch::Unknown;
    }
    if holder.pid == me.pid {
        // Our own PID, but not our lock: a restarted container (PID 1 again).
        return Watch::Stale("its PID is this process's own (a restarted container)".to_owned());
    }
    match std::fs::read(format!("/proc/{}/cmdline", holder.pid)) {
        Err(_) => Watch::Stale(format!("pid {} no longer exists", holder.pid)),
        Ok(cmdline) if contains(&cmdline, b"ooni-pipeline") => Watch::Alive,
        // A live process that is not ooni-pipeline: the PID was reused.
        Ok(_) => Watch::Stale(format!(
            "pid {} is now another program (a reused PID)",
            holder.pid
        )),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A live holder on this host is refused at once; one elsewhere is watched.
fn watch_or(watch: Watch, holder: &LockInfo, path: &Path, note: &dyn Fn(&str)) -> Watch {
    match watch {
        Watch::Unknown => wait_for(holder, path, note),
        other => other,
    }
}

/// What is known about a lock's holder.
pub(crate) enum Watch {
    /// It is alive (it renewed its lease, or it is a running ooni-pipeline on this host).
    Alive,
    /// Nothing yet: it may be alive on another host.
    Unknown,
    /// Its lease ended; why it is stale.
    Stale(String),
    /// The lock was released or replaced meanwhile: try again.
    Changed,
}

/// Watches a holder that may be alive (on another host, or a live PID that may have been
/// reused) until it renews its lease or the lease ends; waits at most one lease.
fn wait_for(holder: &LockInfo, path: &Path, note: &dyn Fn(&str)) -> Watch {
    note(&format!(
        "{} is held by run {} (pid {} on {}); waiting up to {} s for it to renew its lease or let it end",
        path.display(),
        holder.run_id,
        holder.pid,
        holder.host,
        holder.expires_at.saturating_sub(now_secs())
    ));
    loop {
        match read(path) {
            Some(now) if now.token != holder.token => return Watch::Changed,
            Some(now) if now.expires_at > holder.expires_at => return Watch::Alive,
            None => return Watch::Changed,
            Some(_) => {}
        }
        if now_secs() >= holder.expires_at {
            return Watch::Stale("its lease ended without renewal".to_owned());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Creates the lock from a complete temporary file; `false` if it exists.
fn create(path: &Path, info: &LockInfo) -> Result<bool, RunError> {
    let tmp = path.with_file_name(format!("lock.{}.tmp", info.token));
    crate::state::write_atomically(&tmp, &serde_json::to_vec(info)?)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).at("creating", path),
    }
}

/// Moves a stale lock aside. If what was moved is not the lock judged stale (another run
/// took over in between), it is put back and the caller tries again.
fn take_over(path: &Path, stale: Option<&LockInfo>) -> Result<(), RunError> {
    let aside = path.with_file_name(format!("lock.stale-{}", random_tag()));
    match std::fs::rename(path, &aside) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).at("moving aside", path),
    }
    let moved = read(&aside);
    if let (Some(stale), Some(moved)) = (stale, &moved)
        && moved.token != stale.token
    {
        // A live successor's lock: restore it (unless yet another run created one).
        let _ = std::fs::hard_link(&aside, path);
    }
    let _ = std::fs::remove_file(&aside);
    Ok(())
}

/// Rewrites the lock with a new lease end, if it is still ours.
fn renew(path: &Path, info: &Mutex<LockInfo>) -> bool {
    let Ok(mut info) = info.lock() else {
        return false;
    };
    if read(path).map(|h| h.token) != Some(info.token.clone()) {
        return false;
    }
    info.expires_at = now_secs() + LEASE.as_secs();
    serde_json::to_vec(&*info)
        .ok()
        .is_some_and(|bytes| crate::state::write_atomically(path, &bytes).is_ok())
}

fn read(path: &Path) -> Option<LockInfo> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Eight random hex digits (from the standard library's per-process random hash keys):
/// run ids and lock tokens must differ between runs that start in the same second, even
/// with the same PID (containers are all PID 1).
pub(crate) fn random_tag() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:08x}", hasher.finish() as u32)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn write_holder(dir: &Path, info: &LockInfo) {
        std::fs::create_dir_all(dir.join("_state")).unwrap();
        std::fs::write(dir.join("_state/lock"), serde_json::to_vec(info).unwrap()).unwrap();
    }

    fn holder(pid: u32, host: &str, expires_at: u64) -> LockInfo {
        LockInfo {
            pid,
            host: host.into(),
            run_id: "run-old".into(),
            started: "then".into(),
            token: "old".into(),
            expires_at,
        }
    }

    #[test]
    fn a_live_holder_on_this_host_is_not_stale_and_drop_releases_only_our_lock() {
        let dir = tempfile::tempdir().unwrap();
        let (lock, stale) =
            Lock::acquire(&dir.path().join("_state"), "run-a", "now", &|_| {}).unwrap();
        assert!(stale.is_none());
        let me = read(&dir.path().join("_state/lock")).unwrap();
        assert_eq!(me.pid, std::process::id());
        // PID 1 exists on this host, is not us and is not ooni-pipeline: a reused PID.
        let reused = holder(1, &me.host, now_secs() + 100);
        assert!(matches!(judge(&reused, &me), Watch::Stale(why) if why.contains("reused")));
        // Another host: unknown until watched.
        let live = holder(1, "elsewhere", now_secs() + 100);
        assert!(matches!(judge(&live, &me), Watch::Unknown));
        drop(lock);
        assert!(!dir.path().join("_state/lock").exists());
        // A lock that is not ours any more is left alone on drop.
        let (lock, _) =
            Lock::acquire(&dir.path().join("_state"), "run-a2", "now", &|_| {}).unwrap();
        write_holder(dir.path(), &live);
        drop(lock);
        assert!(dir.path().join("_state/lock").exists());
    }

    #[test]
    fn an_expired_lease_is_taken_over_whatever_the_pid_and_host() {
        let dir = tempfile::tempdir().unwrap();
        // PID 1 on another host: what a restarted, rescheduled container left behind.
        write_holder(dir.path(), &holder(1, "pod-7f9c-old", now_secs() - 1));
        let (lock, stale) =
            Lock::acquire(&dir.path().join("_state"), "run-b", "now", &|_| {}).unwrap();
        let stale = stale.unwrap();
        assert!(
            stale.contains("run-old") && stale.contains("lease ended"),
            "{stale}"
        );
        lock.check().unwrap();
    }

    #[test]
    fn our_own_pid_on_our_host_is_a_restarted_container() {
        let dir = tempfile::tempdir().unwrap();
        write_holder(
            dir.path(),
            &holder(std::process::id(), &hostname(), now_secs() + 100),
        );
        let (_lock, stale) =
            Lock::acquire(&dir.path().join("_state"), "run-c", "now", &|_| {}).unwrap();
        assert!(stale.unwrap().contains("restarted container"));
    }

    #[test]
    fn an_empty_or_garbled_lock_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("_state")).unwrap();
        std::fs::write(dir.path().join("_state/lock"), b"").unwrap();
        let (_lock, stale) =
            Lock::acquire(&dir.path().join("_state"), "run-d", "now", &|_| {}).unwrap();
        assert!(stale.unwrap().contains("unreadable"));
    }

    #[test]
    fn a_lock_taken_over_by_another_run_fails_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let (lock, _) = Lock::acquire(&dir.path().join("_state"), "run-e", "now", &|_| {}).unwrap();
        write_holder(dir.path(), &holder(1, "elsewhere", now_secs() + 100));
        let err = lock.check().unwrap_err();
        assert!(err.to_string().contains("lost the lock"), "{err}");
    }
}
