//! Slow senders: a client has `WHM_TOKENS_REQUEST_TIMEOUT` to send a
//! request's head (actix-web's `client_request_timeout`) and as long again
//! for its body, which is read here, in full, before any handler runs. One
//! that is slower is answered 408 and its connection closed, so connections
//! that trickle a body cannot pile up and use every file descriptor.

use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpResponse};
use futures_util::StreamExt;

/// The largest body any route takes (forms and API calls alike).
pub const MAX_BODY: usize = 256 * 1024;

/// How long a body may take; registered as app data by the server.
#[derive(Clone, Copy, Debug)]
pub struct BodyTimeout(pub Duration);

pub async fn read_body_in_time<B: MessageBody + 'static>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    let timeout = req.app_data::<BodyTimeout>().copied();
    let (true, Some(BodyTimeout(timeout))) = (has_body, timeout) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let mut payload = req.take_payload();
    let read = async {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk?;
            if body.len() + chunk.len() > MAX_BODY {
                return Ok::<_, Error>(None);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some(body.freeze()))
    };
    let refusal = match actix_web::rt::time::timeout(timeout, read).await {
        Ok(Ok(Some(body))) => {
            req.set_payload(Payload::from(body));
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_left_body);
        }
        Ok(Err(e)) => return Err(e),
        Ok(Ok(None)) => HttpResponse::PayloadTooLarge()
            .force_close()
            .content_type("text/plain")
            .body("The request body is too large."),
        Err(_) => {
            tracing::warn!(
                timeout_secs = timeout.as_secs(),
                "a request body came too slowly; the connection is closed"
            );
            HttpResponse::RequestTimeout()
                .force_close()
                .content_type("text/plain")
                .body("The request body came too slowly.")
        }
    };
    let (req, _) = req.into_parts();
    Ok(ServiceResponse::new(req, refusal).map_into_right_body())
}
