//! The one place that decides how an archive's bytes become measurement records.
//!
//! Compression is sniffed from the first bytes (`1f 8b` → gzip, decoded as *multi-member*
//! gzip; `04 22 4d 18` → LZ4 frames, decoded as *concatenated* frames), never taken from the
//! key: postcans uploaded before Aug 2022 are plain tar despite their `.tar.gz` name. The
//! key's format says what the decompressed bytes hold: JSONL lines, a tar of `.post` members
//! (postcan), or a tar of report files whose lines are the records (tarcan). Archives are
//! streamed: at most one record is held at a time.
//!
//! Streaming has a price: a gzip member's CRC32 and length, and an LZ4 frame's checksums,
//! are checked at the member's end, after records decoded from it were passed on. A member
//! that fails its check therefore withdraws them ([`RecordError::Corrupt`]). Errors are told
//! apart by where they arise, which is why each layer tags them ([`FaultKind`]): the store's
//! reader ([`RecordError::Io`]: read the object again later), data that ends early
//! ([`RecordError::Truncated`]: what was read stands) and data that fails its checks
//! ([`RecordError::Corrupt`]).

use std::cell::Cell;
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;

use flate2::bufread::GzDecoder;
use lz4_flex::frame::FrameDecoder;

use crate::key::ArchiveFormat;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// The LZ4 frame magic number 0x184D2204, little-endian.
const LZ4_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];
const READ_BUFFER: usize = 256 * 1024;
/// Buffer over one tarcan member (its lines are read through it).
const MEMBER_BUFFER: usize = 64 * 1024;
/// How much is decoded at a time when reading on to check a member.
const CHECK_BUFFER: usize = 64 * 1024;

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

/// Where a read below the record readers went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FaultKind {
    /// The store's reader failed (S3 after its retries, permission denied, a reset
    /// connection): nothing is known about the data.
    Store,
    /// The compressed data ends early.
    Cut,
    /// The compressed data fails its integrity checks: a checksum or length mismatch, a
    /// corrupt stream, a bad header of a later member or frame.
    Corrupt,
}

/// An error tagged with its [`FaultKind`], carried inside an `io::Error`: flate2, lz4_flex,
/// tar and `BufReader` hand their reader's errors on unchanged, so the tag survives them,
/// and the record readers, which only see `io::Error`s, can still tell the causes apart.
/// Displays as the error it wraps.
#[derive(Debug, thiserror::Error)]
enum Fault {
    /// See [`FaultKind::Store`].
    #[error(transparent)]
    Store(io::Error),
    /// See [`FaultKind::Cut`].
    #[error(transparent)]
    Cut(io::Error),
    /// See [`FaultKind::Corrupt`].
    #[error(transparent)]
    Corrupt(io::Error),
}

impl FaultKind {
    /// `error`, tagged.
    fn tag(self, error: io::Error) -> io::Error {
        match self {
            // Never of kind `UnexpectedEof`, even when the store's error is: lz4_flex takes
            // that kind, met where a block header should be, for the end of a frame, and
            // would drop the error.
            FaultKind::Store => io::Error::other(Fault::Store(error)),
            FaultKind::Cut => io::Error::new(error.kind(), Fault::Cut(error)),
            FaultKind::Corrupt => io::Error::new(error.kind(), Fault::Corrupt(error)),
        }
    }

    /// The tag of `error`, if it has one.
    fn of(error: &io::Error) -> Option<FaultKind> {
        match error.get_ref()?.downcast_ref::<Fault>()? {
            Fault::Store(_) => Some(FaultKind::Store),
            Fault::Cut(_) => Some(FaultKind::Cut),
            Fault::Corrupt(_) => Some(FaultKind::Corrupt),
        }
    }
}

/// Takes the tag off `error`: what it says, and the error as it was before tagging (what
/// [`RecordError`]s carry, so that callers can inspect the store's own error).
fn untag(error: io::Error) -> (Option<FaultKind>, io::Error) {
    let Some(fault) = FaultKind::of(&error) else {
        return (None, error);
    };
    let kind = error.kind();
    match error.into_inner().map(|inner| inner.downcast::<Fault>()) {
        Some(Ok(tagged)) => {
            let (Fault::Store(inner) | Fault::Cut(inner) | Fault::Corrupt(inner)) = *tagged;
            (Some(fault), inner)
        }
        // Not reached: `FaultKind::of` found a `Fault` inside.
        Some(Err(inner)) => (None, io::Error::new(kind, inner)),
        None => (None, io::Error::from(kind)),
    }
}

/// Tags an error coming out of a decoder: the store's errors went through it already tagged;
/// the input ending early means the data is cut short; anything else the decoder says is
/// about the data (checksums, lengths, the compressed stream, the next member's header).
fn decoder_fault(error: io::Error) -> io::Error {
    if FaultKind::of(&error).is_some() || error.kind() == io::ErrorKind::Interrupted {
        error
    } else if error.kind() == io::ErrorKind::UnexpectedEof {
        FaultKind::Cut.tag(error)
    } else {
        FaultKind::Corrupt.tag(error)
    }
}

/// The error a decoder returns on reads after it failed (the decoders below would go on as
/// if the stream had ended cleanly).
fn failed_before(kind: FaultKind) -> io::Error {
    kind.tag(io::Error::other(
        "the compressed stream failed at an earlier read",
    ))
}

/// The store's reader, as the innermost layer: its errors are tagged [`FaultKind::Store`]
/// here, before a decoder sees them. `Interrupted` is retried, as `Read` callers are expected
/// to.
struct FromStore<R>(R);

impl<R: Read> Read for FromStore<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(FaultKind::Store.tag(e)),
            }
        }
    }
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

fn is_object_too_large(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<ObjectTooLarge>())
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

