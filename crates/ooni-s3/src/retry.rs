//! Which failures are worth another request, and how long to wait before it.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(20);

/// One failed attempt: whether another may succeed, and what went wrong.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) retryable: bool,
    pub(crate) detail: String,
}

impl Failure {
    /// A failure worth retrying.
    pub(crate) fn retryable(detail: impl Into<String>) -> Failure {
        Failure {
            retryable: true,
            detail: detail.into(),
        }
    }

    /// A failure another attempt would repeat.
    pub(crate) fn fatal(detail: impl Into<String>) -> Failure {
        Failure {
            retryable: false,
            detail: detail.into(),
        }
    }

    /// Classifies an SDK error.
    pub(crate) fn from_sdk<E>(err: SdkError<E, HttpResponse>) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match &err {
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                let code = err.code();
                let retryable = status >= 500
                    || status == 429
                    || status == 408
                    || matches!(
                        code,
                        Some(
                            "SlowDown"
                                | "Throttling"
                                | "ThrottlingException"
                                | "RequestLimitExceeded"
                                | "RequestTimeout"
                                | "InternalError"
                                | "ServiceUnavailable"
                        )
                    );
                let mut detail = format!("HTTP {status}");
                if let Some(code) = code {
                    detail.push(' ');
                    detail.push_str(code);
                }
                if let Some(message) = err.message() {
                    detail.push_str(": ");
                    detail.push_str(message);
                } else if code.is_none() {
                    // No parsable S3 error: show the start of the body, if any.
                    let body = service.raw().body().bytes().unwrap_or_default();
                    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
                    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                    if !text.is_empty() {
                        detail.push_str(": ");
                        detail.push_str(&text);
                    }
                }
                Failure { retryable, detail }
            }
            SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
                Failure::retryable(DisplayErrorContext(&err).to_string())
            }
            SdkError::DispatchFailure(dispatch) => Failure {
                retryable: !dispatch.is_user(),
                detail: DisplayErrorContext(&err).to_string(),
            },
            _ => Failure::fatal(DisplayErrorContext(&err).to_string()),
        }
    }
}

/// The retry budget and timing of a store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub(crate) max_retries: u32,
    pub(crate) backoff_base: Duration,
    pub(crate) timeout: Duration,
}

impl Policy {
    /// The wait before retry number `retry` (1 for the first retry): `base × 2^(retry-1)`, capped
    /// at 20 s, of which a uniformly random part of the lower half is dropped.
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let step = self
            .backoff_base
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
            .min(MAX_BACKOFF);
        step.mul_f64(0.5 + 0.5 * unit_random())
    }
}

/// A number in [0, 1), different on every call (jitter; not for cryptography).
fn unit_random() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = Policy {
            max_retries: 8,
            backoff_base: Duration::from_millis(100),
            timeout: Duration::from_secs(1),
        };
        for retry in 1..=4u32 {
            let step = Duration::from_millis(100 * (1 << (retry - 1)));
            for _ in 0..50 {
                let wait = policy.backoff(retry);
                assert!(wait >= step / 2 && wait <= step, "{wait:?} for {retry}");
            }
        }
        assert!(policy.backoff(40) <= MAX_BACKOFF);
        assert!(policy.backoff(40) >= MAX_BACKOFF / 2);
    }

    #[test]
    fn jitter_varies() {
        let draws: std::collections::BTreeSet<u64> =
            (0..20).map(|_| unit_random().to_bits()).collect();
        assert!(draws.len() > 15);
        assert!((0..1000).all(|_| (0.0..1.0).contains(&unit_random())));
    }
}
