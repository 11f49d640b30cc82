//! Reading OONI's archive: typed bucket keys, narrow listings, and the one archive decoder.
//!
//! The principal types:
//! - [`ArchiveKey`]: a bucket key (`raw/…`, `jsonl/…` or the legacy `canned/…`) parsed into
//!   upload day, hour, country, test and format, so archives are filtered before anything is
//!   opened;
//! - [`Selection`]: the days, countries and tests a run wants (and whether to read the legacy
//!   cans), and [`pair_twins`], which pairs each `jsonl.gz`/`tar.gz` twin into [`Twins`]: the
//!   one to read (the postcan) and the other, to read instead when the first is broken;
//! - [`Store`] with [`LocalStore`] (which never follows symbolic links, and reports them):
//!   where archives come from; [`plan_listing`] finds the narrowest prefixes the filters
//!   allow, discovering with delimiter listings the key levels a missing filter leaves open
//!   (a [`ListingPlan`]), and [`inventory_with_progress`] lists them in chunks, reporting
//!   [`ListProgress`], and keeps the selected keys in an [`Inventory`];
//! - [`read_records`]: streams one archive (multi-member gzip, concatenated LZ4 frames or
//!   plain, sniffed from the bytes; JSONL lines, postcan `.post` members, or the lines of a
//!   tarcan's `.json` members) into [`Record`]s, turning broken input into [`RecordError`]s
//!   instead of aborting. Errors say what broke: the data ends early
//!   ([`RecordError::Truncated`]), a gzip member or LZ4 frame fails its integrity check
//!   ([`RecordError::Corrupt`], which withdraws the records already passed from that member),
//!   or the store's reader fails ([`RecordError::Io`], transient);
//! - [`OutputStore`]: where a run's output and state live when no disk is shared (a bucket
//!   with conditional writes, [`Conditional`]).
//!
//! Nothing here parses measurements: that is `ooni-normalize`'s job.

mod archive;
mod key;
mod output;
mod select;
mod store;

pub use archive::{
    ArchiveStats, Limits, ObjectTooLarge, Position, Record, RecordError, read_records,
};
pub use key::{ArchiveFormat, ArchiveKey, KeyError, Layout};
pub use output::{Conditional, OutputError, OutputStore};
pub use select::{
    Selection, Twins, can_bucket, cans_end, cans_start, compact_test_name, pair_twins,
    pick_one_of_each_twin, raw_layout_start,
};
pub use store::{
    Inventory, ListProgress, ListingPlan, LocalStore, ObjectMeta, RequestStats, Store, StoreError,
    inventory, inventory_with_progress, parse_day, plan_listing,
};
