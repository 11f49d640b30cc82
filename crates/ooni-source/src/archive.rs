//! The one place that decides how an archive's bytes become measurement records.
//!
//! Compression is sniffed from the first bytes (`1f 8b` → gzip, decoded as *multi-member*
//! gzip; `04 22 4d 18` → LZ4 frames, decoded as *concatenated* frames), never taken from the
//! key: postcans uploaded before Aug 2022 are plain tar despite their `.tar.gz` name. The
//! key's format says what the decompressed bytes hold: JSONL lines, a tar of `.post` members
//! (postcan), or a tar of report files whose lines are the records (tarcan). Archives are
//! streamed: at most one record is held at a time.

use std::io::{self, BufRead, BufReader, Read};

use lz4_flex::frame::FrameDecoder;

use crate::key::ArchiveFormat;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// The LZ4 frame magic number 0x184D2204, little-endian.
const LZ4_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];
const READ_BUFFER: usize = 256 * 1024;
/// Buffer over one tarcan member (its lines are read through it).
const MEMBER_BUFFER: usize = 64 * 1024;

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

/// The error reading an object returns once it passes [`Limits::max_object_bytes`].
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

/// A tar member's bytes, as many as its header says: the archive ending first is an
/// [`io::ErrorKind::UnexpectedEof`] error rather than a short member (`tar` reads a member cut
/// by the end of its input as a shorter one).
struct WholeMember<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for WholeMember<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(short_member(self.left));
        }
        self.left = self.left.saturating_sub(n as u64);
        Ok(n)
    }
}

fn short_member(missing: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the archive ends {missing} bytes before the end of this tar member"),
    )
}

/// Notes whether the reader below an LZ4 decoder reached its end, and how many bytes were
/// read since the decoder last finished a frame.
struct EofWatch<R> {
    inner: R,
    hit_eof: bool,
    since_frame_end: u64,
}

impl<R: Read> Read for EofWatch<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.hit_eof = true;
        }
        self.since_frame_end += n as u64;
        Ok(n)
    }
}

/// A stream of concatenated LZ4 frames, decoded as one.
///
/// `lz4_flex`'s decoder returns end-of-file at the end of each frame, and also when its input
/// ends at a block boundary inside a frame (it allows for legacy frames without an end mark).
/// Here the input's end is a clean end only if it comes right after a frame's end mark;
/// anywhere else it is an [`io::ErrorKind::UnexpectedEof`] error. Each frame gets a fresh
/// decoder: `lz4_flex` sizes its buffers for the first frame's block mode and size (and
/// asserts so in debug builds), while concatenated frames may differ.
/// Not handled (reported as errors): skippable frames, dictionary frames, and a legacy-format
/// first frame (which is not sniffed as LZ4 in the first place).
struct Lz4Frames<R: Read> {
    /// `None` once the input has cleanly ended.
    decoder: Option<FrameDecoder<EofWatch<R>>>,
}

impl<R: Read> Lz4Frames<R> {
    fn new(inner: R) -> Self {
        Lz4Frames {
            decoder: Some(FrameDecoder::new(EofWatch {
                inner,
                hit_eof: false,
                since_frame_end: 0,
            })),
        }
    }
}

impl<R: Read> Read for Lz4Frames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while let Some(decoder) = self.decoder.as_mut() {
            let n = decoder.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            let source = decoder.get_mut();
            if source.hit_eof {
                if source.since_frame_end == 0 {
                    // The input ended exactly where a new frame would start.
                    self.decoder = None;
                    return Ok(0);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "LZ4 stream ends inside a frame",
                ));
            }
            // A frame ended (its end mark was read) with input left: decode the next frame.
            let mut source = match self.decoder.take() {
                Some(decoder) => decoder.into_inner(),
                None => return Ok(0),
            };
            source.since_frame_end = 0;
            self.decoder = Some(FrameDecoder::new(source));
        }
        Ok(0)
    }
}

/// Where in its archive a record was read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Position {
    /// A line of a `.jsonl.gz`, counted from 1.
    Line(u64),
    /// A member of a postcan, by its full name in the tar.
    Member(String),
    /// A line of a member of a tarcan (a `*.json` report file in a `*.tar.lz4`), by the
    /// member's full name in the tar and the line number counted from 1 within that member.
    MemberLine {
        /// The member's full name in the tar.
        member: String,
        /// The line within the member, counted from 1.
        line: u64,
    },
}

