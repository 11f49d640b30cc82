//! The tables a run writes.

use std::fmt;

/// A table of the output, by its directory name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// One row per measurement (partitioned by test name and day).
    Measurements,
    /// One row per network operation (partitioned by test name and day).
    Observations,
    /// One row per (measurement, domain, stage) outcome (partitioned by test name and day).
    Outcomes,
    /// Failure rates per country, network, domain, stage and day (an aggregate).
    FailureRates,
    /// OONI-style counts per country, network, test and day (an aggregate).
    OoniCounts,
    /// Blocking events detected in the failure rates.
    BlockingEvents,
}

impl Table {
    /// Every table, in the order above.
    pub const ALL: [Table; 6] = [
        Table::Measurements,
        Table::Observations,
        Table::Outcomes,
        Table::FailureRates,
        Table::OoniCounts,
        Table::BlockingEvents,
    ];

    /// The tables partitioned as `test_name=…/measurement_day=…`.
    pub const PARTITIONED: [Table; 3] = [Table::Measurements, Table::Observations, Table::Outcomes];

    /// The directory name, e.g. `"failure_rates"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Table::Measurements => "measurements",
            Table::Observations => "observations",
            Table::Outcomes => "outcomes",
            Table::FailureRates => "failure_rates",
            Table::OoniCounts => "ooni_counts",
            Table::BlockingEvents => "blocking_events",
        }
    }

    /// The table named `name`, if any.
    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in Table::ALL {
            assert_eq!(Table::from_name(t.as_str()), Some(t));
        }
        assert_eq!(Table::from_name("rejects"), None);
    }
}
