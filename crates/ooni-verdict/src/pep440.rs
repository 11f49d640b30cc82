//! `packaging.version.Version` (PEP 440), as fastpath's signal rules use it, from the
//! `pep440_rs` crate: parsing with PEP 440's normalization (`v1.0`, `3.17.0-alpha.1`,
//! surrounding whitespace) and its ordering. Invalid strings are `None` (packaging raises
//! `InvalidVersion`).

use std::str::FromStr;

/// A parsed PEP 440 version.
pub(crate) type Version = pep440_rs::Version;

/// `Version(s)`, or `None` where packaging raises `InvalidVersion`.
pub(crate) fn parse(s: &str) -> Option<Version> {
    Version::from_str(s).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn v(s: &str) -> Version {
        parse(s).unwrap()
    }

    /// The comparisons fastpath's gates rely on, and packaging's normalization rules.
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
        assert!(v(" 1.0\n") == v("1.0"));
        assert!(v("1.0-1") == v("1.0.post1"));
        assert!(v("1!2.0") > v("3.0"));
        assert!(v("1.0+abc.5") < v("1.0+abc.10"));
        assert!(v("3.17.0-rc.1") < v("3.17.0"));
    }

    #[test]
    fn invalid_versions() {
        for bad in ["unknown", "", "1.0-foo", "1.0.", "a1.0"] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
