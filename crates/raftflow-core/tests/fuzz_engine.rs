//! The engine on generated definitions (`support/gen.rs`, shared with the
//! libFuzzer target in `fuzz/`): parsing never panics, and every definition
//! that parses runs to its end on the engine's stack without panicking, to
//! the same state twice, and that state reads back as it was written.
//! Failing byte strings are kept in `fuzz/regressions/` and replayed here.

#[path = "support/check.rs"]
mod check;
#[path = "support/gen.rs"]
mod gen;

use check::check;
use proptest::prelude::*;

proptest! {
    // Bounded for the test command; `fuzz/` runs the same cases for hours.
    #![proptest_config(ProptestConfig::with_cases(2_000))]
    #[test]
    fn generated_workflows_run_deterministically_and_read_back(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check(bytes);
    }
}

#[test]
fn every_byte_string_that_ever_failed_passes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    let entries = std::fs::read_dir(&dir).expect("fuzz/regressions exists");
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_none() {
            check(std::fs::read(&path).unwrap());
        }
    }
}
