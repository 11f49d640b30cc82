//! The one place that decides how an archive's bytes become measurement records.
//!
//! Compression is sniffed from the first bytes (`1f 8b` → gzip, decoded as *multi-member*
//! gzip), never taken from the key: postcans uploaded before Aug 2022 are plain tar despite
//! their `.tar.gz` name. Archives are streamed: at most one record is held at a time.

use std::io::{self, BufRead, BufReader, Read};

use crate::key::ArchiveFormat;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const READ_BUFFER: usize = 256 * 1024;

/// Upper bounds that turn a hostile or broken record into a reject instead of a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest line or `.post` member accepted, in bytes (decompressed).
    pub max_record_bytes: usize,
    /// The most decompressed bytes read from one object (a gzip bomb stops here).
    pub max_object_bytes: u64,
}

impl Default for Limits {
    /// 16 MiB per record (OONI's fastpath assumes measurements under 1 MB; legacy outliers
    /// reach a few MB) and 4 GiB per object (OONI's cans roll over at 20 MB).
    fn default() -> Self {
        Limits {
            max_record_bytes: 16 * 1024 * 1024,
            max_object_bytes: 4 * 1024 * 1024 * 1024,
        }
    }
}

/// The error a [`Capped`] reader returns past its limit.
#[derive(Debug, thiserror::Error)]
#[error("more than {max} bytes after decompression (the object size limit)")]
pub struct ObjectTooLarge {
    /// The limit in force.
    pub max: u64,
}

/// Fails reads once more than `max` bytes have passed.
struct Capped<R> {
    inner: R,
    left: u64,
    max: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // Only an error if there is more to read.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(ObjectTooLarge { max: self.max })),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Where in its archive a record was read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Position {
    /// A line of a `.jsonl.gz`, counted from 1.
    Line(u64),
    /// A member of a postcan, by its full name in the tar.
    Member(String),
}

impl Position {
    /// The `measurement_uid` OONI gave the measurement, when the archive names it
    /// (postcan members are `<measurement_uid>.post`).
    pub fn archive_uid(&self) -> Option<&str> {
        match self {
            Position::Line(_) => None,
            Position::Member(name) => {
                let base = name.rsplit('/').next().unwrap_or(name);
                base.strip_suffix(".post").filter(|uid| !uid.is_empty())
            }
        }
    }

    /// The line number, for lines.
    pub fn line(&self) -> Option<u64> {
        match self {
            Position::Line(n) => Some(*n),
            Position::Member(_) => None,
        }
    }

    /// The tar member name, for postcan members.
    pub fn member(&self) -> Option<&str> {
        match self {
            Position::Line(_) => None,
            Position::Member(m) => Some(m),
        }
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Position::Line(n) => write!(f, "line {n}"),
            Position::Member(m) => write!(f, "member {m}"),
        }
    }
}

/// One measurement's bytes, exactly as stored (a line keeps its trailing `\n`, because
/// OONI's `trivial_id` hashes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The raw bytes.
    pub bytes: Vec<u8>,
    /// Where they were read.
    pub position: Position,
}

/// A record, or part of an archive, that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A line or member over [`Limits::max_record_bytes`]; it was skipped and reading went on.
    #[error("{key}: {position} is {len} bytes, over the {max}-byte limit")]
    TooLarge {
        /// The archive's key.
        key: String,
        /// The oversized record.
        position: Position,
        /// Its length (for lines: bytes up to the next newline).
        len: u64,
        /// The limit in force.
        max: usize,
        /// The first bytes of the record, for the rejects file.
        head: Vec<u8>,
    },
    /// The archive could not be read past this point (truncated gzip, broken tar, I/O error).
    /// `partial` holds the bytes of the record that was being read, if any.
    #[error("{key}: unreadable from {position} on: {source}")]
    Truncated {
        /// The archive's key.
        key: String,
        /// The first record that could not be read whole.
        position: Position,
        /// Bytes of that record read before the error.
        partial: Vec<u8>,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl RecordError {
    /// Whether the archive stopped because it exceeded [`Limits::max_object_bytes`].
    pub fn is_object_too_large(&self) -> bool {
        match self {
            RecordError::Truncated { source, .. } => source
                .get_ref()
                .is_some_and(|inner| inner.is::<ObjectTooLarge>()),
            RecordError::TooLarge { .. } => false,
        }
    }

    /// Where the error happened.
    pub fn position(&self) -> &Position {
        match self {
            RecordError::TooLarge { position, .. } | RecordError::Truncated { position, .. } => {
                position
            }
        }
    }
}

/// Counts about an archive that are not records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArchiveStats {
    /// Compressed (as stored) bytes read.
    pub stored_bytes: u64,
    /// Decompressed bytes read.
    pub decoded_bytes: u64,
    /// Tar members that are not `.post` files (directories, stray files); skipped.
    pub other_members: u64,
    /// Whether the bytes were gzip (whatever the key said).
    pub gzip: bool,
}

