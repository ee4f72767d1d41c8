//! WHM API 1's answer: `{"data": …, "metadata": {…}}`, success or failure.

use serde_json::{json, Value};

use crate::ops::OpError;

/// Why a call failed, for the API's audience: a reason in the envelope, or
/// an internal fault whose cause goes only to the log.
#[derive(Debug)]
pub enum ApiError {
    Refused(String),
    Internal(anyhow::Error),
}

impl ApiError {
    pub fn refused(reason: impl Into<String>) -> Self {
        Self::Refused(reason.into())
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::Internal(cause) => Self::Internal(cause),
            other => Self::Refused(other.to_string()),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        Self::Internal(e)
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Internal(e.into())
    }
}

/// What a function returns: its `data` (absent for metadata-only answers).
pub type Outcome = Result<Option<Value>, ApiError>;

pub fn envelope(command: &str, outcome: Outcome, request_id: &str) -> Value {
    let (data, result, reason) = match outcome {
        Ok(data) => (data, 1, "OK".to_owned()),
        Err(ApiError::Refused(reason)) => (None, 0, reason),
        Err(ApiError::Internal(cause)) => {
            tracing::error!(request_id, command, error = ?cause, "API call failed");
            (
                None,
                0,
                format!("An internal error occurred; the server log has the details under request id {request_id}."),
            )
        }
    };
    let metadata = json!({
        "command": command,
        "reason": reason,
        "result": result,
        "version": 1,
    });
    match data {
        Some(data) => json!({ "data": data, "metadata": metadata }),
        None => json!({ "metadata": metadata }),
    }
}
