//! An output kept on an object store (`--out s3://…`), for runs on machines that share no
//! disk: the bucket holds the truth, the local directory is a cache of it.
//!
//! A run on a remote output works in a local directory as it always does, with three
//! additions, all here:
//! - a **lease** on `<state>/lease.json`, taken with a conditional create and renewed with
//!   a conditional replace, so that one process at a time works on a scope (a shard, the
//!   fan-in, a whole output);
//! - a **sync** before anything is read: every scope's manifest is copied from the bucket
//!   into the local directory (a local manifest that differs from the bucket's is dropped
//!   with the files it lists), and committed files are downloaded only when a step reads
//!   them ([`Remote::ensure`]);
//! - a **push** after each local commit: a pending list names the files about to be
//!   uploaded, the files are uploaded, then the manifest is written **on condition that the
//!   bucket still holds the version this run read** (`If-Match`, or `If-None-Match` for the
//!   first). That conditional write is the commit: of two processes working on one scope,
//!   at most one commits, even if a lease was lost unnoticed. The next run removes what a
//!   pending list names that no manifest lists.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ooni_source::{Conditional, OutputError, OutputStore};

use crate::lock::{self, LEASE, LockInfo, Renewer, Watch};
use crate::state::{self, Scope};
use crate::{Event, Observer, RunError};

/// A scope's state on the remote output, held for one run.
#[derive(Debug)]
pub(crate) struct Remote {
    store: Arc<dyn OutputStore>,
    scope: Scope,
    run_id: String,
    lease: Lease,
    commits: Mutex<Commits>,
    /// Files downloaded into the local directory so far.
    downloaded: Mutex<u64>,
}

/// What the bucket holds of this scope, as far as this run knows.
#[derive(Debug)]
struct Commits {
    /// The ETag of the manifest this run read or last wrote; `None` when the bucket has none.
    manifest_etag: Option<String>,
    /// The manifest bytes last written (or read), to skip writing the same again.
    manifest_bytes: Option<Vec<u8>>,
    /// The files the bucket's manifest lists.
    pushed: BTreeSet<String>,
    /// Pushes made, for the pending lists' names.
    pushes: usize,
}

/// What [`Remote::open`] found.
#[derive(Debug, Default)]
pub(crate) struct Synced {
    /// A stale lease taken over, and whose.
    pub stale_lease: Option<String>,
    /// Files an interrupted push left on the bucket, removed.
    pub orphans_removed: u64,
    /// Whether the local directory's state of this scope was replaced by the bucket's.
    pub local_replaced: bool,
}

/// The key of a scope's state directory on the bucket (`_state/`, `_state/shards/4/1/`, …).
fn state_prefix(scope: Scope) -> String {
    let dir = scope.state_dir(Path::new(""));
    format!("{}/", state::relative(Path::new(""), &dir))
}

fn remote_error(source: OutputError) -> RunError {
    RunError::Remote(Box::new(source))
}

