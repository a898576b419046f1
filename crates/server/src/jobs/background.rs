//! What every job kind is: a typed payload under a [`JobKind`], written to the queue as JSON and read
//! back through one decoder whose failure is an error naming the job, never a default.
//!
//! Each kind's type owns both sides: how it is queued (its constructor and what it stores) and how it
//! runs ([`crate::jobs::tool::ToolJob::run`], [`crate::jobs::delivery::Sender::deliver`]). The worker
//! dispatches on the kind.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tlink_store::{DbError, Job, JobKind, decode_json};

/// A job kind and its payload.
pub trait BackgroundJob: Serialize + DeserializeOwned {
    /// The kind its rows are queued under.
    const KIND: JobKind;

    /// The payload as stored. Payloads are plain structs of strings, numbers and flags, whose JSON
    /// encoding cannot fail.
    fn encode(&self) -> String {
        serde_json::to_string(self).expect("a job payload is plain data and always encodes")
    }

    /// The payload of a claimed job; a stored payload that does not decode is [`DbError::Corrupt`].
    fn decode(job: &Job) -> Result<Self, DbError> {
        decode_json("jobs", &job.id, "payload", &job.payload)
    }
}

/// A failed attempt: retried later when `retryable` and attempts remain, else failed for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub error: String,
    pub retryable: bool,
}
