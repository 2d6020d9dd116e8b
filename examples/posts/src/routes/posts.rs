//! The seed's `routers/post.py`: `/posts` CRUD, every route guarded by `#[require_auth]`.
//! Anyone logged in creates and reads published posts; drafts (`published: false`) only their
//! author and admins read (anyone else gets 404, as for a post that does not exist); only the
//! author or an `admin` updates or deletes.

use authz_axum::{Auth, Principal, require_auth};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

use super::{ApiError, JsonBody};
use crate::AppState;
use crate::db::{Post, PostIn, Viewer};

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/posts", get(list).post(create))
        .route("/posts/{id}", get(show).put(update).delete(remove))
        .layer(DefaultBodyLimit::max(64 * 1024))
}

fn user_id(principal: &Principal) -> Result<i64, ApiError> {
    principal.subject().parse().map_err(|_| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "not_a_user",
            "This token does not name a user of this service",
        )
    })
}

/// Who `user` is as a reader.
fn viewer(user: &Principal) -> Result<Viewer, ApiError> {
    if user.has_role("admin") {
        Ok(Viewer::Admin)
    } else {
        user_id(user).map(Viewer::User)
    }
}

#[require_auth]
async fn list(
    State(state): State<AppState>,
    Auth(user): Auth,
) -> Result<Json<Vec<Post>>, ApiError> {
    state
        .posts
        .list(viewer(&user)?)
        .await
        .map(Json)
        .map_err(ApiError::unavailable)
}

#[require_auth]
async fn create(
    State(state): State<AppState>,
    Auth(user): Auth,
    JsonBody(post): JsonBody<PostIn>,
) -> Result<(StatusCode, Json<Post>), ApiError> {
    post.validate().map_err(ApiError::invalid)?;
    let post = state
        .posts
        .create(user_id(&user)?, &post)
        .await
        .map_err(ApiError::unavailable)?;
    // The live feed (no one listening is no error).
    let _ = state.feed.send(post.clone());
    Ok((StatusCode::CREATED, Json(post)))
}

#[require_auth]
async fn show(
    State(state): State<AppState>,
    Auth(user): Auth,
    Path(id): Path<i64>,
) -> Result<Json<Post>, ApiError> {
    let viewer = viewer(&user)?;
    match state.posts.get(id).await {
        Ok(Some(post)) if viewer.may_read(&post) => Ok(Json(post)),
        Ok(_) => Err(ApiError::not_found("post", id)),
        Err(error) => Err(ApiError::unavailable(error)),
    }
}

/// The post, if `user` may change it: its author, or an admin.
async fn editable(state: &AppState, user: &Principal, id: i64) -> Result<Post, ApiError> {
    let post = match state.posts.get(id).await {
        Ok(Some(post)) if viewer(user)?.may_read(&post) => post,
        Ok(_) => return Err(ApiError::not_found("post", id)),
        Err(error) => return Err(ApiError::unavailable(error)),
    };
    if user.has_role("admin") || user_id(user)? == post.owner_id {
        Ok(post)
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_owner",
            "Only the author or an admin may change this post",
        ))
    }
}

#[require_auth]
async fn update(
    State(state): State<AppState>,
    Auth(user): Auth,
    Path(id): Path<i64>,
    JsonBody(post): JsonBody<PostIn>,
) -> Result<Json<Post>, ApiError> {
    post.validate().map_err(ApiError::invalid)?;
    editable(&state, &user, id).await?;
    match state.posts.update(id, &post).await {
        Ok(Some(post)) => Ok(Json(post)),
        Ok(None) => Err(ApiError::not_found("post", id)),
        Err(error) => Err(ApiError::unavailable(error)),
    }
}

#[require_auth]
async fn remove(
    State(state): State<AppState>,
    Auth(user): Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    editable(&state, &user, id).await?;
    match state.posts.delete(id).await {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(ApiError::not_found("post", id)),
        Err(error) => Err(ApiError::unavailable(error)),
    }
}
