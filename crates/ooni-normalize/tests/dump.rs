//! Dumps every output of `normalize` over the real fixtures and variants of them, for
//! comparing two versions of the crate: `OONI_DUMP=<file> cargo test -p ooni-normalize
//! --test dump -- --ignored`, once before a change and once after, then `diff` the files.
//!
//! Each fixture is read as a JSONL line, as a postcan member (two uids: one whose receive
//! time is near the measurement, one far from it, so the date rule runs), and as variants
//! that exercise the envelope rules: a lower-case `probe_cc`, an `as`-prefixed ASN, a
//! one-digit hour, missing and wrongly typed fields, a duplicated key.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::fmt::Write as _;

use common::fixtures;
use ooni_normalize::normalize;
use serde_json::{Value, json};

/// The variants of one fixture: (label, record bytes, archive uid).
fn variants(bytes: &[u8]) -> Vec<(String, Vec<u8>, Option<String>)> {
    let text = std::str::from_utf8(bytes).unwrap();
    let mut out = Vec::new();
    let mut line = bytes.to_vec();
    line.push(b'\n');
    out.push(("line".to_owned(), line, None));
    for uid in [
        "20201021101500.000001_XX_test_0123456789abcdef",
        "20240301000000.5_XX_test_0123456789abcdef",
    ] {
        let post = format!("{{\"format\":\"json\",\"content\":{text}}}");
        out.push((
            format!("post {uid}"),
            post.into_bytes(),
            Some(uid.to_owned()),
        ));
    }
    let Ok(Value::Object(base)) = serde_json::from_str::<Value>(text) else {
        return out;
    };
    let mut edit = |label: &str, f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut m = base.clone();
        f(&mut m);
        let mut line = serde_json::to_vec(&m).unwrap();
        line.push(b'\n');
        out.push((label.to_owned(), line, None));
    };
    let lower = |key: &'static str| {
        move |m: &mut serde_json::Map<String, Value>| {
            if let Some(Value::String(s)) = m.get_mut(key) {
                *s = s.to_lowercase();
            }
        }
    };
    edit("probe_cc lower", &lower("probe_cc"));
    edit("probe_asn lower", &lower("probe_asn"));
    edit("one-digit hour", &|m| {
        for key in ["measurement_start_time", "test_start_time"] {
            if let Some(Value::String(s)) = m.get_mut(key)
                && s.len() == 19
                && s.as_bytes()[11] == b'0'
            {
                s.remove(11);
            } else if let Some(Value::String(s)) = m.get_mut(key)
                && s.len() == 19
            {
                s.replace_range(11..13, "7");
            }
        }
    });
    edit("one-digit month and day, two spaces", &|m| {
        if let Some(Value::String(s)) = m.get_mut("measurement_start_time")
            && s.len() == 19
        {
            let t = format!("{}-1-2  {}", &s[..4], &s[11..]);
            *s = t;
        }
    });
    edit("iso time", &|m| {
        if let Some(Value::String(s)) = m.get_mut("measurement_start_time")
            && s.len() == 19
        {
            s.replace_range(10..11, "T");
            s.push('Z');
        }
    });
    edit("no measurement_start_time", &|m| {
        m.remove("measurement_start_time");
    });
    edit("no probe_asn", &|m| {
        m.remove("probe_asn");
    });
    edit("no probe_cc", &|m| {
        m.remove("probe_cc");
    });
    edit("no test_name", &|m| {
        m.remove("test_name");
    });
    edit("numeric probe_asn", &|m| {
        m.insert("probe_asn".into(), json!(3269));
    });
    edit("numeric probe_cc", &|m| {
        m.insert("probe_cc".into(), json!(1));
    });
    edit("three-letter probe_cc", &|m| {
        m.insert("probe_cc".into(), json!("ita"));
    });
    edit("probe_asn XX", &|m| {
        m.insert("probe_asn".into(), json!("XX123"));
    });
    edit("probe_asn AS 1", &|m| {
        m.insert("probe_asn".into(), json!("AS 1"));
    });
    edit("probe_cc zz", &|m| {
        m.insert("probe_cc".into(), json!("zz"));
    });
    edit("null report_id", &|m| {
        m.insert("report_id".into(), Value::Null);
    });
    edit("resolver_asn lower", &|m| {
        m.insert("resolver_asn".into(), json!("as15169"));
    });
    edit("test_name camel", &|m| {
        m.insert("test_name".into(), json!("WebConnectivity"));
    });
    edit("input list", &|m| {
        m.insert("input".into(), json!(["http://a.example/", "b"]));
    });
    edit("input number", &|m| {
        m.insert("input".into(), json!(5));
    });
    edit("test_keys null", &|m| {
        m.insert("test_keys".into(), Value::Null);
    });
    edit("epoch test_start_time", &|m| {
        m.remove("measurement_start_time");
        m.insert("test_start_time".into(), json!(1_448_185_922.5));
    });
    // Text-level variants serde_json::Map cannot express.
    let body = serde_json::to_string(&base).unwrap();
    for (label, key, value) in [
        ("duplicate probe_cc", "probe_cc", "\"XX\""),
        ("duplicate test_keys", "test_keys", "{}"),
        ("duplicate annotations", "annotations", "{}"),
        ("duplicate input", "input", "\"http://dup.example/\""),
        (
            "duplicate measurement_start_time",
            "measurement_start_time",
            "\"2001-01-01 00:00:00\"",
        ),
    ] {
        let mut line = format!("{{\"{key}\":{value},{}", &body[1..]);
        line.push('\n');
        out.push((label.to_owned(), line.into_bytes(), None));
        let post = format!(
            "{{\"format\":\"json\",\"content\":{{\"{key}\":{value},{}}}",
            &body[1..]
        );
        out.push((
            format!("{label} post"),
            post.into_bytes(),
            Some("x".to_owned()),
        ));
    }
    out
}

