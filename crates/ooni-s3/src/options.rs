//! How to reach a bucket.

use std::time::Duration;

/// Where and how an [`S3Store`](crate::S3Store) reads and writes.
///
/// [`Default`] gives OONI's public bucket `ooni-data-eu-fra` in `eu-central-1`, read without
/// signing. Build other options with struct update syntax:
///
/// ```
/// let options = ooni_s3::S3Options {
///     bucket: "my-bucket".to_owned(),
///     prefix: "mirror/".to_owned(),
///     ..ooni_s3::S3Options::default()
/// };
/// assert_eq!(options.region, "eu-central-1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Options {
    /// The bucket name (no `s3://`, no `/`).
    pub bucket: String,
    /// A key prefix under which the store lives: `""` or `"some/prefix/"`. Keys given to and
    /// returned by the store are relative to it. A missing final `/` is added.
    pub prefix: String,
    /// The bucket's region (default `eu-central-1`).
    pub region: String,
    /// A custom endpoint (`http://127.0.0.1:9000`). When `None`, `AWS_ENDPOINT_URL_S3` or
    /// `AWS_ENDPOINT_URL` is used if set, else AWS's own endpoint for the region.
    pub endpoint_url: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`) instead of virtual-host style
    /// (`bucket.endpoint/key`). Also used whenever the endpoint host is an IP address or
    /// `localhost`.
    pub path_style: bool,
    /// `false` (default): no credentials, unsigned requests (public buckets). `true`: the standard
    /// AWS credential chain (environment, profile files, container/instance roles).
    pub signed: bool,
    /// Retries per request after throttling, server errors or broken connections (default 8);
    /// see the crate documentation for how resumed downloads use it.
    pub max_retries: u32,
    /// Prefixes listed at once by [`S3Store::list_many`](crate::S3Store::list_many) (default 8).
    pub list_concurrency: usize,
    /// First backoff step (default 200 ms); each retry doubles it, up to 20 s, with jitter.
    pub backoff_base: Duration,
    /// How long a request may wait for response headers, or a download for its next body bytes,
    /// before the attempt is abandoned and retried (default 30 s).
    pub timeout: Duration,
}

impl Default for S3Options {
    fn default() -> S3Options {
        S3Options {
            bucket: "ooni-data-eu-fra".to_owned(),
            prefix: String::new(),
            region: "eu-central-1".to_owned(),
            endpoint_url: None,
            path_style: false,
            signed: false,
            max_retries: 8,
            list_concurrency: 8,
            backoff_base: Duration::from_millis(200),
            timeout: Duration::from_secs(30),
        }
    }
}

impl S3Options {
    /// Default options for `bucket` with key prefix `prefix` (`""` for the whole bucket).
    pub fn new(bucket: impl Into<String>, prefix: impl Into<String>) -> S3Options {
        S3Options {
            bucket: bucket.into(),
            prefix: prefix.into(),
            ..S3Options::default()
        }
    }

    /// The endpoint to use: the explicit one, else `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`.
    pub(crate) fn resolved_endpoint(&self) -> Option<String> {
        self.endpoint_url.clone().or_else(|| {
            ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
                .iter()
                .filter_map(|name| std::env::var(name).ok())
                .find(|value| !value.trim().is_empty())
        })
    }

    /// The prefix with a final `/` (or empty).
    pub(crate) fn normalized_prefix(&self) -> String {
        let prefix = self.prefix.trim_start_matches('/');
        if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_owned()
        } else {
            format!("{prefix}/")
        }
    }
}

/// Whether virtual-host addressing cannot work for this endpoint (an IP literal or `localhost`).
pub(crate) fn endpoint_needs_path_style(endpoint: &str) -> bool {
    let rest = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        // [::1]:9000
        bracketed.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_and_localhost_endpoints_need_path_style() {
        assert!(endpoint_needs_path_style("http://127.0.0.1:9000"));
        assert!(endpoint_needs_path_style("http://localhost:9000/"));
        assert!(endpoint_needs_path_style("http://[::1]:9000"));
        assert!(endpoint_needs_path_style("10.0.0.1"));
        assert!(!endpoint_needs_path_style(
            "https://s3.eu-central-1.amazonaws.com"
        ));
        assert!(!endpoint_needs_path_style("https://minio.example.org:9000"));
    }

    #[test]
    fn prefixes_end_in_a_slash() {
        assert_eq!(S3Options::new("b", "").normalized_prefix(), "");
        assert_eq!(S3Options::new("b", "a/b").normalized_prefix(), "a/b/");
        assert_eq!(S3Options::new("b", "/a/b/").normalized_prefix(), "a/b/");
    }
}
