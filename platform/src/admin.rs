//! The admin API, on a listener of its own: deploy (`PUT`), list and show
//! (`GET`), and delete (`DELETE`) functions and chains, as JSON. A bad
//! definition gets 400 with the field and the reason, a conflict 409, and
//! neither changes anything.

use crate::config::{ChainSpec, DefError, FunctionSpec};
use crate::registry::{describe_chain, describe_function, Change};
use crate::service::Service;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

pub fn router(svc: Arc<Service>) -> Router {
    Router::new()
        .route("/functions", get(list_functions))
        .route(
            "/functions/{name}",
            get(show_function).put(put_function).delete(delete_function),
        )
        .route("/chains", get(list_chains))
        .route(
            "/chains/{name}",
            get(show_chain).put(put_chain).delete(delete_chain),
        )
        .with_state(svc)
}

fn refused(status: StatusCode, e: DefError) -> Response {
    let body = serde_json::json!({"error": {"field": e.field, "reason": e.reason}});
    (status, Json(body)).into_response()
}

fn not_found(what: &str, name: &str) -> Response {
    let body = serde_json::json!({"error": {"field": "name", "reason": format!("no {what} {name:?} is deployed")}});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// A JSON body as a definition, or 400 saying what is wrong with it.
fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| {
        refused(
            StatusCode::BAD_REQUEST,
            DefError {
                field: "body".into(),
                reason: e.to_string(),
            },
        )
    })
}

fn changed(c: Change, shown: serde_json::Value) -> Response {
    let status = match c {
        Change::Created => StatusCode::CREATED,
        Change::Replaced => StatusCode::OK,
    };
    (status, Json(shown)).into_response()
}

async fn list_functions(State(svc): State<Arc<Service>>) -> Response {
    let reg = svc.registry();
    Json(
        reg.pools()
            .map(|p| describe_function(p))
            .collect::<Vec<_>>(),
    )
    .into_response()
}

async fn show_function(State(svc): State<Arc<Service>>, Path(name): Path<String>) -> Response {
    match svc.registry().function(&name) {
        Some(p) => Json(describe_function(&p)).into_response(),
        None => not_found("function", &name),
    }
}

async fn put_function(
    State(svc): State<Arc<Service>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let spec: FunctionSpec = match parse(&body) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let def = match spec.check(Some(&name)) {
        Ok(d) => d,
        Err(e) => return refused(StatusCode::BAD_REQUEST, e),
    };
    let mut reg = svc.registry_mut();
    match reg.put_function(def, &svc.starter, &svc.metrics) {
        Ok(c) => changed(
            c,
            reg.function(&name)
                .map_or(serde_json::Value::Null, |p| describe_function(&p)),
        ),
        Err(e) => refused(StatusCode::CONFLICT, e),
    }
}

async fn delete_function(State(svc): State<Arc<Service>>, Path(name): Path<String>) -> Response {
    match svc.registry_mut().delete_function(&name) {
        Some(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Some(Err(e)) => refused(StatusCode::CONFLICT, e),
        None => not_found("function", &name),
    }
}

async fn list_chains(State(svc): State<Arc<Service>>) -> Response {
    let reg = svc.registry();
    Json(reg.chains().map(|c| describe_chain(c)).collect::<Vec<_>>()).into_response()
}

async fn show_chain(State(svc): State<Arc<Service>>, Path(name): Path<String>) -> Response {
    match svc.registry().chain(&name) {
        Some(c) => Json(describe_chain(&c)).into_response(),
        None => not_found("chain", &name),
    }
}

async fn put_chain(
    State(svc): State<Arc<Service>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let spec: ChainSpec = match parse(&body) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut reg = svc.registry_mut();
    match reg.put_chain(spec, Some(&name)) {
        Ok(c) => changed(
            c,
            reg.chain(&name)
                .map_or(serde_json::Value::Null, |c| describe_chain(&c)),
        ),
        Err(e) => refused(StatusCode::BAD_REQUEST, e),
    }
}

async fn delete_chain(State(svc): State<Arc<Service>>, Path(name): Path<String>) -> Response {
    if svc.registry_mut().delete_chain(&name) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found("chain", &name)
    }
}
