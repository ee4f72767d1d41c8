//! What an API function's handler is given, and the helpers every handler
//! uses to read it.

use crate::ops::Actor;
use crate::state::AppState;
use crate::web::params::Params;

use super::envelope::ApiError;

/// What a handler is given.
pub struct Call<'a> {
    pub state: &'a AppState,
    pub actor: &'a Actor,
    pub params: &'a Params,
    pub context: &'a CallContext,
}

/// Where a call came from, for the answers that hand out links.
pub struct CallContext {
    pub base_url: String,
    pub request_id: String,
}

/// A required parameter, or the refusal that names it.
pub fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, ApiError> {
    params
        .get(name)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::refused(format!("The parameter “{name}” is required.")))
}
