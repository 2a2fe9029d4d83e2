//! `--log-submits`: a line per submit received, with what became of it, appended to a file by
//! a thread of its own. [`Simulator::new`] opens it; the submit path and the faults write to it
//! through [`Simulator::log_submit`]; tests in another process read it while the simulator runs.
//!
//! Binds and their ends have lines too ([`Simulator::log_session`]), so that a test can tell
//! which bind a submit came on and when that bind began and ended:
//!
//! - `UNIX_MS SESSION bound=KIND system_id=ID peer=ADDR binds=N`: N sessions of that system_id
//!   bound now, this one included;
//! - `UNIX_MS SESSION bind-refused=STATUS system_id=ID peer=ADDR`;
//! - `UNIX_MS SESSION closed system_id=ID binds=N`: a bound session ended (unbind or close), N
//!   left.
//!
//! The third field tells them from submit lines, whose outcomes never contain `bound`,
//! `refused` or `closed`.

use super::{Error, Simulator};
use crate::session::SessionInfo;
use smpp_proto::Pdu;
use std::fmt::{self, Write as _};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// `log_submits`: lines waiting for the writer thread, at most; a submit waits beyond that
/// (the log is for tests, which want every line rather than speed).
const SUBMIT_LOG_QUEUE: usize = 64 * 1024;

/// `log_submits`: lines go to a thread that appends them to the file, flushing whenever it
/// has caught up, so a reader in another process sees a line within milliseconds.
pub(super) struct SubmitLog {
    lines: SyncSender<String>,
}

impl SubmitLog {
    pub(super) fn open(path: &Path) -> Result<Self, Error> {
        let failed = |source| Error::Log {
            path: path.to_owned(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(failed)?;
        let (lines, rx) = sync_channel(SUBMIT_LOG_QUEUE);
        std::thread::Builder::new()
            .name("smppd-sim-log".into())
            .spawn(move || write_submit_log(file, &rx))
            .map_err(failed)?;
        Ok(Self { lines })
    }

    fn append(&self, line: String) {
        // Blocks only when the writer is SUBMIT_LOG_QUEUE lines behind. The writer ends only
        // on a write error, after logging it: the lines after it are lost, as it said.
        let _ = self.lines.send(line);
    }
}

/// The writer thread of [`SubmitLog`]: ends when the simulator is gone or on a write error.
fn write_submit_log(file: File, lines: &Receiver<String>) {
    let mut out = BufWriter::with_capacity(64 * 1024, file);
    while let Ok(first) = lines.recv() {
        let mut next = Some(first);
        while let Some(line) = next {
            if let Err(e) = out.write_all(line.as_bytes()) {
                tracing::error!(error = %e, "cannot write the submit log; logging stops");
                return;
            }
            next = lines.try_recv().ok();
        }
        if let Err(e) = out.flush() {
            tracing::error!(error = %e, "cannot write the submit log; logging stops");
            return;
        }
    }
}

impl Simulator {
    /// Appends a line to the submit log, if there is one.
    pub(super) fn log_submit(&self, session: &SessionInfo, pdu: &Pdu, outcome: &dyn fmt::Display) {
        let Some(log) = &self.log else { return };
        let bytes = pdu.to_bytes();
        let mut line = String::with_capacity(48 + 2 * bytes.len());
        let now = crate::message::now_ms();
        // Writing to a String cannot fail.
        let _ = write!(line, "{now} {} {outcome} ", session.id);
        for byte in bytes.iter() {
            let _ = write!(line, "{byte:02x}");
        }
        line.push('\n');
        log.append(line);
    }

    /// Appends a session line (`UNIX_MS SESSION EVENT`) to the submit log, if there is one.
    pub(super) fn log_session(&self, session: u64, event: &dyn fmt::Display) {
        let Some(log) = &self.log else { return };
        let now = crate::message::now_ms();
        log.append(format!("{now} {session} {event}\n"));
    }
}

/// A system_id as one field of a log line: SMPP allows spaces in it, which would split it.
pub(super) fn field(system_id: &str) -> String {
    system_id.replace(char::is_whitespace, "_")
}
