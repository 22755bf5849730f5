//! Users (administrators only, reads included): list, read, create, change, delete. The rules
//! are `services::users`', shared with the dashboard's Users page. Passwords go in, never out.

use app::domain::user::{Role, User};
use app::services::users::{NewUser, UserChange};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::json::Body;
use app::domain::validation::FieldError;

/// What `GET /users` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<User>,
}

/// One user (never with its password).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub user: User,
}

/// A user to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    /// 1-64 letters, digits, '.', '_' or '-'.
    #[schema(example = "ann")]
    pub username: Option<String>,
    /// At least 8 characters.
    #[schema(format = Password)]
    pub password: Option<String>,
    pub role: Option<Role>,
    /// The games an editor changes, or a viewer reads.
    #[serde(default)]
    pub games: Vec<String>,
}

/// What to change about a user: any of these, at least one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub role: Option<Role>,
    /// A new password: the user's sessions end.
    #[schema(format = Password)]
    pub password: Option<String>,
    /// Replaces the games listed on the user.
    pub games: Option<Vec<String>>,
    /// A disabled user cannot sign in or call the API.
    pub disabled: Option<bool>,
}

/// List users, by username.
#[utoipa::path(get, path = "/users", tag = "users",
    responses((status = 200, body = UserList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<UserList>, ApiError> {
    let users = state.users.list(&user.0).await?;
    Ok(Json(UserList { users }))
}

/// Get a user.
#[utoipa::path(get, path = "/users/{name}", params(("name" = String, Path)), tag = "users",
    responses((status = 200, body = UserResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
) -> Result<Json<UserResponse>, ApiError> {
    let found = state.users.get(&user.0, &name).await?;
    Ok(Json(UserResponse { user: found }))
}

/// Create a user (enabled). Answers the user, without its password.
#[utoipa::path(post, path = "/users", request_body = NewUserBody, tag = "users",
    responses((status = 201, body = UserResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the username is taken")))]
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    Body(body): Body<NewUserBody>,
) -> Result<(StatusCode, Json<UserResponse>), ApiError> {
    let mut missing = Vec::new();
    for (field, present) in [
        ("username", body.username.is_some()),
        ("password", body.password.is_some()),
        ("role", body.role.is_some()),
    ] {
        if !present {
            missing.push(FieldError {
                field: field.to_string(),
                message: "is required".to_string(),
            });
        }
    }
    let (Some(username), Some(password), Some(role)) = (body.username, body.password, body.role)
    else {
        return Err(ApiError::Invalid(missing));
    };
    let new = NewUser {
        username,
        password,
        role,
        games: body.games,
    };
    let created = state.users.create(&user.0, new).await?;
    Ok((StatusCode::CREATED, Json(UserResponse { user: created })))
}

/// Change a user's role, games, password or status. Administrators cannot demote, disable or
/// delete themselves, nor the last enabled administrator (409).
#[utoipa::path(patch, path = "/users/{name}", params(("name" = String, Path)),
    request_body = UserPatch, tag = "users",
    responses((status = 200, body = UserResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the last enabled administrator")))]
pub async fn patch(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
    Body(body): Body<UserPatch>,
) -> Result<Json<UserResponse>, ApiError> {
    let change = UserChange {
        role: body.role,
        games: body.games,
        password: body.password,
        disabled: body.disabled,
    };
    let changed = state.users.change(&user.0, &name, change).await?;
    Ok(Json(UserResponse { user: changed }))
}

/// Delete a user; its sessions end.
#[utoipa::path(delete, path = "/users/{name}", params(("name" = String, Path)), tag = "users",
    responses((status = 204, description = "deleted"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the last enabled administrator")))]
pub async fn delete(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.users.delete(&user.0, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
