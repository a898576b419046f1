//! The job side: what runs in the background, away from any request.
//!
//! Each job kind is a type that owns how it is queued and how it runs ([`background::BackgroundJob`]):
//! [`tool::ToolJob`] runs a tool for a report, [`delivery::DeliveryJob`] sends one notification.
//! [`worker`] claims queued jobs and runs them; [`scheduler`] queues the scans of monitored assets when they
//! fall due; [`alerting`] evaluates alert rules against finished tool runs and sends their notifications;
//! [`vulns`] matches agents' package inventories against the advisory database; [`sampler`] reads the
//! queue's depth and age into their gauges on a timer. Nothing here imports the
//! HTTP side: requests reach the jobs only through the queue (and [`worker::Wake`], which wakes a worker
//! when something was queued).

pub mod alerting;
pub mod background;
pub mod delivery;
pub mod sampler;
pub mod scheduler;
pub mod tool;
pub mod vulns;
pub mod worker;
