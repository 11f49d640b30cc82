//! Rows → Arrow record batches, in the contract's column order and types.

use std::sync::{Arc, LazyLock};

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, ListBuilder, StringBuilder,
    TimestampMicrosecondArray, UInt16Array, UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use ooni_model::{Measured, MeasurementRow, Observation, StageOutcome};

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

static MEASUREMENTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("measurement_uid", DataType::Utf8, false),
        Field::new("uid_source", DataType::Utf8, false),
        Field::new("content_id", DataType::Utf8, false),
        utf8("report_id"),
        utf8("input"),
        utf8("domain"),
        utf8("test_version"),
        utf8("software_name"),
        utf8("software_version"),
        Field::new(
            "measurement_start_time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        utf8("probe_cc"),
        Field::new("probe_asn", DataType::UInt32, false),
        utf8("probe_network_name"),
        Field::new("resolver_asn", DataType::UInt32, true),
        utf8("resolver_ip"),
        utf8("resolver_network_name"),
        Field::new("test_runtime", DataType::Float64, true),
        Field::new("anomaly", DataType::Boolean, false),
        Field::new("confirmed", DataType::Boolean, false),
        Field::new("msm_failure", DataType::Boolean, false),
        Field::new("blocking_general", DataType::Float64, false),
        utf8("msm_failure_reason"),
        utf8("matched_fingerprint"),
        utf8("ooni_drop_reason"),
        Field::new("source_key", DataType::Utf8, false),
        Field::new("source_line", DataType::UInt64, true),
        utf8("source_member"),
    ]))
});

/// The `measurements` file schema (`test_name` and `measurement_day` are hive partitions).
pub fn measurements_schema() -> SchemaRef {
    Arc::clone(&MEASUREMENTS_SCHEMA)
}

/// A string column, its buffers sized once: grown by doubling, they copied every value
/// about once more (≈2% of the job).
fn strings<'a>(values: impl Iterator<Item = Option<&'a str>> + Clone) -> ArrayRef {
    let (items, bytes) = values.clone().fold((0, 0), |(items, bytes), v| {
        (items + 1, bytes + v.map_or(0, str::len))
    });
    let mut column = StringBuilder::with_capacity(items, bytes);
    for value in values {
        column.append_option(value);
    }
    Arc::new(column.finish())
}

/// Builds one batch of `measurements` rows.
pub fn measurements_batch(rows: &[&Measured]) -> Result<RecordBatch, ArrowError> {
    let r = || rows.iter().map(|m| &m.row);
    let j = || rows.iter().map(|m| &m.judgement);
    let p = || rows.iter().map(|m| &m.provenance);
    let columns: Vec<ArrayRef> = vec![
        strings(r().map(|r| Some(r.measurement_uid.as_str()))),
        strings(r().map(|r| Some(r.uid_source.as_str()))),
        strings(r().map(|r| Some(r.content_id.as_str()))),
        strings(r().map(|r| r.report_id.as_deref())),
        strings(r().map(|r| r.input.as_deref())),
        strings(r().map(|r| r.domain.as_deref())),
        strings(r().map(|r| r.test_version.as_deref())),
        strings(r().map(|r| r.software_name.as_deref())),
        strings(r().map(|r| r.software_version.as_deref())),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                r().map(|r| r.measurement_start_time.and_utc().timestamp_micros()),
            )
            .with_timezone("UTC"),
        ),
        strings(r().map(|r| r.probe_cc.as_deref())),
        Arc::new(UInt32Array::from_iter_values(r().map(|r| r.probe_asn))),
        strings(r().map(|r| r.probe_network_name.as_deref())),
        Arc::new(UInt32Array::from_iter(r().map(|r| r.resolver_asn))),
        strings(r().map(|r| r.resolver_ip.as_deref())),
        strings(r().map(|r| r.resolver_network_name.as_deref())),
        Arc::new(Float64Array::from_iter(r().map(|r| r.test_runtime))),
        Arc::new(BooleanArray::from_iter(j().map(|j| Some(j.anomaly)))),
        Arc::new(BooleanArray::from_iter(j().map(|j| Some(j.confirmed)))),
        Arc::new(BooleanArray::from_iter(j().map(|j| Some(j.msm_failure)))),
        Arc::new(Float64Array::from_iter_values(
            j().map(|j| j.blocking_general),
        )),
        strings(j().map(|j| j.msm_failure_reason.as_deref())),
        strings(j().map(|j| j.matched_fingerprint.as_deref())),
        strings(j().map(|j| j.ooni_drop_reason.as_deref())),
        strings(p().map(|p| Some(p.source_key.as_str()))),
        Arc::new(UInt64Array::from_iter(p().map(|p| p.source_line))),
        strings(p().map(|p| p.source_member.as_deref())),
    ];
    RecordBatch::try_new(measurements_schema(), columns)
}

