//! libFuzzer over the engine: the generator and the invariants of
//! `crates/raftflow-core/tests/support/`, which the test command's proptest
//! harness runs too. A crash's input goes into `fuzz/regressions/`.

#![no_main]

#[path = "../../crates/raftflow-core/tests/support/check.rs"]
mod check;
#[path = "../../crates/raftflow-core/tests/support/gen.rs"]
mod gen;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data.to_vec()));
