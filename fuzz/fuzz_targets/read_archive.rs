//! `ooni_source::read_records` on arbitrary bytes, read as a `.jsonl.gz`, as a postcan and
//! as a legacy tarcan (`.tar.lz4`), with small limits (64 KiB per record, 4 MiB per object)
//! so that both limits are reachable.
//!
//! Asserts: it never panics; every record is either read or reported, in order, with its
//! position; an error that ends reading (truncated, corrupt) is reported once, last, and a
//! corrupt member withdraws no more than the items passed before it, naming the first it
//! withdraws. For JSONL, the records are checked against an independent decode of the same
//! bytes: when the whole object decodes (or stops at the object limit), there is exactly one
//! item per line of the decoded bytes, a read line holds exactly that line's bytes and an
//! oversized one its length and first bytes; when it breaks, the items that stand (all but
//! the withdrawn ones) are such lines. Every record read is also normalized with the uid its
//! position gives, which must not panic.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use ooni_source::{ArchiveFormat, ArchiveStats, Limits, Position, Record, RecordError};

const LIMITS: Limits = Limits {
    max_record_bytes: 1 << 16,
    max_object_bytes: 1 << 22,
};
const JSONL_KEY: &str = "raw/20201021/10/AZ/whatsapp/2020102110_AZ_whatsapp.n0.0.jsonl.gz";
const POSTCAN_KEY: &str = "raw/20201021/10/AZ/whatsapp/2020102110_AZ_whatsapp.n0.0.tar.gz";
const TARCAN_KEY: &str = "canned/2016-05-01/web_connectivity.0.tar.lz4";
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Other compressed formats' magic numbers (lz4 frame and legacy, zstd, bzip2, xz): an input
/// starting with one gets only the structural checks, so that teaching the reader one of
/// them does not turn this target's plain-bytes expectation into false crashes.
const OTHER_MAGIC: [&[u8]; 5] = [
    &[0x04, 0x22, 0x4d, 0x18],
    &[0x02, 0x21, 0x4c, 0x18],
    &[0x28, 0xb5, 0x2f, 0xfd],
    b"BZh",
    &[0xfd, b'7', b'z', b'X', b'Z', 0x00],
];

fn read(
    key: &str,
    format: ArchiveFormat,
    data: &[u8],
) -> (Vec<Result<Record, RecordError>>, ArchiveStats) {
    let mut items = Vec::new();
    let stats = ooni_source::read_records(key, format, data, LIMITS, |item| items.push(item));
    assert_eq!(stats.gzip, data.starts_with(&GZIP_MAGIC));
    for item in &items {
        match item {
            Ok(record) => {
                // Whatever the archive holds, normalizing it must not panic.
                let _ = ooni_normalize::normalize(&record.bytes, record.position.archive_uid());
                assert!(record.bytes.len() <= LIMITS.max_record_bytes);
            }
            Err(error) => {
                assert!(!error.to_string().is_empty());
                // Bytes in memory never fail to be read: no store error.
                assert!(!error.is_transient(), "{error}");
                if let RecordError::Corrupt { .. } = error {
                    assert!(
                        stats.gzip || stats.lz4,
                        "corrupt, yet not compressed: {error}"
                    );
                }
                if let RecordError::TooLarge { len, max, head, .. } = error {
                    assert_eq!(*max, LIMITS.max_record_bytes);
                    assert!(*len > *max as u64);
                    assert!(head.len() as u64 <= *len);
                }
            }
        }
    }
    // An error that ends reading is reported once, and nothing follows it.
    let stop = items.iter().position(ends_reading);
    if let Some(at) = stop {
        assert_eq!(at, items.len() - 1, "records after an unreadable tail");
        // A corrupt member withdraws the last items passed before it, and names the first.
        let retracted = withdrawn(&items);
        assert!(retracted <= at, "{retracted} withdrawn of {at} passed");
        if retracted > 0 {
            let first = match &items[at - retracted] {
                Ok(record) => &record.position,
                Err(error) => error.position(),
            };
            if let Some(Err(error)) = items.last() {
                assert_eq!(error.position(), first);
            }
        }
    }
    (items, stats)
}

