//! The seed's `controller/apiv1/auth.py`: the logic behind the guarded endpoints.

use std::sync::Mutex;

use authz_axum::Principal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Who is calling, as `GET /api/v1/me` shows it.
pub fn describe(principal: &Principal) -> Value {
    json!({
        "subject": principal.subject(),
        "roles": principal.roles().collect::<Vec<_>>(),
        "scopes": principal.scopes().collect::<Vec<_>>(),
    })
}

/// A new item.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewItem {
    /// Its name, 1 to 100 characters.
    pub name: String,
}

/// A stored item.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Item {
    /// Its id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// The subject that created it.
    pub owner: String,
}

/// The items, in memory.
#[derive(Debug, Default)]
pub struct Items(Mutex<Vec<Item>>);

impl Items {
    /// Stores a new item owned by `owner`.
    ///
    /// # Errors
    ///
    /// If the name is empty or longer than 100 characters (nothing is stored).
    pub fn create(&self, owner: &str, new: NewItem) -> Result<Item, &'static str> {
        let name = new.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err("name must be 1 to 100 characters");
        }
        let mut items = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let item = Item {
            id: items.len() as u64 + 1,
            name: name.to_owned(),
            owner: owner.to_owned(),
        };
        items.push(item.clone());
        Ok(item)
    }
}