/// Multi-member gzip, decoded one member at a time so that it is known where each member
/// begins: `member_start` holds the decoded offset at which the member being decoded (not yet
/// verified by its CRC32 and length) began. flate2's `bufread::GzDecoder` reads exactly one
/// member from a `BufRead` and leaves the rest, so the next member is decoded from the same
/// input, as flate2's `MultiGzDecoder` does. Errors are tagged ([`decoder_fault`]).
struct GzMembers<R: BufRead> {
    state: GzState<R>,
    /// Decoded bytes returned so far.
    decoded: u64,
    member_start: Rc<Cell<u64>>,
}

enum GzState<R> {
    /// Decoding a member (boxed: the decoder's state is large).
    Member(Box<GzDecoder<R>>),
    /// An error was returned; so is one at every later read.
    Failed(FaultKind),
    /// The input ended right after a member that passed its checks.
    Done,
}

impl<R: BufRead> GzMembers<R> {
    fn new(input: R, member_start: Rc<Cell<u64>>) -> Self {
        member_start.set(0);
        GzMembers {
            state: GzState::Member(Box::new(GzDecoder::new(input))),
            decoded: 0,
            member_start,
        }
    }

    /// After a member ended with its checks passed: begins the next one, if input is left.
    fn next_member(&mut self) -> io::Result<()> {
        let GzState::Member(decoder) = std::mem::replace(&mut self.state, GzState::Done) else {
            return Ok(());
        };
        let mut input = decoder.into_inner();
        let more = loop {
            match input.fill_buf() {
                Ok(rest) => break !rest.is_empty(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fail(e)),
            }
        };
        if more {
            self.member_start.set(self.decoded);
            self.state = GzState::Member(Box::new(GzDecoder::new(input)));
        }
        Ok(())
    }

    fn fail(&mut self, error: io::Error) -> io::Error {
        let error = decoder_fault(error);
        if let Some(kind) = FaultKind::of(&error) {
            self.state = GzState::Failed(kind);
        }
        error
    }
}

impl<R: BufRead> Read for GzMembers<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let read = match &mut self.state {
                GzState::Member(decoder) => decoder.read(buf),
                GzState::Failed(kind) => return Err(failed_before(*kind)),
                GzState::Done => return Ok(0),
            };
            match read {
                // The end of a member whose trailer matched what was decoded.
                Ok(0) => self.next_member()?,
                Ok(n) => {
                    self.decoded += n as u64;
                    return Ok(n);
                }
                Err(e) => return Err(self.fail(e)),
            }
        }
    }
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
/// Frames are what gzip members are to [`GzMembers`]: `member_start` holds the decoded offset
/// at which the frame being decoded (its content checksum not yet checked) began, and errors
/// are tagged the same way.
/// Not handled (reported as errors): skippable frames, dictionary frames, and a legacy-format
/// first frame (which is not sniffed as LZ4 in the first place).
struct Lz4Frames<R: Read> {
    /// `None` once the input has cleanly ended.
    decoder: Option<FrameDecoder<EofWatch<R>>>,
    /// Decoded bytes returned so far.
    decoded: u64,
    member_start: Rc<Cell<u64>>,
    /// Set once an error was returned; so is one at every later read.
    failed: Option<FaultKind>,
}

impl<R: Read> Lz4Frames<R> {
    fn new(inner: R, member_start: Rc<Cell<u64>>) -> Self {
        member_start.set(0);
        Lz4Frames {
            decoder: Some(FrameDecoder::new(EofWatch {
                inner,
                hit_eof: false,
                since_frame_end: 0,
            })),
            decoded: 0,
            member_start,
            failed: None,
        }
    }

    fn fail(&mut self, error: io::Error) -> io::Error {
        let error = decoder_fault(error);
        self.failed = FaultKind::of(&error);
        error
    }
}

impl<R: Read> Read for Lz4Frames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(kind) = self.failed {
            return Err(failed_before(kind));
        }
        while let Some(decoder) = self.decoder.as_mut() {
            let n = match decoder.read(buf) {
                Ok(n) => n,
                Err(e) => return Err(self.fail(e)),
            };
            if n > 0 {
                self.decoded += n as u64;
                return Ok(n);
            }
            let source = decoder.get_mut();
            if source.hit_eof {
                if source.since_frame_end == 0 {
                    // The input ended exactly where a new frame would start.
                    self.decoder = None;
                    return Ok(0);
                }
                return Err(self.fail(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "LZ4 stream ends inside a frame",
                )));
            }
            // A frame ended (its end mark was read, and its content checksum, if it has one,
            // matched) with input left: decode the next frame.
            let mut source = match self.decoder.take() {
                Some(decoder) => decoder.into_inner(),
                None => return Ok(0),
            };
            source.since_frame_end = 0;
            self.member_start.set(self.decoded);
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
///
/// Every variant but [`RecordError::TooLarge`] ends the archive: it is the last item passed
/// to the sink ([`RecordError::ends_reading`]).
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
    /// The archive could not be read past this point: the data ends early (a truncated
    /// gzip or LZ4 stream, a tar cut short), the tar is broken, or the object passed
    /// [`Limits::max_object_bytes`] ([`RecordError::is_object_too_large`]). The items passed
    /// before it stand. `partial` holds the bytes of the record that was being read, if any.
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
    /// The compressed data failed its integrity check: a gzip member's CRC32 or length, an
    /// LZ4 frame's block or content checksum, a corrupt deflate or LZ4 stream, or a bad
    /// header of a later member or frame. Reading stopped here.
    ///
    /// Those checks come at a member's end, after records decoded from it were passed on:
    /// the last `retracted` items passed to the sink (records, and [`RecordError::TooLarge`]
    /// errors) began in, or overlap, the member that failed, and must be taken back (they go
    /// to the rejects, not to the tables). The items before them come from members that
    /// passed their checks. A record that ends right at the member's start may be withdrawn
    /// too (never one that overlaps it and is not).
    #[error(
        "{key}: corrupt compressed data from {position} on ({retracted} items before this error withdrawn): {source}"
    )]
    Corrupt {
        /// The archive's key.
        key: String,
        /// The first withdrawn item; when none is withdrawn, the record being read.
        position: Position,
        /// How many of the items passed last are withdrawn.
        retracted: u64,
        /// What the decoder reported.
        #[source]
        source: io::Error,
    },
    /// The store's reader failed, not the data (S3 after its retries, permission denied, a
    /// reset connection), and reading stopped here. A transient condition: the object was
    /// not read whole (and its last member not checked), so it should not be recorded as
    /// processed but read again in a later run. `partial` holds the bytes of the record that
    /// was being read, if any.
    #[error("{key}: reading the object failed at {position}: {source}")]
    Io {
        /// The archive's key.
        key: String,
        /// The record being read.
        position: Position,
        /// Bytes of that record read before the error.
        partial: Vec<u8>,
        /// The store reader's own error.
        #[source]
        source: io::Error,
    },
}

