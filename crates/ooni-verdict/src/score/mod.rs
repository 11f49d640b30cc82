//! `score_measurement` and the per-test `score_*` functions of fastpath `core.py`.

mod im;
mod legacy;
mod web_connectivity;

use crate::envelope::Envelope;
use crate::fingerprints::{Fingerprints, Locality};
use crate::py::{Crash, PyResult};

/// The part of fastpath's `scores` dict that the flags are derived from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scores {
    pub blocking_general: f64,
    pub blocking_country: f64,
    pub blocking_isp: f64,
    pub blocking_local: f64,
    /// `scores["accuracy"]`; absent means 1.0.
    pub accuracy: Option<f64>,
    pub confirmed: bool,
    /// First rule (in fastpath's evaluation order) that set accuracy to 0.
    pub reason: Option<&'static str>,
    /// First confirmed fingerprint.
    pub matched: Option<u32>,
    /// Every fingerprint match with where it was found (web_connectivity only), whether
    /// it is confirmed for the probe's country and whether that country is one of the
    /// fingerprint's.
    pub hits: Vec<(crate::HitLocation, u32, bool, bool)>,
}

impl Scores {
    /// `scores["accuracy"] = 0.0`, remembering why.
    pub(crate) fn fail(&mut self, reason: &'static str) {
        self.accuracy = Some(0.0);
        if self.reason.is_none() {
            self.reason = Some(reason);
        }
    }

    /// `scores[FINGERPRINT_SCOPE_TO_LOCALITY[scope]] = 1.0; scores["confirmed"] = True`.
    pub(crate) fn confirm(&mut self, fps: &Fingerprints, fp: u32) {
        match fps.locality(fp) {
            Locality::General => self.blocking_general = 1.0,
            Locality::Country => self.blocking_country = 1.0,
            Locality::Isp => self.blocking_isp = 1.0,
            Locality::Local => self.blocking_local = 1.0,
        }
        self.confirmed = true;
        if self.matched.is_none() {
            self.matched = Some(fp);
        }
    }

    /// Confirms every match that `is_confirmed` for the probe country.
    pub(crate) fn confirm_matches(&mut self, fps: &Fingerprints, probe_cc: &str, matches: &[u32]) {
        for &fp in matches {
            if fps.is_confirmed(probe_cc, fp) {
                self.confirm(fps, fp);
            }
        }
    }

    /// Effective accuracy (`scores.get("accuracy", 1.0)`).
    pub(crate) fn accuracy(&self) -> f64 {
        self.accuracy.unwrap_or(1.0)
    }
}

/// `g_or(msm, "probe_cc", "ZZ").upper()`.
pub(crate) fn probe_cc_upper(env: &Envelope<'_>) -> PyResult<String> {
    use crate::py::Loose;
    match &env.probe_cc {
        Loose::Missing | Loose::Null => Ok("ZZ".to_owned()),
        Loose::Str(s) => Ok(s.to_uppercase()),
        _ => Err(Crash("probe_cc is not a string")),
    }
}

/// Reads `test_keys` (the one tree of the record) into a typed view; a value the view
/// cannot hold is a crash, as the Python would raise on it.
pub(crate) fn parse_tk<'a, T: serde::Deserialize<'a>>(env: &Envelope<'a>) -> PyResult<T> {
    T::deserialize(env.test_keys).map_err(|_| Crash("unreadable test_keys"))
}

/// `score_measurement(msm)`.
pub(crate) fn score_measurement(env: &Envelope<'_>, fps: &Fingerprints) -> PyResult<Scores> {
    let tn = match &env.test_name {
        crate::py::Loose::Missing => return Err(Crash("missing test_name")),
        crate::py::Loose::Str(s) => s.as_ref(),
        _ => "",
    };
    match tn {
        "telegram" => im::telegram(env),
        "facebook_messenger" => im::facebook_messenger(env),
        "http_header_field_manipulation" => legacy::hhfm(env),
        "http_invalid_request_line" => legacy::http_invalid_request_line(env),
        "whatsapp" => im::whatsapp(env),
        "vanilla_tor" => legacy::vanilla_tor(env),
        "web_connectivity" => web_connectivity::score(env, fps),
        "ndt" => Ok(Scores::default()),
        "tcp_connect" => legacy::tcp_connect(env),
        "dash" => legacy::dash(env),
        "meek_fronted_requests_test" => legacy::meek(env),
        "psiphon" => legacy::psiphon(env),
        "tor" => legacy::tor(env),
        "http_requests" => legacy::http_requests(env, fps),
        "dns_consistency" => Ok(Scores::default()),
        "signal" => im::signal(env),
        "stunreachability" => legacy::stunreachability(env),
        "torsf" => legacy::torsf(env),
        "riseupvpn" => Ok(Scores::default()),
        "openvpn" => legacy::openvpn(env),
        "browser_web" => legacy::browser_web(env),
        _ => {
            let mut s = Scores::default();
            s.fail("unsupported_test");
            Ok(s)
        }
    }
}
