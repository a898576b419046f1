//! The HTTP side: everything that knows about requests, status codes and the wire.
//!
//! [`api`] holds the handlers, one module per resource, each annotated for the OpenAPI document (generated
//! from the same route table that serves requests). Around them: [`auth`] (who is calling: Bearer, API key
//! or Hawk, and the login throttle), [`limits`] (request rate limits, lock-outs, Hawk nonces), [`extract`]
//! (bodies and query strings read into typed values, 400 naming the field), [`pagination`], [`error`] (the
//! one API error type and its mapping from operation errors), and [`connections`] (the accept loop with
//! its per-connection deadlines). Handlers read requests, call [`crate::ops`] and shape responses; they
//! never reach into the job side.

pub mod api;
pub mod auth;
pub mod connections;
pub mod error;
pub mod extract;
pub mod limits;
pub mod pagination;