fn ends_reading(item: &Result<Record, RecordError>) -> bool {
    matches!(item, Err(error) if error.ends_reading())
}

/// How many of the items before the last one it withdraws.
fn withdrawn(items: &[Result<Record, RecordError>]) -> usize {
    match items.last() {
        Some(Err(error)) => usize::try_from(error.retracted()).unwrap_or(usize::MAX),
        _ => 0,
    }
}

/// How decoding the whole object ended, read independently of `ooni-source`.
#[derive(Debug, PartialEq)]
enum End {
    /// Everything decoded.
    Whole,
    /// Stopped at `max_object_bytes`, with more to come.
    ObjectLimit,
    /// Corrupt or cut short.
    Broken,
}

/// The object's decoded bytes (at most `max_object_bytes`) and how decoding ended.
fn decode(data: &[u8]) -> (Vec<u8>, End) {
    let max = LIMITS.max_object_bytes as usize;
    let mut out = Vec::new();
    let end = if data.starts_with(&GZIP_MAGIC) {
        let decoder = flate2::bufread::MultiGzDecoder::new(data);
        match decoder.take(max as u64 + 1).read_to_end(&mut out) {
            Ok(_) if out.len() > max => End::ObjectLimit,
            Ok(_) => End::Whole,
            Err(_) => End::Broken,
        }
    } else {
        out.extend_from_slice(data);
        if out.len() > max {
            End::ObjectLimit
        } else {
            End::Whole
        }
    };
    out.truncate(max);
    (out, end)
}

fn jsonl(data: &[u8]) {
    let (items, stats) = read(JSONL_KEY, ArchiveFormat::Jsonl, data);
    let max = LIMITS.max_record_bytes;

    // Lines are numbered from 1 without gaps; only the last line may lack its newline.
    for (i, item) in items.iter().enumerate() {
        let expected = Position::Line(i as u64 + 1);
        match item {
            Ok(record) => {
                assert_eq!(record.position, expected);
                let newline = newline_offsets(&record.bytes);
                assert!(!record.bytes.is_empty());
                assert!(
                    newline.is_empty() || newline == [record.bytes.len() - 1],
                    "a record holds a line break before its end"
                );
                if i + 1 < items.len() {
                    assert!(
                        record.bytes.ends_with(b"\n"),
                        "only the last line may lack \\n"
                    );
                }
            }
            Err(RecordError::TooLarge { position, head, .. }) => {
                assert_eq!(*position, expected);
                assert_eq!(head.len(), max);
            }
            Err(
                RecordError::Truncated {
                    position, partial, ..
                }
                | RecordError::Io {
                    position, partial, ..
                },
            ) => {
                assert_eq!(*position, expected);
                assert!(partial.len() <= max);
            }
            Err(RecordError::Corrupt {
                position,
                retracted,
                ..
            }) => {
                // Withdrawing, it names the first line withdrawn (checked in `read`).
                if *retracted == 0 {
                    assert_eq!(*position, expected);
                }
            }
        }
    }

    if OTHER_MAGIC.iter().any(|magic| data.starts_with(magic)) {
        return;
    }
    let (decoded, end) = decode(data);
    let mut lines: Vec<&[u8]> = decoded.split_inclusive(|b| *b == b'\n').collect();
    let tail = match end {
        // Stopped mid-object: a last line without its newline is the record cut short.
        End::ObjectLimit => match lines.last() {
            Some(last) if !last.ends_with(b"\n") => lines.pop(),
            _ => None,
        },
        End::Whole => None,
        // Where a corrupt stream stops depends on how it is read, but what stands (all but
        // the withdrawn items) comes from members that passed their checks: lines that the
        // independent decode holds too.
        End::Broken => {
            assert!(
                matches!(
                    items.last(),
                    Some(Err(
                        RecordError::Truncated { .. } | RecordError::Corrupt { .. }
                    ))
                ),
                "a broken gzip stream was read without an error"
            );
            let stands = items.len() - 1 - withdrawn(&items);
            assert!(
                stands <= lines.len(),
                "{stands} items stand, {} lines",
                lines.len()
            );
            same_lines(&lines[..stands], &items[..stands]);
            return;
        }
    };

    // Conservation: one item per line, read or reported too large.
    let records = items.iter().filter(|i| !ends_reading(i)).count();
    assert_eq!(records, lines.len(), "lines decoded vs records read");
    same_lines(&lines, &items);
    match end {
        End::Whole => {
            assert_eq!(items.len(), lines.len(), "an error on a whole object");
            assert_eq!(stats.decoded_bytes, decoded.len() as u64);
            assert_eq!(stats.stored_bytes, data.len() as u64);
        }
        End::ObjectLimit => match items.last() {
            Some(Err(error @ RecordError::Truncated { partial, .. })) => {
                assert!(error.is_object_too_large(), "{error}");
                let tail = tail.unwrap_or_default();
                assert_eq!(partial[..], tail[..tail.len().min(max)]);
            }
            other => panic!("an object over the limit ended with {other:?}"),
        },
        End::Broken => unreachable!("returned above"),
    }
}