impl Position {
    /// The `measurement_uid` OONI gave the measurement, when the archive names it
    /// (postcan members are `<measurement_uid>.post`). `None` for lines, including tarcan
    /// lines: those get OONI's `trivial_id` of their bytes.
    pub fn archive_uid(&self) -> Option<&str> {
        match self {
            Position::Line(_) | Position::MemberLine { .. } => None,
            Position::Member(name) => {
                let base = name.rsplit('/').next().unwrap_or(name);
                base.strip_suffix(".post").filter(|uid| !uid.is_empty())
            }
        }
    }

    /// The line number, for lines (of the whole archive, or of a tarcan member).
    pub fn line(&self) -> Option<u64> {
        match self {
            Position::Line(n) | Position::MemberLine { line: n, .. } => Some(*n),
            Position::Member(_) => None,
        }
    }

    /// The tar member name, for postcan members and tarcan member lines.
    pub fn member(&self) -> Option<&str> {
        match self {
            Position::Line(_) => None,
            Position::Member(m) | Position::MemberLine { member: m, .. } => Some(m),
        }
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Position::Line(n) => write!(f, "line {n}"),
            Position::Member(m) => write!(f, "member {m}"),
            Position::MemberLine { member, line } => write!(f, "member {member} line {line}"),
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
    /// Tar members that hold no records (directories, stray files: in a postcan anything but
    /// a `.post` file, in a tarcan anything but a `.json` or `.yaml` file); skipped.
    pub other_members: u64,
    /// Legacy YAML reports skipped: `.yaml` members of a tarcan, plus 1 for a YAML reportcan
    /// (`.yaml.lz4`, never decoded).
    pub yaml_members: u64,
    /// Whether the archive's format is never decoded ([`ArchiveFormat::is_skipped`]: YAML
    /// reportcans, can indexes), so nothing was read from it.
    pub skipped_archive: bool,
    /// Whether the bytes were gzip (whatever the key said).
    pub gzip: bool,
    /// Whether the bytes were LZ4 frames (whatever the key said).
    pub lz4: bool,
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
///
/// By `format`: [`ArchiveFormat::Jsonl`] and [`ArchiveFormat::JsonLz4`] yield lines
/// ([`Position::Line`]); [`ArchiveFormat::Postcan`] yields `.post` members
/// ([`Position::Member`]); [`ArchiveFormat::TarLz4`] yields the lines of each `.json` member
/// ([`Position::MemberLine`]) and counts `.yaml` members in [`ArchiveStats::yaml_members`];
/// skipped formats ([`ArchiveFormat::is_skipped`]) are not read at all
/// ([`ArchiveStats::skipped_archive`]). Compression is sniffed, whatever the format says.
pub fn read_records(
    key: &str,
    format: ArchiveFormat,
    reader: impl Read,
    limits: Limits,
    mut sink: impl FnMut(Result<Record, RecordError>),
) -> ArchiveStats {
    let mut stats = ArchiveStats::default();
    if format.is_skipped() {
        stats.skipped_archive = true;
        stats.yaml_members = u64::from(format == ArchiveFormat::YamlLz4);
        return stats;
    }
    let mut stored = Counting {
        inner: reader,
        count: 0,
    };
    // Sniff the compression from the first bytes, however the reader chunks them.
    let mut magic = [0u8; 4];
    let mut sniffed = 0;
    while sniffed < magic.len() {
        match stored.read(&mut magic[sniffed..]) {
            Ok(0) => break,
            Ok(n) => sniffed += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => {
                sink(Err(RecordError::Truncated {
                    key: key.to_owned(),
                    position: first_position(format),
                    partial: Vec::new(),
                    source,
                }));
                stats.stored_bytes = stored.count;
                return stats;
            }
        }
    }
    let head = &magic[..sniffed];
    stats.gzip = head.starts_with(&GZIP_MAGIC);
    stats.lz4 = head.starts_with(&LZ4_MAGIC);
    let decoded_bytes;
    {
        let buffered = BufReader::with_capacity(READ_BUFFER, head.chain(&mut stored));
        let max = limits.max_object_bytes;
        let inner: Box<dyn Read + '_> = if stats.gzip {
            Box::new(flate2::bufread::MultiGzDecoder::new(buffered))
        } else if stats.lz4 {
            Box::new(Lz4Frames::new(buffered))
        } else {
            Box::new(buffered)
        };
        let decoded: Box<dyn BufRead + '_> = Box::new(BufReader::with_capacity(
            READ_BUFFER,
            Capped {
                inner,
                left: max,
                max,
            },
        ));
        let mut decoded = Counting {
            inner: decoded,
            count: 0,
        };
        match format {
            ArchiveFormat::Jsonl | ArchiveFormat::JsonLz4 => {
                let (consumed, _) =
                    read_lines(key, &mut decoded.inner, limits, &mut sink, &Position::Line);
                decoded.count += consumed;
            }
            ArchiveFormat::Postcan => {
                stats.other_members = read_members(key, &mut decoded, limits, &mut sink);
            }
            ArchiveFormat::TarLz4 => {
                read_can_members(key, &mut decoded, limits, &mut sink, &mut stats);
            }
            ArchiveFormat::YamlLz4 | ArchiveFormat::CanIndex => {}
        }
        decoded_bytes = decoded.count;
    }
    stats.decoded_bytes = decoded_bytes;
    stats.stored_bytes = stored.count;
    stats
}

