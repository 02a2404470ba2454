//! Counts every HTTP request in `/metrics` by the route it matched (as declared, `/api/v1/contracts/{id}`, so
//! the series stay few whatever paths are asked for; `unmatched` for the rest), method and status, with the
//! time it took to answer.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::HttpState;
use crate::metrics::operations::RouteLabels;

/// Methods counted by name; any other is counted as `other`.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

/// Answers `request` and counts it.
pub async fn count_request(State(state): State<HttpState>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let method = METHODS.iter().find(|method| **method == request.method().as_str()).copied().unwrap_or("other");
    let response = next.run(request).await;
    let labels = RouteLabels { route, method: method.to_owned(), status: response.status().as_u16() };
    state.metrics.operations.count_http_request(labels, started.elapsed().as_secs_f64());
    response
}
