//! `/api/*` to the api crate: Pingora's request becomes an `http::Request` whose body
//! streams from the client as the handler reads it; the handler's response streams
//! back. No socket, no loopback hop.

use axum::body::Body;
use bytes::Bytes;
use http::header::HeaderValue;
use pingora::protocols::http::ServerSession;
use tokio::sync::mpsc;
use tower::ServiceExt;

/// A body error the handler sees when the client misbehaves mid-upload.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request body larger than {0} bytes")]
    TooLarge(u64),
    #[error("reading the request body failed: {0}")]
    Read(String),
}

pub async fn dispatch(
    session: &mut ServerSession,
    router: &axum::Router,
    ctx: &crate::filters::Ctx,
) -> http::Response<Body> {
    let (request_id, limit) = (ctx.request_id.as_str(), ctx.body_limit);
    let head = session.req_header();
    let mut builder = http::Request::builder()
        .method(head.method.clone())
        .uri(head.uri.clone())
        .version(head.version);
    if let Some(headers) = builder.headers_mut() {
        headers.clone_from(&head.headers);
        if let Ok(v) = HeaderValue::from_str(request_id) {
            headers.insert(crate::filters::request_id::HEADER, v);
        }
    }
    let expects_body = !session.is_body_empty();
    let (body, tx) = if expects_body {
        let (tx, rx) = mpsc::channel::<Result<Bytes, BodyError>>(4);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        (Body::from_stream(stream), Some(tx))
    } else {
        (Body::empty(), None)
    };
    let request = match builder.body(body) {
        Ok(mut r) => {
            // Who the request acts as and where it came from, for the handlers and
            // the audit log: one extension.
            r.extensions_mut()
                .insert(agent5_api::accounts::principal::Caller {
                    principal: ctx.principal.clone(),
                    client_ip: ctx.client_ip,
                    tls: ctx.tls,
                });
            r
        }
        Err(e) => {
            tracing::warn!(error = %e, "request could not be converted");
            return super::respond::error(
                http::StatusCode::BAD_REQUEST,
                "bad_request",
                "malformed request",
            );
        }
    };
    let call = router.clone().oneshot(request);
    let response = match tx {
        None => call.await,
        Some(tx) => {
            let pump = pump(session, tx, limit);
            tokio::pin!(call, pump);
            tokio::select! {
                r = &mut call => r,
                () = &mut pump => call.await,
            }
        }
    };
    if !session.is_body_done() {
        // The handler answered without reading everything: don't reuse the connection.
        session.set_keepalive(None);
    }
    let response = match response {
        Ok(r) => r,
        Err(never) => match never {},
    };
    agent5_api::http::log_outcome(request_id, session.req_header().uri.path(), &response);
    response
}

async fn pump(session: &mut ServerSession, tx: mpsc::Sender<Result<Bytes, BodyError>>, limit: u64) {
    let mut seen: u64 = 0;
    loop {
        let item = match session.read_request_body().await {
            Ok(Some(chunk)) => {
                seen += chunk.len() as u64;
                if seen > limit {
                    Err(BodyError::TooLarge(limit))
                } else {
                    Ok(chunk)
                }
            }
            Ok(None) => return,
            Err(e) => Err(BodyError::Read(e.etype().as_str().to_owned())),
        };
        let stop = item.is_err();
        if tx.send(item).await.is_err() || stop {
            return;
        }
    }
}
