//! The HTTP side: axum routes over the [`Observer`]. The dashboard's files
//! are compiled into the binary (`include_str!`), so a container or an
//! air-gapped host serves it with nothing else installed and no CDN.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::{Observer, Readiness};

const INDEX_HTML: &str = include_str!("dashboard/index.html");
const DASHBOARD_JS: &str = include_str!("dashboard/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("dashboard/dashboard.css");

/// The routes, for [`serve`] and for tests.
pub fn router(observer: Arc<Observer>) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/dashboard.js",
            get(|| async { asset("text/javascript; charset=utf-8", DASHBOARD_JS) }),
        )
        .route(
            "/dashboard.css",
            get(|| async { asset("text/css; charset=utf-8", DASHBOARD_CSS) }),
        )
        .route("/metrics", get(metrics))
        .route("/metrics.json", get(metrics_json))
        .route("/progress", get(progress))
        .route("/pipeline", get(pipeline))
        .route("/health/live", get(|| async { "live\n" }))
        .route("/health/ready", get(ready))
        .with_state(observer)
}

/// Binds `address` (port 0: any free one) and serves in the background;
/// returns the address bound. Failing to bind is an error at start, like
/// any other configuration mistake.
pub async fn serve(address: SocketAddr, observer: Arc<Observer>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    let app = router(observer);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "metrics server stopped");
        }
    });
    Ok(bound)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn metrics(State(o): State<Arc<Observer>>) -> Response {
    // Scraped readiness is as fresh as the scrape.
    let _ = o.readiness();
    match o.metrics.text() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn metrics_json(State(o): State<Arc<Observer>>) -> Json<serde_json::Value> {
    let _ = o.readiness();
    let mut value = o.metrics.json();
    let lag: serde_json::Map<String, serde_json::Value> = o
        .lag()
        .into_iter()
        .map(|(p, n)| (p.to_string(), n.into()))
        .collect();
    value["lag_by_partition"] = lag.into();
    Json(value)
}

async fn progress(State(o): State<Arc<Observer>>) -> Json<Vec<super::BatchProgress>> {
    Json(o.progress())
}

async fn pipeline(State(o): State<Arc<Observer>>) -> Json<super::PipelineInfo> {
    Json(o.info.clone())
}

async fn ready(State(o): State<Arc<Observer>>) -> Response {
    match o.readiness() {
        Readiness::Ready => (StatusCode::OK, "ready\n".to_string()).into_response(),
        Readiness::NotReady(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response(),
    }
}
