//! The bound on state data (apply version 3): a state's output larger than
//! the rules allow fails it with `States.DataLimitExceeded`.

use serde_json::Value;

use crate::eval::Failure;
use crate::execution::Execution;

impl Execution {
    /// `output`, unless it is larger than the rules allow.
    pub(crate) fn data_within(&self, output: Value) -> Result<Value, Failure> {
        let Some(max) = self.rules.max_data_bytes else {
            return Ok(output);
        };
        let mut counter = ByteCounter { bytes: 0, max };
        match serde_json::to_writer(&mut counter, &output) {
            Ok(()) => Ok(output),
            Err(_) => Err(Failure::new(
                "States.DataLimitExceeded",
                format!("the state's output is larger than {max} bytes"),
            )),
        }
    }
}

/// Counts serialised bytes and stops the writer past `max`, so measuring a
/// huge value costs no more than the limit.
struct ByteCounter {
    bytes: usize,
    max: usize,
}

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes += buf.len();
        if self.bytes > self.max {
            return Err(std::io::Error::other("past the data limit"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