impl Remote {
    /// Takes the scope's lease, removes what an interrupted push left, and brings the local
    /// directory's manifests into agreement with the bucket's. `full_refresh` first removes
    /// from the bucket every file the scope's manifest lists, and the manifest.
    pub fn open(
        store: Arc<dyn OutputStore>,
        out: &Path,
        scope: Scope,
        run_id: &str,
        started: &str,
        full_refresh: bool,
        note: &dyn Fn(&str),
    ) -> Result<(Remote, Synced), RunError> {
        let prefix = state_prefix(scope);
        let (lease, stale_lease) = Lease::acquire(
            Arc::clone(&store),
            format!("{prefix}lease.json"),
            run_id,
            started,
            note,
        )?;
        let mut synced = Synced {
            stale_lease,
            ..Synced::default()
        };
        let state_keys = store.list_keys("_state/").map_err(remote_error)?;
        check_mode(&store.location(), scope, &state_keys)?;
        let manifest_key = format!("{prefix}manifest.json");
        let mut current = store.get(&manifest_key).map_err(remote_error)?;
        let listed: BTreeSet<String> = current
            .as_ref()
            .and_then(|(bytes, _)| serde_json::from_slice::<state::Manifest>(bytes).ok())
            .map(|m| m.files)
            .unwrap_or_default();

        // Pending lists of pushes that never committed: their files are orphans.
        for key in state_keys.iter().filter(|k| is_pending_of(k, &prefix)) {
            if let Some((bytes, _)) = store.get(key).map_err(remote_error)? {
                let named: Vec<String> = serde_json::from_slice(&bytes).unwrap_or_default();
                for rel in named {
                    if !listed.contains(&rel) && state::classify(&rel).is_some() {
                        store.delete(&rel).map_err(remote_error)?;
                        synced.orphans_removed += 1;
                    }
                }
            }
            store.delete(key).map_err(remote_error)?;
        }

        if full_refresh && let Some((_, etag)) = current.take() {
            for rel in listed.iter().filter(|rel| state::classify(rel).is_some()) {
                store.delete(rel).map_err(remote_error)?;
            }
            if !store
                .delete_if_match(&manifest_key, &etag)
                .map_err(remote_error)?
            {
                return Err(RunError::refused(format!(
                    "{}/{manifest_key} changed while --full-refresh removed its files: another \
                     process is writing this output",
                    store.location()
                )));
            }
            note(&format!(
                "--full-refresh: removed the {} files {} listed in {}",
                listed.len(),
                manifest_key,
                store.location()
            ));
        }

        // Other scopes' manifests: what they committed (for deduplication, and for the
        // fan-in's checks) is read from local copies, refreshed here.
        let mine = format!("{prefix}manifest.json");
        let remote_manifests: BTreeSet<&String> = state_keys
            .iter()
            .filter(|k| k.ends_with("/manifest.json") && **k != mine)
            .collect();
        for key in &remote_manifests {
            if let Some((bytes, _)) = store.get(key).map_err(remote_error)? {
                state::write_atomically(&out.join(key.as_str()), &bytes)?;
            }
        }
        for local in state::local_manifests(out) {
            if local != mine && !remote_manifests.contains(&local) {
                let path = out.join(&local);
                std::fs::remove_file(&path).map_err(|source| RunError::Io {
                    action: "removing".to_owned(),
                    path,
                    source,
                })?;
            }
        }

        // This scope's manifest: the bucket's wins.
        let local_path = out.join(&mine);
        let local = std::fs::read(&local_path).ok();
        let remote_bytes = current.as_ref().map(|(bytes, _)| bytes.clone());
        if local != remote_bytes {
            if local.is_some() || current.is_some() {
                state::full_refresh(out, scope)?;
                synced.local_replaced = true;
            }
            if let Some(bytes) = &remote_bytes {
                state::write_atomically(&local_path, bytes)?;
            }
        }
        let remote = Remote {
            store,
            scope,
            run_id: run_id.to_owned(),
            lease,
            commits: Mutex::new(Commits {
                manifest_etag: current.map(|(_, etag)| etag),
                manifest_bytes: remote_bytes,
                pushed: listed,
                pushes: 0,
            }),
            downloaded: Mutex::new(0),
        };
        Ok((remote, synced))
    }

    /// Where the output is (`s3://bucket/prefix`).
    pub fn location(&self) -> String {
        self.store.location()
    }