/// Counts the bytes that pass through a reader.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Reads every record of one archive, calling `sink` for each record or error, in order.
/// Never fails as a whole: an unreadable tail is reported to `sink` as
/// [`RecordError::Truncated`] and reading stops there.
pub fn read_records(
    key: &str,
    format: ArchiveFormat,
    reader: impl Read,
    limits: Limits,
    mut sink: impl FnMut(Result<Record, RecordError>),
) -> ArchiveStats {
    let mut stored = Counting {
        inner: reader,
        count: 0,
    };
    let mut stats = ArchiveStats::default();
    let decoded_bytes;
    {
        let mut buffered = BufReader::with_capacity(READ_BUFFER, &mut stored);
        let gzip = match buffered.fill_buf() {
            Ok(head) => head.starts_with(&GZIP_MAGIC),
            Err(source) => {
                sink(Err(RecordError::Truncated {
                    key: key.to_owned(),
                    position: first_position(format),
                    partial: Vec::new(),
                    source,
                }));
                return stats;
            }
        };
        stats.gzip = gzip;
        let max = limits.max_object_bytes;
        let decoded: Box<dyn BufRead + '_> = if gzip {
            Box::new(BufReader::with_capacity(
                READ_BUFFER,
                Capped {
                    inner: flate2::bufread::MultiGzDecoder::new(buffered),
                    left: max,
                    max,
                },
            ))
        } else {
            Box::new(BufReader::with_capacity(
                READ_BUFFER,
                Capped {
                    inner: buffered,
                    left: max,
                    max,
                },
            ))
        };
        let mut decoded = Counting {
            inner: decoded,
            count: 0,
        };
        match format {
            ArchiveFormat::Jsonl => read_lines(key, &mut decoded, limits, &mut sink),
            ArchiveFormat::Postcan => {
                stats.other_members = read_members(key, &mut decoded, limits, &mut sink);
            }
        }
        decoded_bytes = decoded.count;
    }
    stats.decoded_bytes = decoded_bytes;
    stats.stored_bytes = stored.count;
    stats
}

fn first_position(format: ArchiveFormat) -> Position {
    match format {
        ArchiveFormat::Jsonl => Position::Line(1),
        ArchiveFormat::Postcan => Position::Member(String::new()),
    }
}

fn read_lines(
    key: &str,
    reader: &mut Counting<Box<dyn BufRead + '_>>,
    limits: Limits,
    sink: &mut impl FnMut(Result<Record, RecordError>),
) {
    let mut line_no = 0u64;
    loop {
        line_no += 1;
        let mut buf = Vec::new();
        match read_line_capped(&mut reader.inner, &mut buf, limits.max_record_bytes) {
            Ok(LineEnd::Eof) => {
                reader.count += buf.len() as u64;
                return;
            }
            Ok(LineEnd::Complete) => {
                reader.count += buf.len() as u64;
                sink(Ok(Record {
                    bytes: buf,
                    position: Position::Line(line_no),
                }));
            }
            Ok(LineEnd::TooLong { len }) => {
                reader.count += len;
                sink(Err(RecordError::TooLarge {
                    key: key.to_owned(),
                    position: Position::Line(line_no),
                    len,
                    max: limits.max_record_bytes,
                    head: buf,
                }));
            }
            Err(source) => {
                reader.count += buf.len() as u64;
                sink(Err(RecordError::Truncated {
                    key: key.to_owned(),
                    position: Position::Line(line_no),
                    partial: buf,
                    source,
                }));
                return;
            }
        }
    }
}

enum LineEnd {
    /// End of input with nothing read.
    Eof,
    /// A line (with its `\n`, or the final line without one).
    Complete,
    /// Over the limit: `buf` holds the first `max` bytes; the rest was skipped.
    TooLong { len: u64 },
}

/// Like `read_until(b'\n')`, but never stores more than `max` bytes of one line.
fn read_line_capped(
    reader: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<LineEnd> {
    let mut len = 0u64;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(match len {
                0 => LineEnd::Eof,
                _ if len > max as u64 => LineEnd::TooLong { len },
                _ => LineEnd::Complete,
            });
        }
        let (chunk, done) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let room = max.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        len += chunk.len() as u64;
        let used = chunk.len();
        reader.consume(used);
        if done {
            return Ok(if len > max as u64 {
                LineEnd::TooLong { len }
            } else {
                LineEnd::Complete
            });
        }
    }
}

