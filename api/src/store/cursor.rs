//! The list cursor every paginated query takes: the (time, id) of the last row of the previous
//! page, opaque to clients (URL-safe base64 of JSON). The HTTP layer decodes it from `?cursor=`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A decoded cursor: the (created_at, id) of the last row of the previous page.
#[derive(Debug, Serialize, Deserialize)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: String,
}

impl Cursor {
    pub fn encode(at: DateTime<Utc>, id: impl ToString) -> String {
        let c = Cursor {
            at,
            id: id.to_string(),
        };
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap_or_default())
    }

    /// `None` when `raw` is not a cursor this API produced.
    pub fn decode(raw: &str) -> Option<Cursor> {
        URL_SAFE_NO_PAD
            .decode(raw)
            .ok()
            .and_then(|b| serde_json::from_slice::<Cursor>(&b).ok())
    }
}
