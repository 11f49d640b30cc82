//! Reading OONI's archive: typed bucket keys, narrow listings, and the one archive decoder.
//!
//! The principal types:
//! - [`ArchiveKey`]: a bucket key (`raw/…`, `jsonl/…` or the legacy `canned/…`) parsed into
//!   upload day, hour, country, test and format, so archives are filtered before anything is
//!   opened;
//! - [`Selection`]: the days, countries and tests a run wants (and whether to read the legacy
//!   cans), and [`pick_one_of_each_twin`], which reads only one of each `jsonl.gz`/`tar.gz` pair;
//! - [`Store`] with [`LocalStore`]: where archives come from; [`inventory`] lists the
//!   narrowest prefixes ([`plan_prefixes`]) and keeps the selected keys;
//! - [`read_records`]: streams one archive (multi-member gzip, concatenated LZ4 frames or
//!   plain, sniffed from the bytes; JSONL lines, postcan `.post` members, or the lines of a
//!   tarcan's `.json` members) into [`Record`]s, turning broken input into [`RecordError`]s
//!   instead of aborting.
//!
//! Nothing here parses measurements: that is `ooni-normalize`'s job.

mod archive;
mod key;
mod select;
mod store;

pub use archive::{
    ArchiveStats, Limits, ObjectTooLarge, Position, Record, RecordError, read_records,
};
pub use key::{ArchiveFormat, ArchiveKey, KeyError, Layout};
pub use select::{
    Selection, can_bucket, cans_end, cans_start, compact_test_name, pick_one_of_each_twin,
    raw_layout_start,
};
pub use store::{
    Inventory, LocalStore, ObjectMeta, RequestStats, Store, StoreError, inventory, parse_day,
    plan_prefixes,
};