#[test]
#[ignore = "writes a dump for comparing versions; set OONI_DUMP"]
fn dump_every_output() {
    let Some(path) = std::env::var_os("OONI_DUMP") else {
        panic!("set OONI_DUMP to the output file");
    };
    let mut dump = String::new();
    let mut records: Vec<(String, Vec<u8>, Option<String>)> = Vec::new();
    for (name, bytes) in fixtures() {
        for (label, raw, uid) in variants(&bytes) {
            records.push((format!("{name} [{label}]"), raw, uid));
        }
    }
    // Hand-made records: skips, rejects and the edge cases of the envelope.
    for (label, raw, uid) in [
        ("blank", "\n", None),
        ("blank post", "", Some("u")),
        ("placeholder", "{}\n", None),
        ("placeholder spaces", " { } \n", None),
        (
            "placeholder post",
            "{\"format\":\"json\",\"content\":{}}",
            Some("u"),
        ),
        (
            "yaml post",
            "{\"format\":\"yaml\",\"content\":\"---\"}",
            Some("u"),
        ),
        ("xml post", "{\"format\":\"xml\",\"content\":{}}", Some("u")),
        ("numeric format", "{\"format\":1,\"content\":{}}", Some("u")),
        (
            "content string",
            "{\"format\":\"json\",\"content\":\"x\"}",
            Some("u"),
        ),
        ("content only", "{\"content\":{\"test_name\":\"x\"}}", None),
        ("array", "[1,2]", None),
        ("string", "\"x\"", None),
        ("garbage", "{\"a\":", None),
        ("garbage 2", "nope", None),
        ("bad utf8", "{\"test_name\":\"x\u{fffd}\"}", None),
        ("trailing", "{\"test_name\":\"x\"} x", None),
        ("null", "null", None),
    ] {
        records.push((
            format!("hand: {label}"),
            raw.as_bytes().to_vec(),
            uid.map(str::to_owned),
        ));
    }
    records.push((
        "hand: invalid utf8".to_owned(),
        b"{\"a\":\"\xff\"}".to_vec(),
        None,
    ));
    for (label, raw, uid) in &records {
        let out = normalize(raw, uid.as_deref());
        writeln!(dump, "== {label}\n{out:#?}").unwrap();
        // The string entry points of the verdict and the observations, on bare records.
        if uid.is_none()
            && let Ok(text) = std::str::from_utf8(raw)
        {
            let fps = ooni_verdict::Fingerprints::embedded();
            let drop = ooni_verdict::drop_reason(text);
            let judged = ooni_verdict::judge(text, Some("20201021101500.000001_XX"), fps)
                .map_err(|e| e.to_string());
            let observed = ooni_observations::observe(text).map_err(|e| e.to_string());
            writeln!(
                dump,
                "-- verdict {drop:?}\n{judged:#?}\n-- observe\n{observed:#?}"
            )
            .unwrap();
        }
    }
    std::fs::write(path, dump).unwrap();
}
