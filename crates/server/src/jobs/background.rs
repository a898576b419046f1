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
    /// The run never reached the network (its target was refused by the egress policy or found invalid
    /// when it ran): it is not counted against the organization's monthly quota.
    pub uncounted: bool,
}

impl Failed {
    /// A failure that may pass: tried again while attempts remain.
    pub fn retryable(error: String) -> Failed {
        Failed { error, retryable: true, uncounted: false }
    }

    /// A failure that will not pass: failed for good at once.
    pub fn fatal(error: String) -> Failed {
        Failed { error, retryable: false, uncounted: false }
    }
}
