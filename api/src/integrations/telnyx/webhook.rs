//! `POST /api/telnyx/events` (also `/webhooks/telnyx`): verify, record durably, answer,
//! then process.
//!
//! The answer never waits for processing: the handler verifies the signature, reserves
//! a place in the processing queue of the event's call (503 `busy` when full, before
//! anything is written, so Telnyx retries), records the event id (group-committed with
//! concurrent deliveries), and answers 200. A duplicate delivery answers 200 and does
//! nothing. Events are processed by a few workers, each call always on the same worker,
//! so one call's events never race each other. A recorded event stays pending until its
//! worker processed it; a sweeper re-queues pending events after a crash or a failure.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use super::events::Event;
use crate::calls::Telephony;
use crate::http::ApiError;
use crate::model::{now_millis, NewWebhookEvent};
use crate::store::StoreResult;
use crate::AppState;

const WORKERS: usize = 4;
const QUEUE: usize = 4096;
const RECORD_BATCH: usize = 256;
/// The answer must reach Telnyx within 2 s.
const RECORD_DEADLINE: Duration = Duration::from_millis(1500);
const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// Pending events younger than this are probably still queued.
const SWEEP_MIN_AGE_MS: i64 = 10_000;

type RecordRequest = (NewWebhookEvent, oneshot::Sender<StoreResult<bool>>);

/// The recorder and the workers.
#[derive(Clone)]
pub struct Pipeline {
    record: mpsc::Sender<RecordRequest>,
    workers: Arc<Vec<mpsc::Sender<Event>>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pipeline")
    }
}

impl Pipeline {
    /// Starts the recorder, the workers and the sweeper on `runtime`.
    pub fn start(telephony: Arc<Telephony>, runtime: &tokio::runtime::Handle) -> Self {
        let (record, record_rx) = mpsc::channel(QUEUE);
        runtime.spawn(recorder(Arc::clone(&telephony), record_rx));
        let mut workers = Vec::with_capacity(WORKERS);
        for _ in 0..WORKERS {
            let (tx, rx) = mpsc::channel(QUEUE);
            runtime.spawn(worker(Arc::clone(&telephony), rx));
            workers.push(tx);
        }
        let pipeline = Self {
            record,
            workers: Arc::new(workers),
        };
        runtime.spawn(sweeper(telephony, pipeline.clone()));
        pipeline
    }

    /// Events of one call go to one worker: by our call id, else Telnyx's, else the event.
    fn worker_for(&self, event: &Event) -> &mpsc::Sender<Event> {
        let key = event
            .payload
            .our_call_id()
            .or_else(|| event.payload.call_control_id.clone())
            .unwrap_or_else(|| event.id.clone());
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let n = usize::try_from(h.finish() % WORKERS as u64).unwrap_or(0);
        &self.workers[n]
    }

    async fn record(&self, event: NewWebhookEvent) -> StoreResult<bool> {
        let (tx, rx) = oneshot::channel();
        let gone = || crate::store::StoreError::Unavailable("webhook recorder stopped".into());
        self.record.send((event, tx)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}

/// Writes queued records in batches: one transaction for every delivery that arrived
/// while the previous one was being written (group commit).
async fn recorder(t: Arc<Telephony>, mut rx: mpsc::Receiver<RecordRequest>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < RECORD_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let (events, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        match t.store.record_webhook_events(events).await {
            Ok(firsts) => {
                for (reply, first) in replies.into_iter().zip(firsts) {
                    let _ = reply.send(Ok(first));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Processes one worker's events in order, marking them processed in batches.
async fn worker(t: Arc<Telephony>, mut rx: mpsc::Receiver<Event>) {
    while let Some(first) = rx.recv().await {
        let mut done = Vec::new();
        let mut next = Some(first);
        while let Some(event) = next.take() {
            let started = std::time::Instant::now();
            match t.process(&event).await {
                Ok(()) => done.push(event.id.clone()),
                Err(e) => {
                    // Left pending: the sweeper brings it back.
                    tracing::warn!(event_id = %event.id, error = %e, "webhook processing failed");
                }
            }
            t.metrics
                .webhook_processing
                .observe(started.elapsed().as_secs_f64());
            if done.len() < 64 {
                next = rx.try_recv().ok();
            }
        }
        if let Err(e) = t.store.mark_webhook_events_processed(done).await {
            tracing::warn!(error = %e, "marking webhook events processed failed");
        }
    }
}

/// Re-queues pending events: at start-up (from before a crash) and then periodically
/// (events whose processing failed, or that were recorded after their answer timed out).
async fn sweeper(t: Arc<Telephony>, pipeline: Pipeline) {
    let mut first = true;
    loop {
        let before = if first {
            now_millis()
        } else {
            now_millis() - SWEEP_MIN_AGE_MS
        };
        first = false;
        match t.store.pending_webhook_events(before, 500).await {
            Ok(pending) => {
                if !pending.is_empty() {
                    tracing::info!(count = pending.len(), "re-queueing pending webhook events");
                }
                for p in pending {
                    match Event::parse(p.payload.as_bytes()) {
                        Ok(event) => {
                            if pipeline.worker_for(&event).send(event).await.is_err() {
                                return;
                            }
                        }
                        Err(_) => {
                            let _ = t
                                .store
                                .mark_webhook_events_processed(vec![p.event_id])
                                .await;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "listing pending webhook events failed"),
        }
        tokio::time::sleep(SWEEP_EVERY).await;
    }
}

fn refuse(status: u16, code: &'static str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

/// `POST /api/telnyx/events`
pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let t = &state.telephony;
    let m = &t.metrics;
    if t.settings.verify_signatures {
        if let Err(r) = t.verifier().verify(&headers, &body) {
            m.webhooks.with_label_values(&["rejected"]).inc();
            m.webhook_rejections.with_label_values(&[r.reason()]).inc();
            // Never the body or the signature: only why.
            tracing::warn!(
                reason = r.reason(),
                bytes = body.len(),
                "telnyx webhook refused"
            );
            return refuse(
                r.status(),
                r.reason(),
                "the webhook signature could not be verified",
            );
        }
    }
    let event = match Event::parse(&body) {
        Ok(e) => e,
        Err(e) => {
            m.webhooks.with_label_values(&["invalid"]).inc();
            return refuse(400, "invalid_event", &e.to_string());
        }
    };
    let Some(pipeline) = &state.webhooks else {
        return refuse(503, "not_ready", "webhook processing is not running");
    };
    let Ok(permit) = pipeline.worker_for(&event).try_reserve() else {
        m.webhooks.with_label_values(&["busy"]).inc();
        return refuse(503, "busy", "too many webhook events queued; retry");
    };
    let record = NewWebhookEvent {
        event_id: event.id.clone(),
        event_type: event.event_type.clone(),
        payload: String::from_utf8_lossy(&body).into_owned(),
    };
    match tokio::time::timeout(RECORD_DEADLINE, pipeline.record(record)).await {
        Ok(Ok(true)) => {
            permit.send(event);
            m.webhooks.with_label_values(&["accepted"]).inc();
            Json(json!({ "status": "accepted" })).into_response()
        }
        Ok(Ok(false)) => {
            m.webhooks.with_label_values(&["duplicate"]).inc();
            Json(json!({ "status": "duplicate" })).into_response()
        }
        Ok(Err(e)) => ApiError::from(e).into_response(),
        Err(_) => refuse(
            503,
            "store_timeout",
            "the event could not be recorded in time; retry",
        ),
    }
}