/// Checks each item against its line: a read line holds exactly its bytes, an oversized one
/// its length and first bytes. Items past the lines (an error that ends reading) are not
/// looked at.
fn same_lines(lines: &[&[u8]], items: &[Result<Record, RecordError>]) {
    let max = LIMITS.max_record_bytes;
    for (line, item) in lines.iter().zip(items) {
        match item {
            Ok(record) => assert_eq!(record.bytes, *line),
            Err(RecordError::TooLarge { len, head, .. }) => {
                assert!(line.len() > max);
                assert_eq!(*len, line.len() as u64);
                assert_eq!(head[..], line[..max]);
            }
            Err(error) => panic!("an error that ends reading among the lines: {error}"),
        }
    }
}

fn newline_offsets(bytes: &[u8]) -> Vec<usize> {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i)
        .collect()
}

fn postcan(data: &[u8]) {
    let (items, _) = read(POSTCAN_KEY, ArchiveFormat::Postcan, data);
    for item in &items {
        match item {
            Ok(Record {
                position: position @ Position::Member(name),
                ..
            }) => {
                assert!(name.ends_with(".post"), "{name:?}");
                if let Some(uid) = position.archive_uid() {
                    assert!(!uid.is_empty() && !uid.contains('/'), "{uid:?}");
                }
            }
            Ok(record) => panic!("a postcan record at {}", record.position),
            Err(RecordError::TooLarge { position, head, .. }) => {
                assert!(matches!(position, Position::Member(n) if n.ends_with(".post")));
                assert!(head.len() <= 4096);
            }
            Err(
                RecordError::Truncated { position, .. }
                | RecordError::Corrupt { position, .. }
                | RecordError::Io { position, .. },
            ) => {
                assert!(matches!(position, Position::Member(_)));
            }
        }
    }
}

fn tarcan(data: &[u8]) {
    let (items, _) = read(TARCAN_KEY, ArchiveFormat::TarLz4, data);
    let mut previous: Option<(&str, u64)> = None;
    for item in &items {
        let position = match item {
            Ok(record) => &record.position,
            Err(error) => error.position(),
        };
        match (item, position) {
            // It names the first line it withdraws (checked in `read`), not the next one.
            (Err(RecordError::Corrupt { retracted, .. }), _) if *retracted > 0 => {}
            (_, Position::MemberLine { member, line }) => {
                assert!(member.ends_with(".json"), "{member:?}");
                // Lines are numbered from 1 in each member, without gaps (two members may
                // have the same name, so a 1 is always a possible start).
                assert!(
                    *line == 1 || previous == Some((member.as_str(), line - 1)),
                    "line {line} of {member:?} after {previous:?}"
                );
                previous = Some((member, *line));
            }
            (
                Err(RecordError::Truncated { .. } | RecordError::Corrupt { .. }),
                Position::Member(_),
            ) => {}
            (item, position) => panic!("a tarcan item at {position}: {item:?}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    jsonl(data);
    postcan(data);
    tarcan(data);
});