    /// Downloads the committed files among `rels` that the local directory lacks.
    pub fn ensure<'a>(
        &self,
        out: &Path,
        rels: impl IntoIterator<Item = &'a String>,
    ) -> Result<(), RunError> {
        for rel in rels {
            let path = out.join(rel);
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
                continue;
            }
            self.store.download(rel, &path).map_err(remote_error)?;
            if let Ok(mut n) = self.downloaded.lock() {
                *n += 1;
            }
        }
        Ok(())
    }

    /// Files downloaded so far.
    pub fn downloaded(&self) -> u64 {
        self.downloaded.lock().map_or(0, |n| *n)
    }

    /// Commits the local manifest (just saved) to the bucket, after uploading `written`
    /// (files of this run the manifest now lists, relative to `out`); files the bucket's
    /// manifest listed and the local one no longer does are deleted after the commit.
    pub fn push(
        &self,
        out: &Path,
        manifest: &state::Manifest,
        written: &[String],
        observer: &dyn Observer,
    ) -> Result<(), RunError> {
        let mut commits = self
            .commits
            .lock()
            .map_err(|_| RunError::Workers("a push panicked".to_owned()))?;
        let commits = &mut *commits;
        self.lease.check(&self.store.location())?;
        let prefix = state_prefix(self.scope);
        let manifest_key = format!("{prefix}manifest.json");
        let bytes = std::fs::read(out.join(&manifest_key)).map_err(|source| RunError::Io {
            action: "reading".to_owned(),
            path: out.join(&manifest_key),
            source,
        })?;
        if written.is_empty() && commits.manifest_bytes.as_deref() == Some(bytes.as_slice()) {
            return Ok(());
        }
        let pending = format!("{prefix}pending-{}-{:04}.json", self.run_id, commits.pushes);
        commits.pushes += 1;
        if !written.is_empty() {
            let names = serde_json::to_vec(written)?;
            let _ = self
                .store
                .put_if_absent(&pending, &names)
                .map_err(remote_error)?;
            for rel in written {
                self.store
                    .upload(&out.join(rel), rel)
                    .map_err(remote_error)?;
            }
            observer.event(Event::Uploaded {
                files: written.len() as u64,
            });
        }
        let outcome = match &commits.manifest_etag {
            None => self.store.put_if_absent(&manifest_key, &bytes),
            Some(etag) => self.store.put_if_match(&manifest_key, &bytes, etag),
        }
        .map_err(remote_error)?;
        match outcome {
            Conditional::Written { etag } => commits.manifest_etag = Some(etag),
            Conditional::PreconditionFailed => {
                // Another process committed this scope since this run read it. Only the
                // files named after this run are surely ours to remove; the pending list
                // stays for the next run to finish the cleanup.
                for rel in written.iter().filter(|rel| rel.contains(&self.run_id)) {
                    let _ = self.store.delete(rel);
                }
                return Err(RunError::refused(format!(
                    "{}/{manifest_key} was committed by another process while run {} worked \
                     on it: two processes were given the same {}; nothing more of this run is \
                     committed",
                    self.store.location(),
                    self.run_id,
                    scope_name(self.scope)
                )));
            }
        }
        commits.manifest_bytes = Some(bytes);
        if !written.is_empty() {
            self.store.delete(&pending).map_err(remote_error)?;
        }
        for rel in commits.pushed.difference(&manifest.files) {
            if state::classify(rel).is_some() {
                self.store.delete(rel).map_err(remote_error)?;
            }
        }
        commits.pushed = manifest.files.clone();
        Ok(())
    }

    /// Uploads a file outside the manifest (a run's summary, `_runs/<run>.json`).
    pub fn upload(&self, out: &Path, rel: &str) -> Result<(), RunError> {
        self.store.upload(&out.join(rel), rel).map_err(remote_error)
    }
}

fn scope_name(scope: Scope) -> String {
    match scope {
        Scope::Whole => "output".to_owned(),
        Scope::Shard(shard) => format!("shard index ({shard})"),
        Scope::Aggregate => "fan-in".to_owned(),
    }
}

/// `<prefix>pending-….json` directly in the scope's state directory.
fn is_pending_of(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix).is_some_and(|name| {
        name.starts_with("pending-") && name.ends_with(".json") && !name.contains('/')
    })
}

