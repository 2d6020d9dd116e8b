//! The seed's `routers/post.py`: `/posts` CRUD, every route guarded by `#[require_auth]`.
//! Anyone logged in creates and reads published posts; drafts (`published: false`) only their
//! author and admins read (anyone else gets 404, as for a post that does not exist); only the
//! author or an `admin` updates or deletes.

use authz_axum::{Auth, Principal, require_auth};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

use super::{ApiError, IdPath, JsonBody};
use crate::AppState;
use crate::db::{Post, PostIn, Viewer};
use crate::openapi::Problem;

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

/// Lists the posts the caller may read: every published one, and their own drafts (an
/// admin's: every draft).
#[require_auth]
#[utoipa::path(get, path = "/posts", tag = "posts", responses(
    (status = 200, description = "The posts", body = [Post]),
    (status = 403, description = "The token names no user of this service (`not_a_user`)", body = Problem),
    (status = 503, description = "The database could not answer", body = Problem),
))]
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

/// Creates a post owned by the caller.
#[require_auth]
#[utoipa::path(post, path = "/posts", tag = "posts", request_body = PostIn, responses(
    (status = 201, description = "Created", body = Post),
    (status = 400, description = "A body of the wrong shape or length (`invalid_body`)", body = Problem),
    (status = 403, description = "The token names no user of this service (`not_a_user`)", body = Problem),
    (status = 413, description = "The body is over 64 KiB (`invalid_body`)", body = Problem),
    (status = 415, description = "Not `application/json` (`invalid_body`)", body = Problem),
    (status = 503, description = "The database could not answer", body = Problem),
))]
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

/// One post, if the caller may read it (a draft of someone else's is "not found").
#[require_auth]
#[utoipa::path(get, path = "/posts/{id}", tag = "posts", params(("id" = i64, Path, description = "The post's id")), responses(
    (status = 200, description = "The post", body = Post),
    (status = 400, description = "An id that is not a 64-bit integer (`invalid_path`)", body = Problem),
    (status = 403, description = "The token names no user of this service (`not_a_user`)", body = Problem),
    (status = 404, description = "No such post, or a draft of someone else's (`not_found`)", body = Problem),
    (status = 503, description = "The database could not answer", body = Problem),
))]
async fn show(
    State(state): State<AppState>,
    Auth(user): Auth,
    IdPath(id): IdPath,
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

/// Replaces a post: its author or an admin.
#[require_auth]
#[utoipa::path(put, path = "/posts/{id}", tag = "posts", params(("id" = i64, Path, description = "The post's id")), request_body = PostIn, responses(
    (status = 200, description = "The post as updated", body = Post),
    (status = 400, description = "A body of the wrong shape or length (`invalid_body`), or an id that is not a 64-bit integer (`invalid_path`)", body = Problem),
    (status = 403, description = "Neither the author nor an admin (`not_owner`), or no user (`not_a_user`)", body = Problem),
    (status = 404, description = "No such post (`not_found`)", body = Problem),
    (status = 413, description = "The body is over 64 KiB (`invalid_body`)", body = Problem),
    (status = 415, description = "Not `application/json` (`invalid_body`)", body = Problem),
    (status = 503, description = "The database could not answer", body = Problem),
))]
async fn update(
    State(state): State<AppState>,
    Auth(user): Auth,
    IdPath(id): IdPath,
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

/// Deletes a post: its author or an admin.
#[require_auth]
#[utoipa::path(delete, path = "/posts/{id}", tag = "posts", params(("id" = i64, Path, description = "The post's id")), responses(
    (status = 204, description = "Deleted"),
    (status = 400, description = "An id that is not a 64-bit integer (`invalid_path`)", body = Problem),
    (status = 403, description = "Neither the author nor an admin (`not_owner`), or no user (`not_a_user`)", body = Problem),
    (status = 404, description = "No such post (`not_found`)", body = Problem),
    (status = 503, description = "The database could not answer", body = Problem),
))]
async fn remove(
    State(state): State<AppState>,
    Auth(user): Auth,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    editable(&state, &user, id).await?;
    match state.posts.delete(id).await {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(ApiError::not_found("post", id)),
        Err(error) => Err(ApiError::unavailable(error)),
    }
}