impl RecordError {
    /// Whether the archive stopped because it exceeded [`Limits::max_object_bytes`].
    pub fn is_object_too_large(&self) -> bool {
        match self {
            RecordError::Truncated { source, .. } => is_object_too_large(source),
            RecordError::TooLarge { .. } | RecordError::Corrupt { .. } | RecordError::Io { .. } => {
                false
            }
        }
    }

    /// Whether the error is the store's, not the archive's ([`RecordError::Io`]): reading
    /// the object again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, RecordError::Io { .. })
    }

    /// Whether reading stopped at this error (all but [`RecordError::TooLarge`]); it is then
    /// the last item of the archive.
    pub fn ends_reading(&self) -> bool {
        !matches!(self, RecordError::TooLarge { .. })
    }

    /// How many of the items passed just before this error are withdrawn: the `retracted`
    /// of [`RecordError::Corrupt`], 0 otherwise.
    pub fn retracted(&self) -> u64 {
        match self {
            RecordError::Corrupt { retracted, .. } => *retracted,
            RecordError::TooLarge { .. }
            | RecordError::Truncated { .. }
            | RecordError::Io { .. } => 0,
        }
    }

    /// The archive's key.
    pub fn key(&self) -> &str {
        match self {
            RecordError::TooLarge { key, .. }
            | RecordError::Truncated { key, .. }
            | RecordError::Corrupt { key, .. }
            | RecordError::Io { key, .. } => key,
        }
    }

    /// Where the error happened.
    pub fn position(&self) -> &Position {
        match self {
            RecordError::TooLarge { position, .. }
            | RecordError::Truncated { position, .. }
            | RecordError::Corrupt { position, .. }
            | RecordError::Io { position, .. } => position,
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

/// Counts the bytes that pass through a reader, in a cell that can be read while the reader
/// is borrowed (by `tar`).
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Why reading stopped: the record being read, its bytes so far, and the (tagged) error.
struct Stop {
    position: Position,
    partial: Vec<u8>,
    source: io::Error,
}

impl Stop {
    /// Stopped between records.
    fn between(position: Position, source: io::Error) -> Stop {
        Stop {
            position,
            partial: Vec::new(),
            source,
        }
    }
}

/// The items passed to the sink that the member being decoded would withdraw if it failed
/// its checks. Items are passed in order, so a count and the first one's position say which:
/// memory does not grow with the archive, nor with the member.
#[derive(Debug, Default)]
struct Unverified {
    /// The decoded offset at which the member being decoded began, as last seen.
    member_start: u64,
    /// Items passed whose decoded end is past `member_start`.
    count: u64,
    /// The position of the first of them.
    first: Option<Position>,
    /// The largest decoded end among them.
    last_end: u64,
}

impl Unverified {
    /// Catches up with the member being decoded, which began at `start`.
    fn catch_up(&mut self, start: u64) {
        if start == self.member_start {
            return;
        }
        self.member_start = start;
        // A new member begins once the decoder has checked everything before `start`. The
        // items counted were passed before it began (this is called at every item), and a
        // record cannot end past what was decoded, so they ended at or before `start`: they
        // are verified. Unless an end was computed past what was read (the end of an
        // oversized postcan member, skipped later): then the count stays, as withdrawing
        // too much is safe and too little is not.
        if self.last_end <= start {
            self.count = 0;
            self.first = None;
        }
    }

    /// Counts an item passed that ends at decoded offset `end`.
    fn note(&mut self, start: u64, end: u64, position: &Position) {
        self.catch_up(start);
        if end > self.member_start {
            if self.count == 0 {
                self.first = Some(position.clone());
            }
            self.count += 1;
            self.last_end = self.last_end.max(end);
        }
    }
}

/// Passes records and errors to the caller's sink, in order, and keeps what a member that
/// fails its checks must withdraw.
struct Emitter<'k, S> {
    key: &'k str,
    limits: Limits,
    sink: S,
    /// Where the member being decoded began (set by the decoder); `None` when the bytes are
    /// not compressed, so that there are no checks to fail.
    member_start: Option<Rc<Cell<u64>>>,
    unverified: Unverified,
}

impl<S: FnMut(Result<Record, RecordError>)> Emitter<'_, S> {
    /// Passes a record that ends at decoded offset `end`.
    fn record(&mut self, bytes: Vec<u8>, position: Position, end: u64) {
        self.note(end, &position);
        (self.sink)(Ok(Record { bytes, position }));
    }

    /// Reports a record over [`Limits::max_record_bytes`] that ends at decoded offset `end`.
    fn too_large(&mut self, position: Position, len: u64, head: Vec<u8>, end: u64) {
        self.note(end, &position);
        (self.sink)(Err(RecordError::TooLarge {
            key: self.key.to_owned(),
            position,
            len,
            max: self.limits.max_record_bytes,
            head,
        }));
    }

    fn note(&mut self, end: u64, position: &Position) {
        if let Some(start) = &self.member_start {
            self.unverified.note(start.get(), end, position);
        }
    }

    /// Reports why reading stopped, as the last item, by where the error arose (see
    /// [`FaultKind`]). An error that is none of the decoder's nor the store's (a broken tar
    /// header, a tar member cut short) may be the first sign of corruption that the
    /// member's checksum has yet to reveal: when `rest` (the decoded stream) is given, the
    /// rest of that member is decoded to find out.
    fn stop(&mut self, stop: Stop, rest: Option<&mut dyn Read>) {
        let Stop {
            position,
            partial,
            source,
        } = stop;
        let (mut fault, mut source) = untag(source);
        if fault.is_none()
            && !is_object_too_large(&source)
            && let Some(error) = rest.and_then(|rest| self.check_member(rest))
        {
            let (found, error) = untag(error);
            // A cut found further on does not explain this error: it stands.
            if matches!(found, Some(FaultKind::Corrupt | FaultKind::Store)) {
                (fault, source) = (found, error);
            }
        }
        let key = self.key.to_owned();
        let error = match fault {
            Some(FaultKind::Store) => RecordError::Io {
                key,
                position,
                partial,
                source,
            },
            Some(FaultKind::Corrupt) => {
                if let Some(start) = &self.member_start {
                    self.unverified.catch_up(start.get());
                }
                let unverified = std::mem::take(&mut self.unverified);
                RecordError::Corrupt {
                    key,
                    position: unverified.first.unwrap_or(position),
                    retracted: unverified.count,
                    source,
                }
            }
            Some(FaultKind::Cut) | None => RecordError::Truncated {
                key,
                position,
                partial,
                source,
            },
        };
        (self.sink)(Err(error));
    }

    /// Decodes the rest of the member being decoded, so that its checks run; returns the
    /// error that ends it, if any. `None` also when the bytes are not compressed.
    fn check_member(&self, rest: &mut dyn Read) -> Option<io::Error> {
        let start = self.member_start.as_ref()?;
        let member = start.get();
        let mut scratch = vec![0u8; CHECK_BUFFER];
        loop {
            let read = rest.read(&mut scratch);
            if start.get() != member {
                // The next member began: this one passed its checks, and whatever the next
                // holds has nothing to do with the error being explained.
                return None;
            }
            match read {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Some(e),
            }
        }
    }
}