/// An unsharded run and shards never share an output (as on a local directory).
fn check_mode(location: &str, scope: Scope, state_keys: &[String]) -> Result<(), RunError> {
    let sharded = state_keys
        .iter()
        .any(|k| k.starts_with("_state/shards/") && k.ends_with("/manifest.json"));
    let whole = state_keys.iter().any(|k| k == "_state/manifest.json");
    match scope {
        Scope::Whole if sharded => Err(RunError::refused(format!(
            "{location} holds the output of a sharded run: run with --shard I/N and then \
             `ooni-pipeline aggregate`, or use another output"
        ))),
        Scope::Shard(_) | Scope::Aggregate if whole => Err(RunError::refused(format!(
            "{location} holds the output of an unsharded run: shard into another output"
        ))),
        _ => Ok(()),
    }
}

/// A lease on a key of the remote output: the S3 counterpart of the lock file
/// ([`crate::lock`]), with the same rules for a holder that stopped renewing.
#[derive(Debug)]
struct Lease {
    store: Arc<dyn OutputStore>,
    key: String,
    etag: Arc<Mutex<String>>,
    info: Arc<Mutex<LockInfo>>,
    renewer: Renewer,
}

impl Lease {
    fn acquire(
        store: Arc<dyn OutputStore>,
        key: String,
        run_id: &str,
        started: &str,
        note: &dyn Fn(&str),
    ) -> Result<(Lease, Option<String>), RunError> {
        let mut info = lock::new_info(run_id, started);
        let location = format!("{}/{key}", store.location());
        let mut stale = None;
        for _ in 0..5 {
            info.expires_at = lock::now_secs() + LEASE.as_secs();
            let bytes = serde_json::to_vec(&info)?;
            if let Conditional::Written { etag } =
                store.put_if_absent(&key, &bytes).map_err(remote_error)?
            {
                return Ok((Lease::hold(store, key, etag, info), stale));
            }
            let Some((held, etag)) = store.get(&key).map_err(remote_error)? else {
                continue; // released meanwhile
            };
            let holder: Option<LockInfo> = serde_json::from_slice(&held).ok();
            let why = match &holder {
                None => "its lease is unreadable".to_owned(),
                Some(h) => match lock::judge(h, &info) {
                    Watch::Stale(why) => why,
                    Watch::Changed => continue,
                    Watch::Unknown => match wait_for(&*store, &key, h, &etag, note)? {
                        Watch::Stale(why) => why,
                        Watch::Changed => continue,
                        Watch::Alive | Watch::Unknown => return Err(held_by(&location, h)),
                    },
                    Watch::Alive => return Err(held_by(&location, h)),
                },
            };
            if let Conditional::Written { etag } = store
                .put_if_match(&key, &bytes, &etag)
                .map_err(remote_error)?
            {
                stale = Some(match holder {
                    Some(h) => format!(
                        "took over the stale lease {location} of run {} (pid {} on {}, started \
                         {}): {why}",
                        h.run_id, h.pid, h.host, h.started
                    ),
                    None => format!("took over the stale lease {location}: {why}"),
                });
                return Ok((Lease::hold(store, key, etag, info), stale));
            }
        }
        Err(RunError::refused(format!(
            "could not take the lease {location}: other runs keep taking it"
        )))
    }

    fn hold(store: Arc<dyn OutputStore>, key: String, etag: String, info: LockInfo) -> Lease {
        let etag = Arc::new(Mutex::new(etag));
        let info = Arc::new(Mutex::new(info));
        let renewer = {
            let (store, key) = (Arc::clone(&store), key.clone());
            let (etag, info) = (Arc::clone(&etag), Arc::clone(&info));
            Renewer::start("lease-renewer", move || renew(&*store, &key, &etag, &info))
        };
        Lease {
            store,
            key,
            etag,
            info,
            renewer,
        }
    }