fn read_members(
    key: &str,
    reader: &mut impl Read,
    limits: Limits,
    sink: &mut impl FnMut(Result<Record, RecordError>),
) -> u64 {
    let mut other_members = 0;
    let mut archive = tar::Archive::new(reader);
    let entries = match archive.entries() {
        Ok(entries) => entries,
        Err(source) => {
            sink(Err(RecordError::Truncated {
                key: key.to_owned(),
                position: Position::Member(String::new()),
                partial: Vec::new(),
                source,
            }));
            return other_members;
        }
    };
    let mut last_name = String::new();
    for entry in entries {
        let mut entry = match entry {
            Ok(entry) => entry,
            Err(source) => {
                sink(Err(RecordError::Truncated {
                    key: key.to_owned(),
                    position: Position::Member(format!("after {last_name}")),
                    partial: Vec::new(),
                    source,
                }));
                return other_members;
            }
        };
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        last_name.clone_from(&name);
        if !entry.header().entry_type().is_file() || !name.ends_with(".post") {
            other_members += 1;
            continue;
        }
        let size = entry.size();
        if size > limits.max_record_bytes as u64 {
            let mut head = Vec::new();
            let read = (&mut entry).take(4096).read_to_end(&mut head);
            let position = Position::Member(name);
            if let Err(source) = read {
                sink(Err(RecordError::Truncated {
                    key: key.to_owned(),
                    position,
                    partial: head,
                    source,
                }));
                return other_members;
            }
            sink(Err(RecordError::TooLarge {
                key: key.to_owned(),
                position,
                len: size,
                max: limits.max_record_bytes,
                head,
            }));
            continue;
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        if let Err(source) = entry.read_to_end(&mut bytes) {
            sink(Err(RecordError::Truncated {
                key: key.to_owned(),
                position: Position::Member(name),
                partial: bytes,
                source,
            }));
            return other_members;
        }
        sink(Ok(Record {
            bytes,
            position: Position::Member(name),
        }));
    }
    other_members
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn collect(format: ArchiveFormat, bytes: &[u8], limits: Limits) -> Vec<Result<Record, String>> {
        let mut out = Vec::new();
        read_records("k", format, bytes, limits, |r| {
            out.push(r.map_err(|e| e.to_string()));
        });
        out
    }

    #[test]
    fn multi_member_gzip_is_read_whole_and_lines_keep_their_newline() {
        let mut data = gzip(b"{\"a\":1}\n{\"b\":2}\n");
        data.extend(gzip(b"{\"c\":3}"));
        let recs = collect(ArchiveFormat::Jsonl, &data, Limits::default());
        let recs: Vec<_> = recs.into_iter().map(Result::unwrap).collect();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0].bytes, b"{\"a\":1}\n");
        assert_eq!(recs[2].bytes, b"{\"c\":3}");
        assert_eq!(recs[2].position, Position::Line(3));
    }

    #[test]
    fn plain_bytes_named_gzip_are_sniffed() {
        let recs = collect(ArchiveFormat::Jsonl, b"{}\n{}\n", Limits::default());
        assert_eq!(recs.len(), 2);
    }

    #[test]
    fn a_long_line_is_skipped_and_the_next_is_read() {
        let data = format!("{}\n{{}}\n", "x".repeat(100));
        let recs = collect(
            ArchiveFormat::Jsonl,
            data.as_bytes(),
            Limits {
                max_record_bytes: 10,
                ..Limits::default()
            },
        );
        assert!(
            recs[0]
                .as_ref()
                .unwrap_err()
                .contains("line 1 is 101 bytes")
        );
        assert_eq!(recs[1].as_ref().unwrap().bytes, b"{}\n");
    }

    #[test]
    fn truncated_gzip_reports_the_line_it_broke_in() {
        let body: String = (0..2000).map(|i| format!("{{\"n\":{i}}}\n")).collect();
        let data = gzip(body.as_bytes());
        let cut = &data[..data.len() / 2];
        let recs = collect(ArchiveFormat::Jsonl, cut, Limits::default());
        let (ok, err): (Vec<_>, Vec<_>) = recs.into_iter().partition(Result::is_ok);
        assert!(ok.len() > 100);
        assert_eq!(err.len(), 1);
        assert!(
            err[0]
                .as_ref()
                .unwrap_err()
                .contains(&format!("line {}", ok.len() + 1))
        );
    }

    #[test]
    fn an_object_over_the_decompressed_limit_stops_with_its_own_error() {
        let body: String = (0..100).map(|i| format!("{{\"n\":{i}}}\n")).collect();
        let limits = Limits {
            max_object_bytes: 200,
            ..Limits::default()
        };
        let mut errors = Vec::new();
        let mut lines = 0;
        read_records(
            "k",
            ArchiveFormat::Jsonl,
            &gzip(body.as_bytes())[..],
            limits,
            |r| match r {
                Ok(_) => lines += 1,
                Err(e) => errors.push(e),
            },
        );
        assert!(lines > 10 && lines < 100, "{lines}");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].is_object_too_large(), "{}", errors[0]);
    }

    #[test]
    fn postcan_members_carry_their_uid() {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, body) in [
            (
                "2020102110_AZ_whatsapp/20201021101500.000001_AZ_whatsapp_0123456789abcdef.post",
                &b"{}"[..],
            ),
            ("2020102110_AZ_whatsapp/notes.txt", &b"x"[..]),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, body).unwrap();
        }
        let plain = builder.into_inner().unwrap();
        for bytes in [plain.clone(), gzip(&plain)] {
            let mut recs = Vec::new();
            let stats = read_records(
                "k",
                ArchiveFormat::Postcan,
                &bytes[..],
                Limits::default(),
                |r| {
                    recs.push(r.unwrap());
                },
            );
            assert_eq!(recs.len(), 1);
            assert_eq!(
                recs[0].position.archive_uid(),
                Some("20201021101500.000001_AZ_whatsapp_0123456789abcdef")
            );
            assert_eq!(stats.other_members, 1);
        }
    }
}