fn first_position(format: ArchiveFormat) -> Position {
    match format {
        ArchiveFormat::Jsonl
        | ArchiveFormat::JsonLz4
        | ArchiveFormat::YamlLz4
        | ArchiveFormat::CanIndex => Position::Line(1),
        ArchiveFormat::Postcan | ArchiveFormat::TarLz4 => Position::Member(String::new()),
    }
}

/// Reads lines until the end of `reader` or an error, numbering them from 1 with
/// `position`. Returns the bytes consumed and whether reading stopped at an error (already
/// reported to `sink`).
fn read_lines(
    key: &str,
    reader: &mut dyn BufRead,
    limits: Limits,
    sink: &mut impl FnMut(Result<Record, RecordError>),
    position: &dyn Fn(u64) -> Position,
) -> (u64, bool) {
    let mut consumed = 0u64;
    let mut line_no = 0u64;
    loop {
        line_no += 1;
        let mut buf = Vec::new();
        match read_line_capped(reader, &mut buf, limits.max_record_bytes) {
            Ok(LineEnd::Eof) => {
                consumed += buf.len() as u64;
                return (consumed, false);
            }
            Ok(LineEnd::Complete) => {
                consumed += buf.len() as u64;
                sink(Ok(Record {
                    bytes: buf,
                    position: position(line_no),
                }));
            }
            Ok(LineEnd::TooLong { len }) => {
                consumed += len;
                sink(Err(RecordError::TooLarge {
                    key: key.to_owned(),
                    position: position(line_no),
                    len,
                    max: limits.max_record_bytes,
                    head: buf,
                }));
            }
            Err(source) => {
                consumed += buf.len() as u64;
                sink(Err(RecordError::Truncated {
                    key: key.to_owned(),
                    position: position(line_no),
                    partial: buf,
                    source,
                }));
                return (consumed, true);
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
        let read = entry.read_to_end(&mut bytes).and_then(|_| {
            let missing = size.saturating_sub(bytes.len() as u64);
            if missing > 0 {
                Err(short_member(missing))
            } else {
                Ok(())
            }
        });
        if let Err(source) = read {
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

/// A tarcan's members: the lines of each `*.json` report file are records; `*.yaml` reports
/// are counted in `stats.yaml_members`, anything else in `stats.other_members`. After the
/// tar's end the rest of the stream is read too, so that a cut or corrupt LZ4 tail (end mark,
/// checksum) is reported rather than ignored.
fn read_can_members(
    key: &str,
    reader: &mut impl Read,
    limits: Limits,
    sink: &mut impl FnMut(Result<Record, RecordError>),
    stats: &mut ArchiveStats,
) {
    let mut archive = tar::Archive::new(reader);
    let mut last_name = String::new();
    {
        let entries = match archive.entries() {
            Ok(entries) => entries,
            Err(source) => {
                sink(Err(RecordError::Truncated {
                    key: key.to_owned(),
                    position: Position::Member(String::new()),
                    partial: Vec::new(),
                    source,
                }));
                return;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(source) => {
                    sink(Err(RecordError::Truncated {
                        key: key.to_owned(),
                        position: Position::Member(format!("after {last_name}")),
                        partial: Vec::new(),
                        source,
                    }));
                    return;
                }
            };
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            last_name.clone_from(&name);
            if !entry.header().entry_type().is_file() {
                stats.other_members += 1;
            } else if name.ends_with(".json") {
                let size = entry.size();
                let mut lines = BufReader::with_capacity(
                    MEMBER_BUFFER,
                    WholeMember {
                        inner: entry,
                        left: size,
                    },
                );
                let position = |line| Position::MemberLine {
                    member: name.clone(),
                    line,
                };
                let (_, stopped) = read_lines(key, &mut lines, limits, sink, &position);
                if stopped {
                    return;
                }
            } else if name.ends_with(".yaml") {
                stats.yaml_members += 1;
            } else {
                stats.other_members += 1;
            }
        }
    }
    if let Err(source) = io::copy(&mut archive.into_inner(), &mut io::sink()) {
        sink(Err(RecordError::Truncated {
            key: key.to_owned(),
            position: Position::Member(format!("after {last_name}")),
            partial: Vec::new(),
            source,
        }));
    }
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

    // ---- Legacy cans: LZ4 frames around a tar of JSONL report files, or around one report.

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/ooni-real"
    );
    const REPORT_A: &str = "2020-10-20/20200302T211741Z-IE-AS15751-web_connectivity-20200302T211741Z_AS15751_NUQUoAz71ZjhsimkNDy53r62AlfjEWUtoQRag9tnRM0oxZtoWl-0.2.0-probe.json";
    const REPORT_B: &str = "2020-10-20/20200303T085244Z-RU-AS42668-web_connectivity-20200303T085244Z_AS42668_UThI3Fdoo0IZ6610604dd0CGkhd7oQV6QLWWzZDVLJ35oGxBO4-0.2.0-probe.json";
    const REPORT_YAML: &str =
        "2020-10-20/20131021T114023Z-NL-AS3265-http_requests-no_report_id-0.1.0-probe.yaml";

    /// A real measurement, compacted to one JSONL line (with its `\n`).
    fn fixture_line(name: &str) -> Vec<u8> {
        let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut line = serde_json::to_vec(&value).unwrap();
        line.push(b'\n');
        line
    }

    fn report_a() -> Vec<Vec<u8>> {
        [
            "web_connectivity__IE-20200302-v0.0.1-explorer-msmtmeta-0bc26659__ooni-explorer.json",
            "web_connectivity__IE-20200303-v0.1.0-explorer-msmtmeta-5e2ebe18__ooni-explorer.json",
            "web_connectivity__AE-20191118-v0.0.1-explorer-msmtmeta-5d1cb664__ooni-explorer.json",
        ]
        .into_iter()
        .map(fixture_line)
        .collect()
    }

    fn report_b() -> Vec<Vec<u8>> {
        [
            "web_connectivity__RU-20200303-v0.3.0-explorer-msmtmeta-ec27ea22__ooni-explorer.json",
            "web_connectivity__IR-20200302-v0.0.1-bug_352__ooni-backend.json",
        ]
        .into_iter()
        .map(fixture_line)
        .collect()
    }

    /// Encodes `data` as LZ4 frames split at `splits` (offsets into `data`); returns the
    /// stream and the offsets in it where each frame but the last ends. The first frame is
    /// linked with a content checksum and size (as Python's `lz4.frame` writes), the others
    /// have independent blocks with block checksums.
    fn lz4_frames(data: &[u8], splits: &[usize]) -> (Vec<u8>, Vec<usize>) {
        use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
        let mut out = Vec::new();
        let mut ends = Vec::new();
        let mut start = 0;
        for (n, end) in splits.iter().copied().chain([data.len()]).enumerate() {
            let info = if n == 0 {
                FrameInfo::new()
                    .block_size(BlockSize::Max64KB)
                    .block_mode(BlockMode::Linked)
                    .content_checksum(true)
                    .content_size(Some((end - start) as u64))
            } else {
                FrameInfo::new()
                    .block_size(BlockSize::Max64KB)
                    .block_mode(BlockMode::Independent)
                    .block_checksums(true)
            };
            let mut encoder = FrameEncoder::with_frame_info(info, Vec::new());
            encoder.write_all(&data[start..end]).unwrap();
            out.extend(encoder.finish().unwrap());
            if end != data.len() {
                ends.push(out.len());
            }
            start = end;
        }
        (out, ends)
    }

    /// The tar inside a tarcan: a directory, report A, a YAML report, report B.
    fn can_tar() -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_size(0);
        dir.set_mode(0o755);
        dir.set_cksum();
        builder
            .append_data(&mut dir, "2020-10-20/", std::io::empty())
            .unwrap();
        let yaml =
            std::fs::read(format!("{FIXTURES}/files/ooni-backend__binary_city.yaml")).unwrap();
        for (name, body) in [
            (REPORT_A, report_a().concat()),
            (REPORT_YAML, yaml),
            (REPORT_B, report_b().concat()),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            // The names are over 100 bytes: GNU long-name members, as in real cans.
            builder.append_data(&mut header, name, &body[..]).unwrap();
        }
        builder.into_inner().unwrap()
    }

    /// Every record of the test tarcan, in order, with its position.
    fn expected_can_records() -> Vec<Record> {
        let mut out = Vec::new();
        for (member, lines) in [(REPORT_A, report_a()), (REPORT_B, report_b())] {
            for (i, bytes) in lines.into_iter().enumerate() {
                out.push(Record {
                    bytes,
                    position: Position::MemberLine {
                        member: member.to_owned(),
                        line: i as u64 + 1,
                    },
                });
            }
        }
        out
    }

    fn read_all(
        format: ArchiveFormat,
        bytes: &[u8],
        limits: Limits,
    ) -> (Vec<Result<Record, RecordError>>, ArchiveStats) {
        let mut items = Vec::new();
        let stats = read_records("k", format, bytes, limits, |r| items.push(r));
        (items, stats)
    }

    #[test]
    fn a_tarcan_of_two_concatenated_frames_yields_the_lines_of_its_json_members() {
        let tar = can_tar();
        // Split mid-member (not on a 512-byte tar boundary).
        let (data, frame_ends) = lz4_frames(&tar, &[tar.len() / 2 + 7]);
        assert_eq!(frame_ends.len(), 1);
        assert_eq!(data[..4], LZ4_MAGIC);
        let (items, stats) = read_all(ArchiveFormat::TarLz4, &data, Limits::default());
        let records: Vec<Record> = items.into_iter().map(Result::unwrap).collect();
        assert_eq!(records, expected_can_records());
        assert!(
            records[0].bytes.len() > 100_000,
            "a line over several LZ4 blocks"
        );
        let last = &records[4].position;
        assert_eq!(last.member(), Some(REPORT_B));
        assert_eq!(last.line(), Some(2));
        assert_eq!(last.archive_uid(), None);
        assert_eq!(last.to_string(), format!("member {REPORT_B} line 2"));
        assert!(stats.lz4 && !stats.gzip && !stats.skipped_archive);
        assert_eq!(stats.yaml_members, 1);
        assert_eq!(stats.other_members, 1, "the directory");
        assert_eq!(stats.decoded_bytes, tar.len() as u64);
        assert_eq!(stats.stored_bytes, data.len() as u64);
    }

    #[test]
    fn a_json_reportcan_is_one_jsonl_stream() {
        let body = report_a().concat();
        let (data, _) = lz4_frames(&body, &[1000]);
        let (items, stats) = read_all(ArchiveFormat::JsonLz4, &data, Limits::default());
        let records: Vec<Record> = items.into_iter().map(Result::unwrap).collect();
        assert_eq!(records.len(), 3);
        for (i, (record, line)) in records.iter().zip(report_a()).enumerate() {
            assert_eq!(record.bytes, line);
            assert_eq!(record.position, Position::Line(i as u64 + 1));
        }
        assert!(stats.lz4);
        assert_eq!(stats.decoded_bytes, body.len() as u64);
        assert_eq!(stats.stored_bytes, data.len() as u64);
    }

    #[test]
    fn skipped_formats_are_not_read() {
        for (format, yaml) in [(ArchiveFormat::YamlLz4, 1), (ArchiveFormat::CanIndex, 0)] {
            let mut reader = std::io::repeat(b'x').take(10);
            let mut items = 0;
            let stats = read_records("k", format, &mut reader, Limits::default(), |_| items += 1);
            assert_eq!(items, 0);
            assert!(stats.skipped_archive);
            assert_eq!(stats.yaml_members, yaml);
            assert_eq!(stats.stored_bytes, 0);
            assert_eq!(reader.limit(), 10, "nothing read");
        }
    }

    #[test]
    fn can_lines_over_the_record_limit_are_reported_with_member_and_line() {
        let (data, _) = lz4_frames(&can_tar(), &[]);
        let limits = Limits {
            max_record_bytes: 50_000,
            ..Limits::default()
        };
        let (items, _) = read_all(ArchiveFormat::TarLz4, &data, limits);
        assert_eq!(items.len(), 5);
        match &items[0] {
            Err(RecordError::TooLarge {
                position,
                len,
                head,
                ..
            }) => {
                assert_eq!(
                    *position,
                    Position::MemberLine {
                        member: REPORT_A.to_owned(),
                        line: 1
                    }
                );
                assert_eq!(*len, report_a()[0].len() as u64);
                assert_eq!(head.len(), 50_000);
            }
            other => panic!("{other:?}"),
        }
        assert!(items[1..].iter().all(Result::is_ok));
    }

    #[test]
    fn an_lz4_can_over_the_object_limit_stops_with_its_own_error() {
        let (data, _) = lz4_frames(&can_tar(), &[]);
        let limits = Limits {
            max_object_bytes: 100_000,
            ..Limits::default()
        };
        let (items, _) = read_all(ArchiveFormat::TarLz4, &data, limits);
        match items.last() {
            Some(Err(error @ RecordError::Truncated { position, .. })) => {
                assert!(error.is_object_too_large(), "{error}");
                assert_eq!(position.member(), Some(REPORT_A));
                assert_eq!(position.line(), Some(1));
            }
            other => panic!("{other:?}"),
        }
    }

    /// Checks one read of a cut stream against the whole can: the records are a prefix of the
    /// whole can's, and a single error follows them, at the next record's position when the
    /// cut falls inside a member's lines. Returns the error's position.
    fn check_cut_can(data: &[u8], cut: usize, expected: &[Record]) -> Option<Position> {
        let (items, _) = read_all(ArchiveFormat::TarLz4, &data[..cut], Limits::default());
        let ok = items.iter().take_while(|i| i.is_ok()).count();
        assert!(ok + 1 >= items.len(), "cut {cut}: records after an error");
        for (item, want) in items.iter().zip(expected) {
            if let Ok(record) = item {
                assert_eq!(record, want, "cut {cut}");
            }
        }
        let error = match items.get(ok) {
            Some(Err(error @ RecordError::Truncated { .. })) => error,
            Some(other) => panic!("cut {cut}: {other:?}"),
            None => panic!("cut {cut} of {} read without an error", data.len()),
        };
        let position = error.position().clone();
        if let Position::MemberLine { .. } = position {
            assert_eq!(position, expected[ok].position, "cut {cut}");
        }
        Some(position)
    }

    #[test]
    fn a_truncated_lz4_stream_reports_the_member_and_line_it_broke_in() {
        let tar = can_tar();
        let expected = expected_can_records();
        // Three frames: the second ends inside the last line, so that a cut in the third
        // breaks that line (LZ4 decodes whole blocks, and a frame's last block is short).
        let last_line = &expected[4].bytes;
        let last_line_at = tar
            .windows(200)
            .position(|w| w == &last_line[..200])
            .unwrap();
        assert!(tar.len() / 2 + 7 < last_line_at);
        let (data, frame_ends) = lz4_frames(&tar, &[tar.len() / 2 + 7, last_line_at + 100]);
        // Cuts across the whole stream, every byte around the frame boundaries (between the
        // frames, inside the end mark and checksum, inside the next header), and the tail.
        let mut cuts: Vec<usize> = (1..data.len()).step_by(331).collect();
        for boundary in frame_ends {
            cuts.extend(boundary - 12..boundary + 12);
        }
        cuts.extend(data.len() - 12..data.len());
        let mut seen = std::collections::BTreeSet::new();
        for cut in cuts {
            if let Some(position) = check_cut_can(&data, cut, &expected) {
                seen.insert(position);
            }
        }
        // Breaks were met inside both reports' lines.
        for want in [&expected[0], &expected[3], &expected[4]] {
            assert!(
                seen.contains(&want.position),
                "{:?} not among {seen:?}",
                want.position
            );
        }
        // The whole stream still reads without an error.
        let (items, _) = read_all(ArchiveFormat::TarLz4, &data, Limits::default());
        assert!(items.iter().all(Result::is_ok));
    }

    #[test]
    fn a_truncated_reportcan_reports_the_line_it_broke_in() {
        let body = report_a().concat();
        let (data, _) = lz4_frames(&body, &[]);
        let cut = &data[..data.len() - 100];
        let (items, _) = read_all(ArchiveFormat::JsonLz4, cut, Limits::default());
        let ok = items.iter().take_while(|i| i.is_ok()).count();
        assert_eq!(items.len(), ok + 1);
        match &items[ok] {
            Err(RecordError::Truncated {
                position, partial, ..
            }) => {
                assert_eq!(*position, Position::Line(ok as u64 + 1));
                assert!(!partial.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lz4_trailing_garbage_and_corruption_are_errors() {
        let (mut data, _) = lz4_frames(&report_b().concat(), &[]);
        data.extend_from_slice(b"garbage!");
        let (items, _) = read_all(ArchiveFormat::JsonLz4, &data, Limits::default());
        assert!(matches!(
            items.last(),
            Some(Err(RecordError::Truncated { .. }))
        ));

        // A flipped byte in a block with a checksum.
        let (mut data, _) = lz4_frames(&report_b().concat(), &[10]);
        let at = data.len() - 40;
        data[at] ^= 0x55;
        let (items, _) = read_all(ArchiveFormat::JsonLz4, &data, Limits::default());
        assert!(matches!(
            items.last(),
            Some(Err(RecordError::Truncated { .. }))
        ));
    }

    #[test]
    fn a_postcan_member_cut_by_the_end_of_a_plain_tar_is_truncated_not_short() {
        let mut builder = tar::Builder::new(Vec::new());
        let body = vec![b'{'; 2000];
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(
                &mut header,
                "d/20201021101500.000001_AZ_whatsapp_0123456789abcdef.post",
                &body[..],
            )
            .unwrap();
        let plain = builder.into_inner().unwrap();
        let (items, _) = read_all(ArchiveFormat::Postcan, &plain[..1000], Limits::default());
        assert_eq!(items.len(), 1);
        match &items[0] {
            Err(RecordError::Truncated { partial, .. }) => assert_eq!(partial.len(), 1000 - 512),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn compression_is_sniffed_however_the_reader_chunks_its_bytes() {
        /// Returns one byte per read.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let Some((first, rest)) = self.0.split_first() else {
                    return Ok(0);
                };
                match buf.first_mut() {
                    Some(slot) => {
                        *slot = *first;
                        self.0 = rest;
                        Ok(1)
                    }
                    None => Ok(0),
                }
            }
        }
        let body = report_b().concat();
        let (data, _) = lz4_frames(&body, &[]);
        let mut n = 0;
        let stats = read_records(
            "k",
            ArchiveFormat::JsonLz4,
            Trickle(&data),
            Limits::default(),
            |r| {
                r.unwrap();
                n += 1;
            },
        );
        assert_eq!(n, 2);
        assert!(stats.lz4);
        let gz = gzip(&body);
        let stats = read_records(
            "k",
            ArchiveFormat::Jsonl,
            Trickle(&gz),
            Limits::default(),
            |r| {
                r.unwrap();
            },
        );
        assert!(stats.gzip);
    }
}