    /// Fails if the lease was lost; renews it otherwise (a long batch must not let it run
    /// out just before a commit).
    fn check(&self, location: &str) -> Result<(), RunError> {
        if self.renewer.lost() || !renew(&*self.store, &self.key, &self.etag, &self.info) {
            self.renewer.mark_lost();
            return Err(RunError::refused(format!(
                "lost the lease {location}/{} (it ran out and another run took it over); \
                 stopping without committing",
                self.key
            )));
        }
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewer.stop();
        if !self.renewer.lost()
            && let Ok(etag) = self.etag.lock()
        {
            let _ = self.store.delete_if_match(&self.key, &etag);
        }
    }
}

/// Extends the lease if the bucket still holds this holder's version of it.
fn renew(store: &dyn OutputStore, key: &str, etag: &Mutex<String>, info: &Mutex<LockInfo>) -> bool {
    let (Ok(mut etag), Ok(mut info)) = (etag.lock(), info.lock()) else {
        return false;
    };
    info.expires_at = lock::now_secs() + LEASE.as_secs();
    let Ok(bytes) = serde_json::to_vec(&*info) else {
        return false;
    };
    match store.put_if_match(key, &bytes, &etag) {
        Ok(Conditional::Written { etag: new }) => {
            *etag = new;
            true
        }
        _ => false,
    }
}