/// Reads every record of one archive, calling `sink` for each record or error, in order.
/// Never fails as a whole: reading stops at the first error that is not
/// [`RecordError::TooLarge`], which is then the last item:
/// - [`RecordError::Truncated`]: the data ends early or the tar is broken (or the object is
///   over [`Limits::max_object_bytes`]); the items before it stand;
/// - [`RecordError::Corrupt`]: a gzip member or LZ4 frame failed its integrity check; the
///   last [`retracted`](RecordError::retracted) items passed before it are withdrawn;
/// - [`RecordError::Io`]: `reader` itself failed (the store, not the data); read the object
///   again later.
///
/// By `format`: [`ArchiveFormat::Jsonl`] and [`ArchiveFormat::JsonLz4`] yield lines
/// ([`Position::Line`]); [`ArchiveFormat::Postcan`] yields `.post` members
/// ([`Position::Member`]); [`ArchiveFormat::TarLz4`] yields the lines of each `.json` member
/// ([`Position::MemberLine`]) and counts `.yaml` members in [`ArchiveStats::yaml_members`];
/// skipped formats ([`ArchiveFormat::is_skipped`]) are not read at all
/// ([`ArchiveStats::skipped_archive`]). Compression is sniffed, whatever the format says.
/// After a tar's end, the rest of the stream is read too, so that the last member's checks
/// run.
pub fn read_records(
    key: &str,
    format: ArchiveFormat,
    reader: impl Read,
    limits: Limits,
    sink: impl FnMut(Result<Record, RecordError>),
) -> ArchiveStats {
    let mut stats = ArchiveStats::default();
    if format.is_skipped() {
        stats.skipped_archive = true;
        stats.yaml_members = u64::from(format == ArchiveFormat::YamlLz4);
        return stats;
    }
    let mut out = Emitter {
        key,
        limits,
        sink,
        member_start: None,
        unverified: Unverified::default(),
    };
    let stored_bytes = Rc::new(Cell::new(0));
    let mut stored = Counting {
        inner: FromStore(reader),
        count: Rc::clone(&stored_bytes),
    };
    // Sniff the compression from the first bytes, however the reader chunks them.
    let mut magic = [0u8; 4];
    let mut sniffed = 0;
    while sniffed < magic.len() {
        match stored.read(&mut magic[sniffed..]) {
            Ok(0) => break,
            Ok(n) => sniffed += n,
            Err(source) => {
                out.stop(Stop::between(first_position(format), source), None);
                stats.stored_bytes = stored_bytes.get();
                return stats;
            }
        }
    }
    let head = &magic[..sniffed];
    stats.gzip = head.starts_with(&GZIP_MAGIC);
    stats.lz4 = head.starts_with(&LZ4_MAGIC);
    let buffered = BufReader::with_capacity(READ_BUFFER, head.chain(&mut stored));
    let member_start = Rc::new(Cell::new(0));
    let inner: Box<dyn Read + '_> = if stats.gzip {
        out.member_start = Some(Rc::clone(&member_start));
        Box::new(GzMembers::new(buffered, member_start))
    } else if stats.lz4 {
        out.member_start = Some(Rc::clone(&member_start));
        Box::new(Lz4Frames::new(buffered, member_start))
    } else {
        Box::new(buffered)
    };
    let max = limits.max_object_bytes;
    let mut decoded = BufReader::with_capacity(
        READ_BUFFER,
        Capped {
            inner,
            left: max,
            max,
        },
    );
    stats.decoded_bytes = match format {
        ArchiveFormat::Jsonl | ArchiveFormat::JsonLz4 => {
            let (consumed, stop) = read_lines(&mut out, &mut decoded, 0, &Position::Line);
            if let Some(stop) = stop {
                // Every error here is the decoder's, the store's or the object limit's:
                // nothing to check further.
                out.stop(stop, None);
            }
            consumed
        }
        ArchiveFormat::Postcan | ArchiveFormat::TarLz4 => {
            let consumed = Rc::new(Cell::new(0));
            let mut counted = Counting {
                inner: &mut decoded,
                count: Rc::clone(&consumed),
            };
            let read = if format == ArchiveFormat::Postcan {
                read_members(&mut out, &mut counted, &consumed, &mut stats)
            } else {
                read_can_members(&mut out, &mut counted, &consumed, &mut stats)
            };
            match read {
                // Read on past the tar's end: the decoder then checks the last member (gzip
                // CRC32 and length, LZ4 end mark and checksum), and a corrupt or cut tail is
                // reported rather than ignored.
                Ok(last_name) => {
                    if let Err(source) = io::copy(&mut counted, &mut io::sink()) {
                        let position = Position::Member(format!("after {last_name}"));
                        out.stop(Stop::between(position, source), None);
                    }
                }
                Err(stop) => out.stop(stop, Some(&mut counted)),
            }
            consumed.get()
        }
        ArchiveFormat::YamlLz4 | ArchiveFormat::CanIndex => 0,
    };
    stats.stored_bytes = stored_bytes.get();
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
/// `position`; `base` is the decoded offset at which `reader` starts. Returns the bytes
/// consumed, and why reading stopped if it did before the end.
fn read_lines<S: FnMut(Result<Record, RecordError>)>(
    out: &mut Emitter<'_, S>,
    reader: &mut dyn BufRead,
    base: u64,
    position: &dyn Fn(u64) -> Position,
) -> (u64, Option<Stop>) {
    let max = out.limits.max_record_bytes;
    let mut consumed = 0u64;
    let mut line_no = 0u64;
    loop {
        line_no += 1;
        let mut buf = Vec::new();
        match read_line_capped(reader, &mut buf, max) {
            Ok(LineEnd::Eof) => return (consumed, None),
            Ok(LineEnd::Complete) => {
                consumed += buf.len() as u64;
                out.record(buf, position(line_no), base + consumed);
            }
            Ok(LineEnd::TooLong { len }) => {
                consumed += len;
                out.too_large(position(line_no), len, buf, base + consumed);
            }
            Err(source) => {
                consumed += buf.len() as u64;
                let stop = Stop {
                    position: position(line_no),
                    partial: buf,
                    source,
                };
                return (consumed, Some(stop));
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

/// A postcan's `.post` members; anything else is counted in `stats.other_members`.
/// `consumed` counts the decoded bytes `reader` has given. Returns the name of the last
/// member, or why reading stopped.
fn read_members<S: FnMut(Result<Record, RecordError>)>(
    out: &mut Emitter<'_, S>,
    reader: &mut dyn Read,
    consumed: &Cell<u64>,
    stats: &mut ArchiveStats,
) -> Result<String, Stop> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|source| Stop::between(Position::Member(String::new()), source))?;
    let mut last_name = String::new();
    for entry in entries {
        let mut entry = entry.map_err(|source| {
            Stop::between(Position::Member(format!("after {last_name}")), source)
        })?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        last_name.clone_from(&name);
        if !entry.header().entry_type().is_file() || !name.ends_with(".post") {
            stats.other_members += 1;
            continue;
        }
        let size = entry.size();
        // `tar` has read the headers and nothing of the content yet. An oversized member's
        // content is skipped later, so its end is computed rather than read.
        let end = consumed.get().saturating_add(size);
        if size > out.limits.max_record_bytes as u64 {
            let mut head = Vec::new();
            if let Err(source) = (&mut entry).take(4096).read_to_end(&mut head) {
                return Err(Stop {
                    position: Position::Member(name),
                    partial: head,
                    source,
                });
            }
            out.too_large(Position::Member(name), size, head, end);
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
            return Err(Stop {
                position: Position::Member(name),
                partial: bytes,
                source,
            });
        }
        out.record(bytes, Position::Member(name), end);
    }
    Ok(last_name)
}

/// A tarcan's members: the lines of each `*.json` report file are records; `*.yaml` reports
/// are counted in `stats.yaml_members`, anything else in `stats.other_members`. `consumed`
/// counts the decoded bytes `reader` has given. Returns the name of the last member, or why
/// reading stopped.
fn read_can_members<S: FnMut(Result<Record, RecordError>)>(
    out: &mut Emitter<'_, S>,
    reader: &mut dyn Read,
    consumed: &Cell<u64>,
    stats: &mut ArchiveStats,
) -> Result<String, Stop> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|source| Stop::between(Position::Member(String::new()), source))?;
    let mut last_name = String::new();
    for entry in entries {
        let entry = entry.map_err(|source| {
            Stop::between(Position::Member(format!("after {last_name}")), source)
        })?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        last_name.clone_from(&name);
        if !entry.header().entry_type().is_file() {
            stats.other_members += 1;
        } else if name.ends_with(".json") {
            let size = entry.size();
            // `tar` has read the headers and nothing of the content yet.
            let start = consumed.get();
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
            if let (_, Some(stop)) = read_lines(out, &mut lines, start, &position) {
                return Err(stop);
            }
        } else if name.ends_with(".yaml") {
            stats.yaml_members += 1;
        } else {
            stats.other_members += 1;
        }
    }
    Ok(last_name)
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
    fn lz4_trailing_garbage_and_corruption_are_corrupt_data() {
        // Garbage after a whole frame: the frame passed its checks, nothing is withdrawn.
        let (mut data, _) = lz4_frames(&report_b().concat(), &[]);
        data.extend_from_slice(b"garbage!");
        let (items, _) = read_all(ArchiveFormat::JsonLz4, &data, Limits::default());
        assert_eq!(items.len(), 3);
        assert!(items[..2].iter().all(Result::is_ok));
        match &items[2] {
            Err(RecordError::Corrupt {
                position,
                retracted,
                ..
            }) => {
                assert_eq!(*retracted, 0);
                assert_eq!(*position, Position::Line(3));
            }
            other => panic!("{other:?}"),
        }

        // A flipped byte in the second frame's last block, which has a checksum: the first
        // frame (10 bytes) holds no whole line, so every line read is withdrawn.
        let (mut data, _) = lz4_frames(&report_b().concat(), &[10]);
        let at = data.len() - 40;
        data[at] ^= 0x55;
        let (items, _) = read_all(ArchiveFormat::JsonLz4, &data, Limits::default());
        let (read, stop) = split_stop(&items);
        match stop {
            RecordError::Corrupt {
                position,
                retracted,
                ..
            } => {
                assert_eq!(*retracted, read.len() as u64);
                assert_eq!(*position, Position::Line(1));
            }
            other => panic!("{other:?}"),
        }
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

    // ---- Integrity: members that fail their checks, stores that fail, streams cut short.

    /// `{"n":i}\n` for each `i` of `range`.
    fn numbered(range: std::ops::Range<u32>) -> Vec<u8> {
        range
            .map(|i| format!("{{\"n\":{i}}}\n"))
            .collect::<String>()
            .into_bytes()
    }

    /// The records read before the last item, and the last item, which must be an error that
    /// ends reading.
    fn split_stop(items: &[Result<Record, RecordError>]) -> (Vec<&Record>, &RecordError) {
        let (last, read) = items.split_last().expect("at least one item");
        let read: Vec<&Record> = read
            .iter()
            .map(|item| item.as_ref().expect("only records before the error"))
            .collect();
        match last {
            Err(error) if error.ends_reading() => (read, error),
            other => panic!("the last item does not end reading: {other:?}"),
        }
    }

    /// Checks that `stop` withdraws exactly the records read past the first `kept`, and
    /// names the first of them.
    fn assert_withdraws(read: &[&Record], stop: &RecordError, kept: usize) {
        let RecordError::Corrupt {
            position,
            retracted,
            ..
        } = stop
        else {
            panic!("not corrupt: {stop:?}");
        };
        assert!(read.len() >= kept, "{} records read", read.len());
        assert_eq!(*retracted, (read.len() - kept) as u64, "{stop}");
        assert_eq!(stop.retracted(), *retracted);
        assert!(!stop.is_transient() && !stop.is_object_too_large());
        if let Some(first) = read.get(kept) {
            assert_eq!(*position, first.position);
        }
    }

    /// Two gzip members: lines 0..50 and 50..100 (so a member boundary falls between lines).
    fn two_members() -> (Vec<u8>, usize, Vec<u8>) {
        let first = numbered(0..50);
        let mut data = gzip(&first);
        let boundary = data.len();
        data.extend(gzip(&numbered(50..100)));
        let mut whole = first;
        whole.extend(numbered(50..100));
        (data, boundary, whole)
    }

    #[test]
    fn a_gzip_member_with_a_bad_crc_withdraws_its_records_and_only_those() {
        let (mut data, _, whole) = two_members();
        // The CRC32 is the trailer's first field: the deflate stream is intact, so every
        // line of the second member is decoded and passed on before the mismatch shows.
        let crc = data.len() - 8;
        data[crc] ^= 0x01;
        let (items, stats) = read_all(ArchiveFormat::Jsonl, &data, Limits::default());
        let (read, stop) = split_stop(&items);
        assert_eq!(read.len(), 100, "the second member's lines were passed on");
        for (record, line) in read.iter().zip(whole.split_inclusive(|b| *b == b'\n')) {
            assert_eq!(record.bytes, line);
        }
        assert_withdraws(&read, stop, 50);
        assert!(stop.to_string().contains("checksum"), "{stop}");
        assert!(stats.gzip);

        // The same member with a bad length (ISIZE, the trailer's second field).
        let (mut data, _, _) = two_members();
        let isize = data.len() - 1;
        data[isize] ^= 0x01;
        let (items, _) = read_all(ArchiveFormat::Jsonl, &data, Limits::default());
        let (read, stop) = split_stop(&items);
        assert_withdraws(&read, stop, 50);

        // A bad CRC in the first member withdraws the first member's lines only: the second
        // is never read.
        let (mut data, boundary, _) = two_members();
        data[boundary - 8] ^= 0x01;
        let (items, _) = read_all(ArchiveFormat::Jsonl, &data, Limits::default());
        let (read, stop) = split_stop(&items);
        assert_eq!(read.len(), 50);
        assert_withdraws(&read, stop, 0);
    }

    #[test]
    fn a_flipped_byte_in_a_gzip_members_deflate_data_withdraws_that_members_records() {
        let (data, boundary, whole) = two_members();
        let lines: Vec<&[u8]> = whole.split_inclusive(|b| *b == b'\n').collect();
        // Every byte of the second member's deflate stream (after its 10-byte header, before
        // its 8-byte trailer).
        let mut corrupt = 0;
        for at in boundary + 10..data.len() - 8 {
            let mut data = data.clone();
            data[at] ^= 0x10;
            let (items, _) = read_all(ArchiveFormat::Jsonl, &data, Limits::default());
            if items.iter().all(Result::is_ok) {
                // The flip hit the padding after the stream's last code: nothing changed.
                let read: Vec<&[u8]> = items.iter().flatten().map(|r| &r.bytes[..]).collect();
                assert_eq!(read, lines, "byte {at}");
                continue;
            }
            let (read, stop) = split_stop(&items);
            // The first member's lines are read, whole and unchanged, and never withdrawn.
            assert!(read.len() >= 50, "byte {at}: {stop}");
            for (record, line) in read.iter().zip(&lines).take(50) {
                assert_eq!(record.bytes, *line, "byte {at}");
            }
            match stop {
                RecordError::Corrupt { .. } => {
                    corrupt += 1;
                    assert_withdraws(&read, stop, 50);
                    if read.len() == 50 {
                        assert_eq!(*stop.position(), Position::Line(51), "byte {at}");
                    }
                }
                // A flip can make the deflate stream run past the input's end, which looks
                // exactly like a cut: those lines are kept, as for any truncation.
                RecordError::Truncated { .. } => {}
                other => panic!("byte {at}: {other:?}"),
            }
        }
        assert!(corrupt > 0);

        // One flip, in the middle of the stream, asserted exactly.
        let mut data = data;
        let at = boundary + (data.len() - boundary) / 2;
        data[at] ^= 0x10;
        let (items, _) = read_all(ArchiveFormat::Jsonl, &data, Limits::default());
        let (read, stop) = split_stop(&items);
        assert_withdraws(&read, stop, 50);
    }

    /// A postcan's tar: `count` `.post` members of `size` bytes each, and their names.
    fn postcan_tar(count: usize, size: usize) -> (Vec<u8>, Vec<String>) {
        let mut builder = tar::Builder::new(Vec::new());
        let mut names = Vec::new();
        for i in 0..count {
            let name = format!(
                "2020102110_AZ_whatsapp/20201021101500.{i:06}_AZ_whatsapp_0123456789abcdef.post"
            );
            let body = vec![b'a' + i as u8; size];
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, &name, &body[..]).unwrap();
            names.push(name);
        }
        (builder.into_inner().unwrap(), names)
    }

    #[test]
    fn a_postcan_whose_gzip_fails_its_crc_withdraws_its_post_members() {
        let (tar, names) = postcan_tar(3, 1500);
        // One member: the tar ends before the gzip trailer, which is read anyway.
        let mut data = gzip(&tar);
        let crc = data.len() - 8;
        data[crc] ^= 0x01;
        let (items, _) = read_all(ArchiveFormat::Postcan, &data, Limits::default());
        let (read, stop) = split_stop(&items);
        assert_eq!(read.len(), 3);
        assert_withdraws(&read, stop, 0);
        assert_eq!(*stop.position(), Position::Member(names[0].clone()));

        // Two gzip members split inside the second `.post` member: the first `.post` member
        // passed its checks; the one across the boundary and the one after are withdrawn.
        let split = 512 + 1500 + 12 + 512 + 700;
        let mut data = gzip(&tar[..split]);
        data.extend(gzip(&tar[split..]));
        let crc = data.len() - 8;
        data[crc] ^= 0x01;
        let (items, _) = read_all(ArchiveFormat::Postcan, &data, Limits::default());
        let (read, stop) = split_stop(&items);
        assert_eq!(read.len(), 3);
        assert_withdraws(&read, stop, 1);
        assert_eq!(*stop.position(), Position::Member(names[1].clone()));

        // An oversized member across the boundary is withdrawn too, and counted.
        let limits = Limits {
            max_record_bytes: 1000,
            ..Limits::default()
        };
        let (items, _) = read_all(ArchiveFormat::Postcan, &data, limits);
        assert_eq!(items.len(), 4);
        assert!(
            items[..3]
                .iter()
                .all(|i| matches!(i, Err(RecordError::TooLarge { .. })))
        );
        match &items[3] {
            Err(RecordError::Corrupt {
                retracted,
                position,
                ..
            }) => {
                assert_eq!(*retracted, 2);
                assert_eq!(*position, Position::Member(names[1].clone()));
            }
            other => panic!("{other:?}"),
        }

        // Intact, the same two members read without an error.
        let mut data = gzip(&tar[..split]);
        data.extend(gzip(&tar[split..]));
        let (items, stats) = read_all(ArchiveFormat::Postcan, &data, Limits::default());
        assert_eq!(items.len(), 3);
        assert!(items.iter().all(Result::is_ok));
        assert_eq!(stats.decoded_bytes, tar.len() as u64);
    }

    #[test]
    fn a_broken_tar_header_in_a_member_that_fails_its_crc_is_reported_corrupt() {
        let (tar, names) = postcan_tar(3, 1500);
        // Stored (uncompressed) deflate blocks copy the tar through, so a flipped byte in the
        // second tar header breaks that header's checksum before the gzip CRC is reached.
        let mut encoder = GzEncoder::new(Vec::new(), Compression::none());
        encoder.write_all(&tar).unwrap();
        let mut data = encoder.finish().unwrap();
        let header = 10 + 5 + 512 + 1536 + 20;
        assert_eq!(data[header], tar[512 + 1536 + 20]);
        data[header] ^= 0x01;
        let (items, _) = read_all(ArchiveFormat::Postcan, &data, Limits::default());
        let (read, stop) = split_stop(&items);
        assert_eq!(read.len(), 1);
        assert_withdraws(&read, stop, 0);
        assert_eq!(*stop.position(), Position::Member(names[0].clone()));

        // The same broken header in a plain tar is a broken tar: nothing to withdraw.
        let mut plain = tar.clone();
        plain[512 + 1536 + 20] ^= 0x01;
        let (items, _) = read_all(ArchiveFormat::Postcan, &plain, Limits::default());
        let (read, stop) = split_stop(&items);
        assert_eq!(read.len(), 1);
        assert!(matches!(stop, RecordError::Truncated { .. }), "{stop:?}");
    }

    #[test]
    fn an_lz4_frame_failing_its_checks_withdraws_the_lines_it_holds() {
        let tar = can_tar();
        let expected = expected_can_records();
        // Two frames, split inside report A's third line: the first frame holds its first two
        // lines whole.
        let third = &expected[2].bytes;
        let third_at = tar.windows(200).position(|w| w == &third[..200]).unwrap();
        let (data, frame_ends) = lz4_frames(&tar, &[third_at + 100]);

        // The first frame ends with its content checksum: its lines were read before it.
        let mut bad = data.clone();
        bad[frame_ends[0] - 1] ^= 0x01;
        let (items, _) = read_all(ArchiveFormat::TarLz4, &bad, Limits::default());
        let (read, stop) = split_stop(&items);
        assert_eq!(read.len(), 2);
        for (record, want) in read.iter().zip(&expected) {
            assert_eq!(*record, want);
        }
        assert_withdraws(&read, stop, 0);
        assert_eq!(*stop.position(), expected[0].position);

        // Three frames, the last one from inside report B's first line on: a bad block
        // checksum there leaves the lines of the first two frames, which passed their
        // checks, and the line across the boundary is not read.
        let b_first = &expected[3].bytes;
        let b_at = tar.windows(200).position(|w| w == &b_first[..200]).unwrap();
        let (mut bad, _) = lz4_frames(&tar, &[third_at + 100, b_at + 100]);
        // Just before the 4-byte end mark: the last byte of the last block's checksum.
        let at = bad.len() - 5;
        bad[at] ^= 0x01;
        let (items, _) = read_all(ArchiveFormat::TarLz4, &bad, Limits::default());
        let (read, stop) = split_stop(&items);
        assert_eq!(read.len(), 3);
        assert_withdraws(&read, stop, 3);
        assert_eq!(*stop.position(), expected[3].position);

        // A reportcan whose second frame has several blocks: a bad checksum in the last one
        // withdraws the lines read from the earlier blocks of that frame, and only those.
        let body = numbered(0..30_000);
        let (mut data, _) = lz4_frames(&body, &[1000]);
        let at = data.len() - 5;
        data[at] ^= 0x01;
        let (items, _) = read_all(ArchiveFormat::JsonLz4, &data, Limits::default());
        let (read, stop) = split_stop(&items);
        let kept = body[..1000].iter().filter(|b| **b == b'\n').count();
        assert!(read.len() > kept + 1000, "{} lines read", read.len());
        assert!(
            body.len() - 1000 > 2 * 65536,
            "the second frame has several blocks"
        );
        assert_withdraws(&read, stop, kept);
    }

    /// Gives `data` in chunks of at most 1000 bytes, then fails with `kind`.
    struct FailingStore<'a> {
        data: &'a [u8],
        kind: io::ErrorKind,
    }

    impl Read for FailingStore<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.data.is_empty() {
                return Err(io::Error::new(self.kind, "the store gave up"));
            }
            let n = buf.len().min(self.data.len()).min(1000);
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_store_that_fails_is_io_not_truncated() {
        let body = numbered(0..2000);
        let (tar, _) = postcan_tar(3, 1500);
        let (lz4, _) = lz4_frames(&body, &[]);
        let cases = [
            (ArchiveFormat::Jsonl, gzip(&body)),
            (ArchiveFormat::Jsonl, body.clone()),
            (ArchiveFormat::JsonLz4, lz4),
            (ArchiveFormat::Postcan, gzip(&tar)),
            (ArchiveFormat::Postcan, tar.clone()),
        ];
        for kind in [
            io::ErrorKind::PermissionDenied,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::UnexpectedEof,
        ] {
            for (format, data) in &cases {
                for given in [0, 3, data.len() / 2, data.len() - 1] {
                    let store = FailingStore {
                        data: &data[..given],
                        kind,
                    };
                    let mut items = Vec::new();
                    read_records("k", *format, store, Limits::default(), |r| items.push(r));
                    let (_, stop) = split_stop(&items);
                    match stop {
                        RecordError::Io { source, .. } => {
                            assert_eq!(source.kind(), kind);
                            assert_eq!(source.to_string(), "the store gave up");
                            assert!(stop.is_transient());
                            assert_eq!(stop.retracted(), 0);
                        }
                        other => panic!("{format:?} {kind:?} after {given} bytes: {other:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn a_store_error_keeps_the_line_it_broke() {
        let body = numbered(0..10);
        let store = FailingStore {
            data: &body[..25],
            kind: io::ErrorKind::ConnectionReset,
        };
        let mut items = Vec::new();
        read_records("k", ArchiveFormat::Jsonl, store, Limits::default(), |r| {
            items.push(r);
        });
        let (read, stop) = split_stop(&items);
        assert_eq!(read.len(), 3);
        match stop {
            RecordError::Io {
                position, partial, ..
            } => {
                assert_eq!(*position, Position::Line(4));
                assert_eq!(partial[..], body[24..25]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_gzip_cut_in_its_second_member_keeps_the_records_before_the_cut() {
        let (data, boundary, whole) = two_members();
        let lines: Vec<&[u8]> = whole.split_inclusive(|b| *b == b'\n').collect();
        for cut in [boundary + 5, boundary + 40, data.len() - 4] {
            let (items, _) = read_all(ArchiveFormat::Jsonl, &data[..cut], Limits::default());
            let (read, stop) = split_stop(&items);
            assert!(read.len() >= 50, "cut {cut}");
            for (record, line) in read.iter().zip(&lines) {
                assert_eq!(record.bytes, *line, "cut {cut}");
            }
            match stop {
                RecordError::Truncated {
                    position, source, ..
                } => {
                    assert_eq!(*position, Position::Line(read.len() as u64 + 1));
                    assert_eq!(source.kind(), io::ErrorKind::UnexpectedEof);
                }
                other => panic!("cut {cut}: {other:?}"),
            }
            assert!(!stop.is_transient() && stop.retracted() == 0);
        }
    }

    #[test]
    fn what_a_member_would_withdraw_is_forgotten_once_the_next_begins() {
        let mut unverified = Unverified::default();
        unverified.note(0, 10, &Position::Line(1));
        unverified.note(0, 20, &Position::Line(2));
        assert_eq!(unverified.count, 2);
        // A member began at 20: both lines passed their checks.
        unverified.note(20, 25, &Position::Line(3));
        assert_eq!(unverified.count, 1);
        assert_eq!(unverified.first, Some(Position::Line(3)));
        // A record that ends at a member's start is not counted against it.
        unverified.catch_up(25);
        unverified.note(25, 25, &Position::Line(4));
        assert_eq!(unverified.count, 0);
        // An end past the next member's start (a skipped oversized member) keeps the count.
        unverified.note(25, 100, &Position::Line(5));
        unverified.note(50, 120, &Position::Line(6));
        assert_eq!(unverified.count, 2);
        assert_eq!(unverified.first, Some(Position::Line(5)));
    }
}
