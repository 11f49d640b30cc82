//! The S3 store as a run's output: committed files and state written straight to a bucket
//! prefix, with S3's conditional writes for the commits and leases.

use std::io::Write;
use std::path::Path;

use ooni_source::{Conditional, OutputError, OutputStore, Store};

use crate::S3Store;

impl S3Store {
    fn output_error(
        &self,
        action: &'static str,
        key: &str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> OutputError {
        OutputError {
            action,
            location: Store::location(self),
            key: key.to_owned(),
            source: source.into(),
        }
    }
}

impl OutputStore for S3Store {
    fn location(&self) -> String {
        Store::location(self)
    }

    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, OutputError> {
        self.get_with_etag(key)
            .map_err(|e| self.output_error("reading", key, e))
    }

    fn download(&self, key: &str, dest: &Path) -> Result<(), OutputError> {
        let fail = |e: std::io::Error| self.output_error("downloading", key, e);
        let dir = dest.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(fail)?;
        let mut reader = self
            .open(key, None)
            .map_err(|e| self.output_error("downloading", key, e))?;
        // Written beside its destination and renamed: a download cut short leaves no file
        // that looks complete.
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
        std::io::copy(&mut reader, &mut tmp).map_err(fail)?;
        tmp.as_file_mut().flush().map_err(fail)?;
        tmp.persist(dest).map_err(|e| fail(e.error))?;
        Ok(())
    }

    fn upload(&self, local: &Path, key: &str) -> Result<(), OutputError> {
        self.upload_file(local, key)
            .map_err(|e| self.output_error("uploading", key, e))
    }

    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<Conditional, OutputError> {
        S3Store::put_if_absent(self, key, bytes).map_err(|e| self.output_error("creating", key, e))
    }

    fn put_if_match(
        &self,
        key: &str,
        bytes: &[u8],
        etag: &str,
    ) -> Result<Conditional, OutputError> {
        S3Store::put_if_match(self, key, bytes, etag)
            .map_err(|e| self.output_error("replacing", key, e))
    }

    fn delete(&self, key: &str) -> Result<(), OutputError> {
        S3Store::delete(self, key).map_err(|e| self.output_error("deleting", key, e))
    }

    fn delete_if_match(&self, key: &str, etag: &str) -> Result<bool, OutputError> {
        S3Store::delete_if_match(self, key, etag).map_err(|e| self.output_error("deleting", key, e))
    }

    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, OutputError> {
        let mut keys: Vec<String> = self
            .list(prefix)
            .map_err(|e| self.output_error("listing", prefix, e))?
            .into_iter()
            .map(|o| o.key)
            .collect();
        keys.sort();
        Ok(keys)
    }
}
