//! WHM API 1's answer: `{"data": …, "metadata": {…}}`, success or failure.

use actix_web::http::StatusCode;
use serde::Serialize;

use crate::auth::password::{Busy, PasswordError};
use crate::db::Unavailable;
use crate::ops::OpError;

/// Why a call failed, for the API's audience: a reason in the envelope, or
/// an internal fault whose cause goes only to the log.
#[derive(Debug)]
pub enum ApiError {
    Refused(String),
    /// The server cannot take the call now (database unreachable, password
    /// workers full): HTTP 503 with the envelope and a reason.
    Unavailable(String),
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
            OpError::Internal(cause) => Self::from(cause),
            other => Self::Refused(other.to_string()),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        if e.is::<Unavailable>() {
            Self::Unavailable(crate::web::context::UNAVAILABLE.to_owned())
        } else {
            Self::Internal(e)
        }
    }
}

impl From<Busy> for ApiError {
    fn from(e: Busy) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<PasswordError> for ApiError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::Busy(busy) => busy.into(),
            PasswordError::Internal(cause) => cause.into(),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Internal(e.into())
    }
}

/// A function's `data`, already written as JSON: answers are written
/// straight from typed structs, and a long `api_token_list` never exists
/// as a tree in memory.
pub struct Data(Vec<u8>);

impl Data {
    pub fn json(value: &impl Serialize) -> Result<Self, ApiError> {
        Ok(Self(
            serde_json::to_vec(value).map_err(anyhow::Error::from)?,
        ))
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// JSON written by the caller (who knows it is valid).
    pub fn written(json: Vec<u8>) -> Self {
        Self(json)
    }
}

/// What a function returns: its `data` (absent for metadata-only answers).
pub type Outcome = Result<Option<Data>, ApiError>;

/// A whole answer: the HTTP status, `metadata.result`, and the JSON body.
pub struct Answer {
    pub status: StatusCode,
    pub result: u8,
    pub body: Vec<u8>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    command: &'a str,
    reason: &'a str,
    result: u8,
    version: u8,
}

/// The envelope and the HTTP status it goes with: 200, even for refusals,
/// as WHM does, but 503 when the server cannot take calls now. Keys come in
/// sorted order, as serde_json writes a map.
pub fn envelope(command: &str, outcome: Outcome, request_id: &str) -> Answer {
    let status = match &outcome {
        Err(ApiError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    };
    let (data, result, reason) = match outcome {
        Ok(data) => (data, 1, "OK".to_owned()),
        Err(ApiError::Refused(reason) | ApiError::Unavailable(reason)) => (None, 0, reason),
        Err(ApiError::Internal(cause)) => {
            tracing::error!(command, error = ?cause, "API call failed");
            (
                None,
                0,
                format!("An internal error occurred; the server log has the details under request id {request_id}."),
            )
        }
    };
    let metadata = Metadata {
        command,
        reason: &reason,
        result,
        version: 1,
    };
    const DATA: &[u8] = b"{\"data\":";
    let mut body = match data {
        None => b"{".to_vec(),
        Some(Data(mut written)) => {
            // In place: no second copy of a large answer.
            written.splice(0..0, DATA.iter().copied());
            written.push(b',');
            written
        }
    };
    body.extend_from_slice(b"\"metadata\":");
    serde_json::to_writer(&mut body, &metadata).expect("metadata serialises");
    body.push(b'}');
    Answer {
        status,
        result,
        body,
    }
}

/// WHM API 0's answer: the function's data bare, without an envelope.
pub fn api0(outcome: Outcome, function: &str) -> Answer {
    match outcome {
        Ok(data) => Answer {
            status: StatusCode::OK,
            result: 1,
            body: data.map_or_else(|| b"{}".to_vec(), Data::into_bytes),
        },
        Err(e) => api0_refusal(function, e),
    }
}

/// API 0's refusal: `{"status": 0, "statusmsg": …}`.
pub fn api0_refusal(function: &str, e: ApiError) -> Answer {
    let (status, reason) = match e {
        ApiError::Refused(reason) => (StatusCode::OK, reason),
        ApiError::Unavailable(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason),
        ApiError::Internal(cause) => {
            tracing::error!(command = function, error = ?cause, "API 0 call failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "An internal error occurred.".to_owned(),
            )
        }
    };
    Answer {
        status,
        result: 0,
        body: serde_json::to_vec(&serde_json::json!({ "status": 0, "statusmsg": reason }))
            .expect("a refusal serialises"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn the_envelope_is_what_serde_json_writes_for_the_whole_tree() {
        let tree = json!({ "b": [1, null], "a": "x" });
        let a = envelope("f", Ok(Some(Data::json(&tree).unwrap())), "r");
        let parsed: Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(parsed["data"], tree);
        assert_eq!(parsed["metadata"]["result"], 1);
        assert_eq!(parsed["metadata"]["reason"], "OK");
        assert_eq!(
            serde_json::to_string(&parsed).unwrap().as_bytes(),
            &a.body[..],
            "the same bytes as serde_json writes the whole tree"
        );
    }

    #[test]
    fn unavailable_is_503_in_the_envelope() {
        let a = envelope("version", Err(ApiError::Unavailable("busy".into())), "r");
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(a.result, 0);
        let parsed: Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(parsed["metadata"]["reason"], "busy");
        assert!(parsed.get("data").is_none());
    }
}
