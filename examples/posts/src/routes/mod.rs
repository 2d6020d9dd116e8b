//! The seed's `routers/`: users, auth, posts; and the error shape they share.

pub mod auth;
pub mod posts;
pub mod usage;
pub mod users;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use std::error::Error as _;

/// An error response in the AuthLayer's shape: `{"detail", "code"}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    retry_after: Option<u64>,
}

impl ApiError {
    /// Any status, code and message.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// With `Retry-After: seconds` (a 429 says when to come back).
    #[must_use]
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// 404 `not_found`.
    pub fn not_found(what: &str, id: i64) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} with id: {id} was not found"),
        )
    }

    /// 400 `invalid_body`.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_body", detail)
    }

    /// 503 `temporarily_unavailable` with `Retry-After`, logged with the cause (which never
    /// holds a secret: sqlx errors carry no bound values).
    pub fn unavailable(error: impl std::fmt::Display) -> Self {
        tracing::error!(target: "posts", %error, "store unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "The service is temporarily unavailable; try again",
        )
    }
}

impl From<authz_axum::core::lifecycle::LifecycleError> for ApiError {
    fn from(error: authz_axum::core::lifecycle::LifecycleError) -> Self {
        if error.is_unavailable() {
            Self::unavailable(
                error
                    .source()
                    .map_or_else(|| error.to_string(), ToString::to_string),
            )
        } else {
            Self::new(StatusCode::BAD_REQUEST, error.code(), error.to_string())
        }
    }
}

/// An error body: `detail` first, then `code` (a struct keeps the order; `json!` would sort).
#[derive(serde::Serialize)]
struct Problem<'a> {
    detail: &'a str,
    code: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            axum::Json(Problem {
                detail: &self.detail,
                code: self.code,
            }),
        )
            .into_response();
        let retry_after = match self.retry_after {
            Some(seconds) => Some(seconds),
            None if self.status == StatusCode::SERVICE_UNAVAILABLE => Some(2),
            None => None,
        };
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

/// `Json<T>` whose rejections (malformed JSON, wrong fields, wrong content type, too large)
/// come in our error shape, with axum's status and message.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(rejection_error(&rejection)),
        }
    }
}

/// A resource id in the path (`/posts/{id}`), whose rejection (not a 64-bit integer) comes in
/// our error shape: 400 `invalid_path`, as the OpenAPI document says, instead of axum's plain
/// text.
#[derive(Debug, Clone, Copy)]
pub struct IdPath(pub i64);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<i64>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(id)) => Ok(Self(id)),
            Err(rejection) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_path",
                rejection.body_text(),
            )),
        }
    }
}

fn rejection_error(rejection: &JsonRejection) -> ApiError {
    let status = match rejection.status() {
        // FastAPI answers 422 for a body of the wrong shape; we say 400 for every
        // malformed body, with the parser's message.
        StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
        other => other,
    };
    ApiError::new(status, "invalid_body", rejection.body_text())
}