static OBSERVATIONS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("measurement_uid", DataType::Utf8, false),
        utf8("probe_cc"),
        Field::new("probe_asn", DataType::UInt32, false),
        Field::new("stage", DataType::Utf8, false),
        Field::new("is_control", DataType::Boolean, false),
        utf8("domain"),
        Field::new("domain_source", DataType::Utf8, false),
        utf8("target_id"),
        utf8("ip"),
        Field::new("port", DataType::UInt16, true),
        utf8("failure"),
        utf8("failure_raw"),
        Field::new("t", DataType::Float64, true),
        Field::new("transaction_id", DataType::Int64, true),
        Field::new("source_list", DataType::Utf8, false),
        Field::new("list_index", DataType::UInt32, false),
        utf8("dns_query_type"),
        utf8("dns_engine"),
        Field::new(
            "dns_answers",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
        utf8("tls_server_name"),
        utf8("http_url"),
        Field::new("http_status_code", DataType::Int64, true),
    ]))
});

/// The `observations` file schema (`test_name` and `measurement_day` are hive partitions).
pub fn observations_schema() -> SchemaRef {
    Arc::clone(&OBSERVATIONS_SCHEMA)
}

/// Builds one batch of `observations` rows for the given measurements.
pub fn observations_batch(rows: &[&Measured]) -> Result<RecordBatch, ArrowError> {
    let obs: Vec<(&MeasurementRow, &Observation)> = rows
        .iter()
        .flat_map(|m| m.observations.iter().map(move |o| (&m.row, o)))
        .collect();
    let r = || obs.iter().map(|(r, _)| *r);
    let o = || obs.iter().map(|(_, o)| *o);
    let mut answers = ListBuilder::new(StringBuilder::new());
    for ob in o() {
        for a in &ob.dns_answers {
            answers.values().append_value(a);
        }
        answers.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        strings(r().map(|r| Some(r.measurement_uid.as_str()))),
        strings(r().map(|r| r.probe_cc.as_deref())),
        Arc::new(UInt32Array::from_iter_values(r().map(|r| r.probe_asn))),
        strings(o().map(|o| Some(o.stage.as_str()))),
        Arc::new(BooleanArray::from_iter(o().map(|o| Some(o.is_control)))),
        strings(o().map(|o| o.domain.as_deref())),
        strings(o().map(|o| Some(o.domain_source.as_str()))),
        strings(o().map(|o| o.target_id.as_deref())),
        strings(o().map(|o| o.ip.as_deref())),
        Arc::new(UInt16Array::from_iter(o().map(|o| o.port))),
        strings(o().map(|o| o.failure.as_deref())),
        strings(o().map(|o| o.failure_raw.as_deref())),
        Arc::new(Float64Array::from_iter(o().map(|o| o.t))),
        Arc::new(Int64Array::from_iter(o().map(|o| o.transaction_id))),
        strings(o().map(|o| Some(o.source_list))),
        Arc::new(UInt32Array::from_iter_values(o().map(|o| o.list_index))),
        strings(o().map(|o| o.dns_query_type.as_deref())),
        strings(o().map(|o| o.dns_engine.as_deref())),
        Arc::new(answers.finish()),
        strings(o().map(|o| o.tls_server_name.as_deref())),
        strings(o().map(|o| o.http_url.as_deref())),
        Arc::new(Int64Array::from_iter(o().map(|o| o.http_status_code))),
    ];
    RecordBatch::try_new(observations_schema(), columns)
}

