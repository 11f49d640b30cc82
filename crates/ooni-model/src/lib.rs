//! The model of an OONI measurement, at the root of the crate graph: the one parse of an
//! archive record, the one reading of its envelope fields, and the row types every other
//! crate shares.
//!
//! Principal types:
//!
//! - [`Record`]: one archive record read once ([`Record::parse`]): UTF-8 check, blank
//!   lines, `{}` placeholders and YAML `.post`s ([`Skip`]), the `.post` wrapper unwrapped,
//!   or a [`RecordError`] with a stable [`RecordError::reason`];
//! - [`Measurement`]: the measurement object, its top-level fields captured once as
//!   borrowed raw JSON (`input` is left for its readers to parse), `test_keys` and
//!   `annotations` read once into [`Json`] trees that every typed view of them
//!   deserializes from, with the lenient accessors below; [`Measurement::parse`] reads a bare
//!   measurement as fastpath's Python does;
//! - [`Json`]: a JSON value read once, a serde `Deserializer` for any typed view of it;
//!   [`CowStr`]: a string borrowed unless escaped, the object key of hand-written visitors;
//! - [`TestName`]: the test name, canonical ([`canonical_test_name`]) and checked once;
//!   [`Table`]: the output tables by name;
//! - the rows: [`MeasurementRow`], [`Judgement`], [`UidSource`], [`Observation`] and
//!   [`StageOutcome`] with their enums ([`Stage`], [`OutcomeStage`], [`DomainSource`],
//!   [`Status`], [`BlockingKind`], [`Evidence`]), and the bundle one measurement makes,
//!   [`Measured`] with its [`Provenance`].
//!
//! Nothing here does I/O, and nothing knows about S3, Parquet or polars.
//!
//! # One leniency
//!
//! The normalizer (the row's columns), the fastpath port (`ooni-verdict`) and the
//! observations all read the envelope through this crate, so they cannot disagree on a
//! field. The rules are fastpath's (ooni/backend `fastpath/fastpath/core.py` and `db.py`)
//! wherever fastpath reads the field:
//!
//! | field | accepted | row value | fastpath behavior mirrored |
//! |---|---|---|---|
//! | `probe_cc` | a string that is two ASCII letters in any case; absent, null or `""` | upper-cased (`az` → `AZ`); `None` | `msm["probe_cc"].upper()` |
//! | `probe_asn` | `AS` in any case followed by decimal digits (≤ `u32`); absent | the number (`as28787` → 28787); `0` | `int(msm["probe_asn"][2:])`; OONI's normalizer writes an absent ASN as `AS0` |
//! | `resolver_asn` | as `probe_asn` | the number, else `None` | (fastpath does not read it) |
//! | `measurement_start_time`, `test_start_time` | `%Y-%m-%d %H:%M:%S` read by CPython's `_strptime` ([`parse_start_time`]): one-digit month, day, hour, minute, second; a run of whitespace for the space | the time, written back `YYYY-MM-DD HH:MM:SS` | `datetime.strptime(..., "%Y-%m-%d %H:%M:%S")` |
//! | start time fallbacks | no `measurement_start_time`: `test_start_time` (string, or seconds since the epoch), then `start_time` (seconds) | that time | OONI's normalizer (`normalize_entry`): "the old test_start_time key that now is called measurement_start_time" |
//! | `test_name` | a non-empty string; compact spellings of known names expanded | [`TestName`] | (`webconnectivity` is the spelling of OONI's bucket keys) |
//! | measurement uid receive time | `%Y%m%d%H%M%S.%f_` by `_strptime` ([`parse_uid_time`]) | — | `flag_measurements_with_wrong_date` |
//!
//! Values fastpath accepts and this crate does not, so that they remain rejects: a
//! `probe_cc` that `.upper()` turns into something other than two ASCII letters (`"ita"`,
//! `"ß"`), a `probe_asn` whose `[2:]` Python's `int()` reads but that is not `AS` and
//! digits (`"XX123"`, `"AS 123"`, `"AS1_0"`), non-ASCII digits in a time. For every value
//! this crate accepts, fastpath reads the same country, number and time.
//!
//! A duplicated key keeps its last value (Python's `json`), except in [`Record::parse`]
//! for the envelope fields that become columns, where it is a reject: the record says two
//! things about one column.

mod error;
mod fields;
mod json;
mod observation;
mod record;
mod rows;
mod table;
mod test_name;
mod time;

/// The real measurements of `tests/fixtures/ooni-real`, for this crate's unit tests.
#[cfg(test)]
pub(crate) fn real_fixtures() -> Vec<(std::path::PathBuf, String)> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/ooni-real"
    );
    let mut fixtures: Vec<_> = std::fs::read_dir(dir)
        .expect("the fixtures directory")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("a fixture");
            (path, text)
        })
        .collect();
    fixtures.sort();
    assert!(fixtures.len() > 200, "{} fixtures", fixtures.len());
    fixtures
}

pub use error::{ParseError, RecordError};
pub use fields::{Input, StartTime, parse_asn, parse_country_code};
pub use json::{CowStr, Json};
pub use observation::{
    BlockingKind, DomainSource, Evidence, Observation, OutcomeStage, Stage, StageOutcome, Status,
};
pub use record::{Framing, Measurement, Record, Skip};
pub use rows::{Judgement, Measured, MeasurementRow, Provenance, UidSource};
pub use table::Table;
pub use test_name::{KNOWN_TEST_NAMES, TestName, canonical_test_name};
pub use time::{format_start_time, parse_start_time, parse_uid_time};

/// The JSON text of one value, borrowed from the record (`serde_json`'s `RawValue`).
pub use serde_json::value::RawValue;