/// Watches a holder that may be alive elsewhere until it renews (alive) or its lease ends
/// (stale); waits at most one lease.
fn wait_for(
    store: &dyn OutputStore,
    key: &str,
    holder: &LockInfo,
    etag: &str,
    note: &dyn Fn(&str),
) -> Result<Watch, RunError> {
    note(&format!(
        "{}/{key} is held by run {} (pid {} on {}); waiting up to {} s for it to renew its lease or let it end",
        store.location(),
        holder.run_id,
        holder.pid,
        holder.host,
        holder.expires_at.saturating_sub(lock::now_secs())
    ));
    loop {
        match store.get(key).map_err(remote_error)? {
            None => return Ok(Watch::Changed),
            Some((bytes, now)) if now != etag => {
                let renewed = serde_json::from_slice::<LockInfo>(&bytes)
                    .is_ok_and(|h| h.token == holder.token);
                return Ok(if renewed {
                    Watch::Alive
                } else {
                    Watch::Changed
                });
            }
            Some(_) => {}
        }
        if lock::now_secs() >= holder.expires_at {
            return Ok(Watch::Stale("its lease ended without renewal".to_owned()));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn held_by(location: &str, h: &LockInfo) -> RunError {
    RunError::refused(format!(
        "{location} is locked by run {} (pid {} on {}, started {}), which renews its lease: \
         wait for it to finish",
        h.run_id, h.pid, h.host, h.started
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::atomic::Ordering;

    /// A bucket in memory with S3's conditional-write semantics (ETags are versions).
    #[derive(Debug, Default)]
    struct MemoryBucket {
        objects: Mutex<BTreeMap<String, (Vec<u8>, u64)>>,
        versions: std::sync::atomic::AtomicU64,
    }

    impl MemoryBucket {
        fn write(&self, key: &str, bytes: &[u8]) -> Conditional {
            let version = self.versions.fetch_add(1, Ordering::SeqCst) + 1;
            self.objects
                .lock()
                .unwrap()
                .insert(key.to_owned(), (bytes.to_vec(), version));
            Conditional::Written {
                etag: format!("\"{version}\""),
            }
        }
        fn etag(&self, key: &str) -> Option<String> {
            let objects = self.objects.lock().unwrap();
            objects.get(key).map(|(_, v)| format!("\"{v}\""))
        }
        fn keys(&self) -> Vec<String> {
            self.objects.lock().unwrap().keys().cloned().collect()
        }
    }

    impl OutputStore for MemoryBucket {
        fn location(&self) -> String {
            "mem://bucket".to_owned()
        }
        fn get(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, OutputError> {
            let objects = self.objects.lock().unwrap();
            Ok(objects
                .get(key)
                .map(|(b, v)| (b.clone(), format!("\"{v}\""))))
        }
        fn download(&self, key: &str, dest: &Path) -> Result<(), OutputError> {
            let (bytes, _) = self.get(key)?.unwrap();
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::write(dest, bytes).unwrap();
            Ok(())
        }
        fn upload(&self, local: &Path, key: &str) -> Result<(), OutputError> {
            let _ = self.write(key, &std::fs::read(local).unwrap());
            Ok(())
        }
        fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<Conditional, OutputError> {
            if self.etag(key).is_some() {
                return Ok(Conditional::PreconditionFailed);
            }
            Ok(self.write(key, bytes))
        }
        fn put_if_match(
            &self,
            key: &str,
            bytes: &[u8],
            etag: &str,
        ) -> Result<Conditional, OutputError> {
            if self.etag(key).as_deref() != Some(etag) {
                return Ok(Conditional::PreconditionFailed);
            }
            Ok(self.write(key, bytes))
        }
        fn delete(&self, key: &str) -> Result<(), OutputError> {
            self.objects.lock().unwrap().remove(key);
            Ok(())
        }
        fn delete_if_match(&self, key: &str, etag: &str) -> Result<bool, OutputError> {
            if self.etag(key).as_deref() != Some(etag) {
                return Ok(false);
            }
            self.objects.lock().unwrap().remove(key);
            Ok(true)
        }
        fn list_keys(&self, prefix: &str) -> Result<Vec<String>, OutputError> {
            Ok(self
                .keys()
                .into_iter()
                .filter(|k| k.starts_with(prefix))
                .collect())
        }
    }

    const SHARD: Scope = Scope::Shard(state::Shard { index: 1, count: 4 });
    const PART: &str = "measurements/test_name=whatsapp/measurement_day=2020-10-21/\
                        part-20201021T000000Z-s1n4xabc-0000.parquet";

    fn open(bucket: &Arc<MemoryBucket>, out: &Path, run_id: &str) -> (Remote, Synced) {
        let store: Arc<dyn OutputStore> = Arc::clone(bucket) as Arc<dyn OutputStore>;
        Remote::open(store, out, SHARD, run_id, "now", false, &|_| {}).unwrap()
    }

    /// Commits `files` (written in `out`) as this scope's manifest.
    fn commit(remote: &Remote, out: &Path, files: &[&str]) -> Result<(), RunError> {
        let mut manifest = state::Manifest::load(out, SHARD).unwrap();
        for rel in files {
            let path = out.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, rel.as_bytes()).unwrap();
            manifest.files.insert((*rel).to_owned());
        }
        manifest.save(out, SHARD).unwrap();
        let written: Vec<String> = files.iter().map(|f| (*f).to_owned()).collect();
        remote.push(out, &manifest, &written, &crate::Quiet)
    }

    #[test]
    fn a_process_that_lost_its_lease_cannot_commit_over_its_successor() {
        let bucket = Arc::new(MemoryBucket::default());
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, _) = open(&bucket, a_dir.path(), "20201021T000000Z-s1n4xaaaa");
        // A's lease runs out unnoticed (a paused VM): B finds it ended and takes over.
        let lease = "_state/shards/4/1/lease.json";
        let mut ended = lock::new_info("20201021T000000Z-s1n4xaaaa", "then");
        ended.host = "elsewhere".to_owned();
        let _ = bucket.write(lease, &serde_json::to_vec(&ended).unwrap());
        let (b, synced) = open(&bucket, b_dir.path(), "20201021T000001Z-s1n4xbbbb");
        assert!(synced.stale_lease.unwrap().contains("took over"));
        commit(&b, b_dir.path(), &[PART]).unwrap();

        let a_part = PART.replace("s1n4xabc", "s1n4xaaaa");
        let err = commit(&a, a_dir.path(), &[&a_part]).unwrap_err();
        assert!(err.to_string().contains("lost the lease"), "{err}");
        let manifest: state::Manifest = serde_json::from_slice(
            &bucket
                .get("_state/shards/4/1/manifest.json")
                .unwrap()
                .unwrap()
                .0,
        )
        .unwrap();
        assert_eq!(manifest.files, BTreeSet::from([PART.to_owned()]));
        assert!(!bucket.keys().contains(&a_part), "A uploaded nothing");
    }

    #[test]
    fn the_manifest_is_written_only_over_the_version_this_run_read() {
        let bucket = Arc::new(MemoryBucket::default());
        let dir = tempfile::tempdir().unwrap();
        let (remote, _) = open(&bucket, dir.path(), "20201021T000000Z-s1n4xabc");
        // Another writer replaces the manifest behind this run's back (the lease aside).
        let _ = bucket.write("_state/shards/4/1/manifest.json", b"{}");
        let err = commit(&remote, dir.path(), &[PART]).unwrap_err();
        assert!(
            err.to_string().contains("committed by another process"),
            "{err}"
        );
        assert!(
            !bucket.keys().contains(&PART.to_owned()),
            "its upload is withdrawn"
        );
    }

    #[test]
    fn files_an_interrupted_push_left_are_removed_and_the_local_state_follows_the_bucket() {
        let bucket = Arc::new(MemoryBucket::default());
        let dir = tempfile::tempdir().unwrap();
        let (remote, _) = open(&bucket, dir.path(), "20201021T000000Z-s1n4xabc");
        commit(&remote, dir.path(), &[PART]).unwrap();
        drop(remote);
        // A second push died after uploading, before its manifest: a pending list and an
        // orphan are left.
        let orphan = PART.replace("-0000.parquet", "-0001.parquet");
        let pending = "_state/shards/4/1/pending-20201021T000000Z-s1n4xabc-0001.json";
        let _ = bucket.write(&orphan, b"orphan");
        let _ = bucket.write(pending, &serde_json::to_vec(&[&orphan]).unwrap());

        // Rerun on another machine: an empty work directory.
        let fresh = tempfile::tempdir().unwrap();
        let (remote, synced) = open(&bucket, fresh.path(), "20201021T000100Z-s1n4xdef");
        assert_eq!(synced.orphans_removed, 1);
        let keys = bucket.keys();
        assert!(!keys.contains(&orphan) && !keys.contains(&pending.to_owned()));
        assert!(keys.contains(&PART.to_owned()), "committed files stay");
        let manifest = state::Manifest::load(fresh.path(), SHARD).unwrap();
        assert_eq!(manifest.files, BTreeSet::from([PART.to_owned()]));
        // Committed files are fetched when read, not before.
        assert!(!fresh.path().join(PART).exists());
        remote.ensure(fresh.path(), [&PART.to_owned()]).unwrap();
        assert_eq!(
            std::fs::read(fresh.path().join(PART)).unwrap(),
            PART.as_bytes()
        );
        assert_eq!(remote.downloaded(), 1);
        drop(remote);
        assert!(
            !bucket.keys().iter().any(|k| k.ends_with("lease.json")),
            "the lease is released"
        );
    }

    #[test]
    fn state_prefixes_follow_the_local_layout() {
        assert_eq!(state_prefix(Scope::Whole), "_state/");
        assert_eq!(
            state_prefix(Scope::Shard(state::Shard { index: 1, count: 4 })),
            "_state/shards/4/1/"
        );
        assert_eq!(state_prefix(Scope::Aggregate), "_state/aggregate/");
        assert!(is_pending_of(
            "_state/pending-20261204T000000Z-abc-0000.json",
            "_state/"
        ));
        assert!(!is_pending_of(
            "_state/shards/4/1/pending-x-0000.json",
            "_state/"
        ));
    }
}
