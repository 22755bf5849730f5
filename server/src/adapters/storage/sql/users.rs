//! Dashboard and API users: `UserStore` over the `users` table.

use app::domain::user::{Role, User};
use app::ports::{Account, StoreError, UserStore};
use async_trait::async_trait;
use chrono::Utc;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};

use super::{SqlStore, backend, conflict_or_backend};

mod rows {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub username: String,
        pub password_hash: String,
        pub role: String,
        pub games: String,
        pub disabled: bool,
        pub created_at: DateTimeUtc,
        pub session_epoch: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

#[async_trait]
impl UserStore for SqlStore {
    async fn create(&self, user: &User, password_hash: &str) -> Result<(), StoreError> {
        let games =
            serde_json::to_string(&user.games).map_err(|e| StoreError::Backend(e.to_string()))?;
        let row = rows::ActiveModel {
            username: Set(user.username.clone()),
            password_hash: Set(password_hash.to_string()),
            role: Set(user.role.as_str().to_string()),
            games: Set(games),
            disabled: Set(user.disabled),
            created_at: Set(Utc::now()),
            session_epoch: Set(0),
            ..Default::default()
        };
        // Nothing read back: SQLite's RETURNING could answer NULL for a column added later
        // by `ALTER TABLE` (seen with `session_epoch`).
        rows::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await
            .map_err(|e| {
                conflict_or_backend(e, || format!("user {} already exists", user.username))
            })?;
        Ok(())
    }

    async fn account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        let Some(row) = rows::Entity::find()
            .filter(rows::Column::Username.eq(username))
            .one(&self.db)
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let (password_hash, session_epoch) = (row.password_hash.clone(), row.session_epoch);
        Ok(Some(Account {
            user: to_user(row)?,
            password_hash,
            session_epoch,
        }))
    }

    async fn count(&self) -> Result<u64, StoreError> {
        rows::Entity::find().count(&self.db).await.map_err(backend)
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        rows::Entity::find()
            .order_by_asc(rows::Column::Username)
            .all(&self.db)
            .await
            .map_err(backend)?
            .into_iter()
            .map(to_user)
            .collect()
    }

    async fn set_password(&self, username: &str, password_hash: &str) -> Result<(), StoreError> {
        self.update_user(username, rows::Column::PasswordHash, password_hash.into())
            .await
    }

    async fn set_disabled(&self, username: &str, disabled: bool) -> Result<(), StoreError> {
        let mut update =
            rows::Entity::update_many().col_expr(rows::Column::Disabled, disabled.into());
        if disabled {
            update = update.col_expr(rows::Column::SessionEpoch, next_epoch());
        }
        let result = update
            .filter(rows::Column::Username.eq(username))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        one_user(result.rows_affected, username)
    }

    async fn end_sessions(&self, username: &str) -> Result<(), StoreError> {
        self.update_user(username, rows::Column::SessionEpoch, next_epoch())
            .await
    }

    async fn update(&self, user: &User) -> Result<(), StoreError> {
        let games =
            serde_json::to_string(&user.games).map_err(|e| StoreError::Backend(e.to_string()))?;
        let result = rows::Entity::update_many()
            .col_expr(rows::Column::Role, user.role.as_str().into())
            .col_expr(rows::Column::Games, games.into())
            .filter(rows::Column::Username.eq(user.username.as_str()))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        one_user(result.rows_affected, &user.username)
    }

    async fn delete_user(&self, username: &str) -> Result<(), StoreError> {
        let result = rows::Entity::delete_many()
            .filter(rows::Column::Username.eq(username))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        one_user(result.rows_affected, username)
    }
}

impl SqlStore {
    /// Sets one column of one user; `NotFound` when there is no such user.
    async fn update_user(
        &self,
        username: &str,
        column: rows::Column,
        value: sea_orm::sea_query::SimpleExpr,
    ) -> Result<(), StoreError> {
        let result = rows::Entity::update_many()
            .col_expr(column, value)
            .filter(rows::Column::Username.eq(username))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        one_user(result.rows_affected, username)
    }
}

/// A change meant for the user `username`: touching no row means there is no such user.
fn one_user(rows_affected: u64, username: &str) -> Result<(), StoreError> {
    if rows_affected == 0 {
        return Err(user_not_found(username));
    }
    Ok(())
}

/// `session_epoch + 1`, computed by the database (two sign-outs at once both count).
fn next_epoch() -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::{Expr, ExprTrait};
    Expr::col(rows::Column::SessionEpoch).add(1)
}

fn user_not_found(username: &str) -> StoreError {
    StoreError::NotFound(format!("user {username}"))
}

fn to_user(row: rows::Model) -> Result<User, StoreError> {
    let role = Role::parse(&row.role).ok_or_else(|| {
        StoreError::Backend(format!(
            "user {} has unknown role {}",
            row.username, row.role
        ))
    })?;
    Ok(User {
        username: row.username,
        role,
        games: serde_json::from_str(&row.games).unwrap_or_default(),
        disabled: row.disabled,
    })
}
