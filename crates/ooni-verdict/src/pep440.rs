//! `packaging.version.Version` (PEP 440) parsing and ordering, as fastpath's signal rules
//! use it. Invalid strings are `None` (packaging raises `InvalidVersion`).

use std::cmp::Ordering;
use std::sync::OnceLock;

use regex::Regex;

/// A value that sorts below or above every real value (packaging's `Infinity` helpers).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Bound<T> {
    Neg,
    Val(T),
    Pos,
}

/// One segment of a local version label: strings sort before numbers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum LocalPart {
    Str(String),
    Num(u64),
}

/// A parsed PEP 440 version, reduced to packaging's comparison key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    epoch: u64,
    release: Vec<u64>,
    pre: Bound<(u8, u64)>,
    post: Bound<u64>,
    dev: Bound<u64>,
    local: Bound<Vec<LocalPart>>,
}

fn version_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"(?ix)^\s*
            v?
            (?:
                (?:(?P<epoch>[0-9]+)!)?
                (?P<release>[0-9]+(?:\.[0-9]+)*)
                (?P<pre>
                    [-_\.]?
                    (?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)
                    [-_\.]?
                    (?P<pre_n>[0-9]+)?
                )?
                (?P<post>
                    (?:-(?P<post_n1>[0-9]+))
                    |
                    (?:
                        [-_\.]?
                        (?P<post_l>post|rev|r)
                        [-_\.]?
                        (?P<post_n2>[0-9]+)?
                    )
                )?
                (?P<dev>
                    [-_\.]?
                    (?P<dev_l>dev)
                    [-_\.]?
                    (?P<dev_n>[0-9]+)?
                )?
            )
            (?:\+(?P<local>[a-z0-9]+(?:[-_\.][a-z0-9]+)*))?
            \s*$",
        )
        .expect("static regex compiles")
    })
}

/// A numeric segment; values beyond `u64` (unbounded in Python) saturate.
fn seg(m: regex::Match<'_>) -> u64 {
    m.as_str().parse().unwrap_or(u64::MAX)
}

impl Version {
    /// `Version(s)`; `None` where packaging raises `InvalidVersion`.
    pub(crate) fn parse(s: &str) -> Option<Version> {
        let c = version_regex().captures(s)?;
        let num0 = |m: Option<regex::Match<'_>>| m.map_or(0, seg);
        let epoch = num0(c.name("epoch"));
        let mut release: Vec<u64> = c
            .name("release")?
            .as_str()
            .split('.')
            .map(|p| p.parse().unwrap_or(u64::MAX))
            .collect();
        // packaging compares releases with trailing zeros removed.
        while release.last() == Some(&0) {
            release.pop();
        }
        let pre = c.name("pre_l").map(|l| {
            let rank = match l.as_str().to_ascii_lowercase().as_str() {
                "a" | "alpha" => 0,
                "b" | "beta" => 1,
                _ => 2, // c, pre, preview, rc
            };
            (rank, num0(c.name("pre_n")))
        });
        let post = if c.name("post").is_some() {
            Some(num0(c.name("post_n1").or(c.name("post_n2"))))
        } else {
            None
        };
        let dev = c.name("dev").map(|_| num0(c.name("dev_n")));
        let local = c.name("local").map(|l| {
            l.as_str()
                .split(['-', '_', '.'])
                .map(|p| match p.parse::<u64>() {
                    Ok(v) if p.bytes().all(|b| b.is_ascii_digit()) => LocalPart::Num(v),
                    _ => LocalPart::Str(p.to_ascii_lowercase()),
                })
                .collect::<Vec<_>>()
        });
        let pre_key = match (pre, post, dev) {
            (None, None, Some(_)) => Bound::Neg,
            (None, _, _) => Bound::Pos,
            (Some(p), _, _) => Bound::Val(p),
        };
        Some(Version {
            epoch,
            release,
            pre: pre_key,
            post: post.map_or(Bound::Neg, Bound::Val),
            dev: dev.map_or(Bound::Pos, Bound::Val),
            local: local.map_or(Bound::Neg, Bound::Val),
        })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| self.release.cmp(&other.release))
            .then_with(|| self.pre.cmp(&other.pre))
            .then_with(|| self.post.cmp(&other.post))
            .then_with(|| self.dev.cmp(&other.dev))
            .then_with(|| self.local.cmp(&other.local))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn ordering_matches_packaging() {
        assert!(v("0.2.3") < v("0.2.4"));
        assert!(v("0.2.3") == v("0.2.3.0"));
        assert!(v("3.17.0-alpha") < v("3.17.0"));
        assert!(v("3.17.0-alpha.1") > v("3.17.0-alpha"));
        assert!(v("3.17.2.dev0") < v("3.17.2a0"));
        assert!(v("3.17.2") < v("3.17.2.post1"));
        assert!(v("3.10.0-beta.3") < v("3.17.2"));
        assert!(v("1.0+local.7") > v("1.0"));
        assert!(v("v1.0") == v("1.0"));
        assert!(v("0.1.0-dev") < v("0.1.0"));
    }

    #[test]
    fn invalid_versions() {
        assert!(Version::parse("unknown").is_none());
        assert!(Version::parse("").is_none());
        assert!(Version::parse("1.0-foo").is_none());
    }
}
