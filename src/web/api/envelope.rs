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
/// as a tree in memory, nor (past a size) as one buffer.
pub enum Data {
    Written(Vec<u8>),
    /// Pieces that together are the JSON, written as the answer is sent:
    /// an error ends the answer there (its metadata, which comes last,
    /// never arrives, so no client takes a cut list for a whole one).
    Streamed(Chunks),
}

/// The pieces of a streamed answer, a few at a time: the writer waits
/// while the client reads. The writer sends [`Piece::End`] when it has
/// written everything: an answer whose writer stopped without it (it cut
/// off a client that read nothing for a long time) is cut there, as an
/// error ends it.
pub type Chunks = tokio::sync::mpsc::Receiver<Result<Piece, ApiError>>;

/// What a streamed answer's writer sends.
pub enum Piece {
    Bytes(Vec<u8>),
    End,
}

/// The next bytes of a streamed answer: `None` after [`Piece::End`], an
/// error where the writer failed or stopped without it.
pub async fn next_bytes(chunks: &mut Chunks) -> Option<Result<Vec<u8>, ApiError>> {
    match chunks.recv().await {
        Some(Ok(Piece::Bytes(bytes))) => Some(Ok(bytes)),
        Some(Ok(Piece::End)) => None,
        Some(Err(e)) => Some(Err(e)),
        None => Some(Err(ApiError::Unavailable(
            "the answer was cut off before its end".into(),
        ))),
    }
}

impl Data {
    pub fn json(value: &impl Serialize) -> Result<Self, ApiError> {
        Ok(Self::Written(
            serde_json::to_vec(value).map_err(anyhow::Error::from)?,
        ))
    }

    /// JSON written by the caller (who knows it is valid).
    pub fn written(json: Vec<u8>) -> Self {
        Self::Written(json)
    }
}

/// An answer's bytes: in one piece, or streamed between a head and a tail.
pub enum Body {
    Whole(Vec<u8>),
    Streamed {
        head: Vec<u8>,
        chunks: Chunks,
        tail: Vec<u8>,
    },
}

impl Body {
    /// Every byte, waiting for a streamed body's pieces (the `api`
    /// command, tests).
    pub async fn collect(self) -> Result<Vec<u8>, ApiError> {
        match self {
            Self::Whole(bytes) => Ok(bytes),
            Self::Streamed {
                mut head,
                mut chunks,
                tail,
            } => {
                while let Some(chunk) = next_bytes(&mut chunks).await {
                    head.extend_from_slice(&chunk?);
                }
                head.extend_from_slice(&tail);
                Ok(head)
            }
        }
    }
}

/// What a function returns: its `data` (absent for metadata-only answers).
pub type Outcome = Result<Option<Data>, ApiError>;

/// A whole answer: the HTTP status, `metadata.result`, and the JSON body.
pub struct Answer {
    pub status: StatusCode,
    pub result: u8,
    pub body: Body,
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
    let mut tail = Vec::with_capacity(96);
    let body = match data {
        None => {
            tail.push(b'{');
            None
        }
        Some(Data::Written(mut written)) => {
            // In place: no second copy of a large answer.
            written.splice(0..0, DATA.iter().copied());
            written.push(b',');
            Some(written)
        }
        Some(Data::Streamed(chunks)) => {
            tail.push(b',');
            write_metadata(&mut tail, &metadata);
            return Answer {
                status,
                result,
                body: Body::Streamed {
                    head: DATA.to_vec(),
                    chunks,
                    tail,
                },
            };
        }
    };
    let mut whole = body.unwrap_or(tail);
    write_metadata(&mut whole, &metadata);
    Answer {
        status,
        result,
        body: Body::Whole(whole),
    }
}

/// `"metadata":{…}}`: the envelope's end.
fn write_metadata(out: &mut Vec<u8>, metadata: &Metadata) {
    out.extend_from_slice(b"\"metadata\":");
    serde_json::to_writer(&mut *out, metadata).expect("metadata serialises");
    out.push(b'}');
}

/// WHM API 0's answer: the function's data bare, without an envelope.
pub fn api0(outcome: Outcome, function: &str) -> Answer {
    match outcome {
        // API 0 answers only `applist` and `version`, never streamed.
        Ok(None | Some(Data::Streamed(_))) => Answer {
            status: StatusCode::OK,
            result: 1,
            body: Body::Whole(b"{}".to_vec()),
        },
        Ok(Some(Data::Written(bytes))) => Answer {
            status: StatusCode::OK,
            result: 1,
            body: Body::Whole(bytes),
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
        body: Body::Whole(
            serde_json::to_vec(&serde_json::json!({ "status": 0, "statusmsg": reason }))
                .expect("a refusal serialises"),
        ),
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
        let Body::Whole(body) = a.body else {
            panic!("written data is one piece")
        };
        let parsed: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed["data"], tree);
        assert_eq!(parsed["metadata"]["result"], 1);
        assert_eq!(parsed["metadata"]["reason"], "OK");
        assert_eq!(
            serde_json::to_string(&parsed).unwrap().as_bytes(),
            &body[..],
            "the same bytes as serde_json writes the whole tree"
        );
    }

    #[test]
    fn unavailable_is_503_in_the_envelope() {
        let a = envelope("version", Err(ApiError::Unavailable("busy".into())), "r");
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(a.result, 0);
        let Body::Whole(body) = a.body else {
            panic!("a refusal is one piece")
        };
        let parsed: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed["metadata"]["reason"], "busy");
        assert!(parsed.get("data").is_none());
    }
}
