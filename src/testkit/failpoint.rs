//! Failpoints for the crash tests: with the `testkit` feature, a commit
//! calls [`hit`] at each point where a crash would leave a distinct state
//! on disk.

/// Test hook for the crash tests: `MSP_RETARGET_FAILPOINT=NAME` aborts the
/// process at that point of a commit, as a crash would (no destructor
/// runs). The points: `journal-written` (journal synced, patch untouched),
/// `half-written` (new length set, half the records written), `written`
/// (patch synced, journal not yet deleted).
pub fn hit(name: &str) {
    if std::env::var_os("MSP_RETARGET_FAILPOINT").is_some_and(|v| v == name) {
        tracing::warn!(failpoint = name, "aborting at a test failpoint");
        std::process::abort();
    }
}
