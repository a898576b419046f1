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

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

/// The middleware in front of every route, its steps outermost first: request metrics
/// (`telemetry::measured`), the request limits and their headers ([`limits::counted`]), a
/// declared body over the limit ([`connections::refuse_oversized`]), a URI holding a control character
/// ([`extract::check_uri`]), and Hawk verification and response signing ([`auth::hawk::verify`]).
///
/// One layer rather than one per step: axum's `from_fn` layer clones the services inside it and boxes
/// a future on every request, so nested layers multiply that work.
pub async fn gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let state = &state;
    crate::telemetry::measured(req, move |req| async move {
        limits::counted(state, req, move |req| async move {
            if let Some(refused) = connections::refuse_oversized(state.config.max_body_bytes, &req) {
                return refused;
            }
            if let Err(e) = extract::check_uri(req.uri()) {
                return error::respond(e, limits::is_threat_stack_path(req.uri().path()));
            }
            auth::hawk::verify(state, req, move |req| next.run(req)).await
        })
        .await
    })
    .await
}