static OUTCOMES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("measurement_uid", DataType::Utf8, false),
        utf8("report_id"),
        utf8("probe_cc"),
        Field::new("probe_asn", DataType::UInt32, false),
        Field::new("domain", DataType::Utf8, false),
        utf8("target_id"),
        Field::new("stage", DataType::Utf8, false),
        Field::new("failed", DataType::Boolean, false),
        utf8("failure"),
        Field::new("status", DataType::Utf8, false),
        utf8("blocking_kind"),
        Field::new("inferred", DataType::Boolean, false),
        Field::new("is_hop", DataType::Boolean, false),
        utf8("evidence_answer"),
        utf8("evidence_fingerprint"),
        utf8("evidence_control"),
        utf8("evidence_hop"),
        utf8("evidence_http_diff"),
        Field::new("msm_failure", DataType::Boolean, false),
        utf8("ooni_drop_reason"),
    ]))
});

/// The `outcomes` file schema: one row per measurement, domain and stage reached, with
/// its status (`ok`, `blocked`, `down`, `failure`), the blocking kind and the evidence (see
/// `docs/blocking.md`), and the measurement's verdict columns that decide whether it counts
/// in `failure_rates`. `report_id` lets the aggregates count independent probe runs.
pub fn outcomes_schema() -> SchemaRef {
    Arc::clone(&OUTCOMES_SCHEMA)
}

/// Builds one batch of `outcomes` rows for the given measurements.
pub fn outcomes_batch(rows: &[&Measured]) -> Result<RecordBatch, ArrowError> {
    let out: Vec<(&Measured, &StageOutcome)> = rows
        .iter()
        .flat_map(|m| m.outcomes.iter().map(move |o| (*m, o)))
        .collect();
    let m = || out.iter().map(|(m, _)| *m);
    let o = || out.iter().map(|(_, o)| *o);
    let e = || o().map(|o| &o.evidence);
    let columns: Vec<ArrayRef> = vec![
        strings(m().map(|m| Some(m.row.measurement_uid.as_str()))),
        strings(m().map(|m| m.row.report_id.as_deref())),
        strings(m().map(|m| m.row.probe_cc.as_deref())),
        Arc::new(UInt32Array::from_iter_values(m().map(|m| m.row.probe_asn))),
        strings(o().map(|o| Some(o.domain.as_str()))),
        strings(o().map(|o| o.target_id.as_deref())),
        strings(o().map(|o| Some(o.stage.as_str()))),
        Arc::new(BooleanArray::from_iter(o().map(|o| Some(o.failed)))),
        strings(o().map(|o| o.failure.as_deref())),
        strings(o().map(|o| Some(o.status.as_str()))),
        strings(o().map(|o| o.blocking_kind.map(|k| k.as_str()))),
        Arc::new(BooleanArray::from_iter(o().map(|o| Some(o.inferred)))),
        Arc::new(BooleanArray::from_iter(o().map(|o| Some(o.is_hop)))),
        strings(e().map(|e| e.answer.as_deref())),
        strings(e().map(|e| e.fingerprint.as_deref())),
        strings(e().map(|e| e.control.as_deref())),
        strings(e().map(|e| e.hop.as_deref())),
        strings(e().map(|e| e.http_diff.as_deref())),
        Arc::new(BooleanArray::from_iter(
            m().map(|m| Some(m.judgement.msm_failure)),
        )),
        strings(m().map(|m| m.judgement.ooni_drop_reason.as_deref())),
    ];
    RecordBatch::try_new(outcomes_schema(), columns)
}
