//! Static assets, compiled into the binary (no CDN). Versioned paths, so they are cached
//! for a year and a new build changes the path.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

pub const CSS_PATH: &str = "/assets/app-5.css";
pub const CSS: &str = include_str!("app.css");
pub const JS_PATH: &str = "/assets/kit-1.js";
pub const JS: &str = include_str!("kit.js");
/// Apache ECharts (Apache-2.0), vendored under `crates/platform/assets/echarts`.
pub const ECHARTS_PATH: &str = "/assets/echarts-5.6.0.min.js";
const ECHARTS: &str = include_str!("../../assets/echarts/echarts.min.js");
const ECHARTS_LICENSE: &str = concat!(
    include_str!("../../assets/echarts/NOTICE"),
    "\n\n",
    include_str!("../../assets/echarts/LICENSE"),
    "\n\n",
    include_str!("../../assets/echarts/LICENSE-d3"),
);
const FAVICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#0b6e4f"/><path d="M9 16h14M16 9v14" stroke="#fff" stroke-width="4"/></svg>"##;

const YEAR: &str = "public, max-age=31536000, immutable";

/// The asset routes (merged by the platform's page router).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(JS_PATH, get(js))
        .route(ECHARTS_PATH, get(echarts))
        .route("/assets/echarts-LICENSE.txt", get(echarts_license))
}

pub async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, YEAR),
        ],
        CSS,
    )
}

async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, YEAR),
        ],
        JS,
    )
}

async fn echarts() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, YEAR),
        ],
        ECHARTS,
    )
}

async fn echarts_license() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        ECHARTS_LICENSE,
    )
}

pub async fn favicon() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        FAVICON,
    )
}
