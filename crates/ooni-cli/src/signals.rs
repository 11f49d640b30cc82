//! SIGTERM and SIGINT stop a run cleanly: the run finishes no more archives, abandons the
//! batch it was reading (nothing of it was committed), releases its lock and exits with
//! 128 + the signal's number (143 for SIGTERM, what Kubernetes sends on eviction; 130 for
//! Ctrl-C). A second signal exits at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};

/// Whether a stop was requested, and by which signal.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    requested: Arc<AtomicBool>,
    signal: Arc<AtomicUsize>,
}

impl Stop {
    /// Installs the handlers.
    pub fn install() -> std::io::Result<Stop> {
        let stop = Stop::default();
        for signal in [SIGTERM, SIGINT] {
            let exit = 128 + signal;
            // Registered first, so it sees the flag before this signal sets it: only a
            // second signal exits at once.
            signal_hook::flag::register_conditional_shutdown(
                signal,
                exit,
                Arc::clone(&stop.requested),
            )?;
            signal_hook::flag::register_usize(signal, Arc::clone(&stop.signal), signal as usize)?;
            signal_hook::flag::register(signal, Arc::clone(&stop.requested))?;
        }
        Ok(stop)
    }

    /// Whether a signal asked the run to stop.
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// The signal's name, once one arrived.
    pub fn signal_name(&self) -> Option<&'static str> {
        if !self.requested() {
            return None;
        }
        Some(match i32::try_from(self.signal.load(Ordering::SeqCst)) {
            Ok(SIGINT) => "SIGINT",
            _ => "SIGTERM",
        })
    }

    /// The exit status for the signal that stopped the run (128 + its number).
    pub fn exit_status(&self) -> u8 {
        match self.signal_name() {
            Some("SIGINT") => 130,
            _ => 143,
        }
    }
}
