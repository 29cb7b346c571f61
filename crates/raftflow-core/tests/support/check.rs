//! The invariants every generated case must hold (shared by
//! `tests/fuzz_engine.rs` and the libFuzzer target in `fuzz/`): parsing never
//! panics; a definition that parses runs to its end on the engine's stack
//! without panicking, to the same state twice; that state reads back.

use raftflow_core::execution::ENGINE_STACK_BYTES;
use raftflow_core::local::{run_local, Answer};
use raftflow_core::Execution;

use super::gen;

fn run(def: &raftflow_core::StateMachine, input: &serde_json::Value, answers: &[u8]) -> Execution {
    let mut asked = 0;
    run_local(def, input.clone(), 1_000, 7, |_, task_input, _| {
        asked += 1;
        match gen::answer(answers[asked % answers.len()]) {
            0 => Answer::Succeed(task_input.clone()),
            1 => Answer::Fail {
                error: "E".into(),
                cause: "c".into(),
            },
            _ => Answer::Silent,
        }
    })
    .execution
}

/// The runtime as the store writes it, and read back as the store reads it.
fn reads_back(exec: &Execution) {
    let written = serde_json::to_vec(exec).expect("the runtime serialises");
    let back: Execution =
        raftflow_core::execution::read_runtime(&written).expect("the runtime reads back");
    assert_eq!(
        serde_json::to_vec(&back).unwrap(),
        written,
        "read back differently"
    );
}

pub fn check(bytes: Vec<u8>) {
    std::thread::Builder::new()
        .stack_size(ENGINE_STACK_BYTES)
        .spawn(move || {
            let mut b = gen::Bytes::new(&bytes);
            let definition = gen::definition(&mut b, 0).to_string();
            let input = gen::input(&mut b);
            let answers: Vec<u8> = (0..16).map(|_| b.byte()).collect();
            let _ = raftflow_core::bounds::parse_checked(&definition);
            let Ok(def) = raftflow_core::parse_definition(&definition) else {
                return;
            };
            let first = run(&def, &input, &answers);
            let second = run(&def, &input, &answers);
            assert_eq!(
                serde_json::to_string(&first).unwrap(),
                serde_json::to_string(&second).unwrap(),
                "the same definition, input and answers ran differently: {definition}"
            );
            reads_back(&first);
        })
        .unwrap()
        .join()
        .expect("no panic");
}
