//! `GET /api/calls/{id}/recording` (and the seed's `/recordings/{id}.wav`): the call's
//! µ-law stereo WAV, with `Range` support, or `?format=pcm16` converted on the fly for
//! browsers that cannot play µ-law. The file is found from the call id, never from a
//! name in the request, so no path can leave the recordings directory.

use std::collections::HashMap;
use std::io::SeekFrom;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header::{ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::{ApiError, AppState};

const HEADER_LEN: usize = 58;

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` against `len`: `Ok(None)` without a header,
/// `Err(())` when unsatisfiable or malformed (416).
fn range(headers: &HeaderMap, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(v) = headers.get(RANGE) else {
        return Ok(None);
    };
    let v = v.to_str().map_err(|_| ())?.trim();
    let spec = v.strip_prefix("bytes=").ok_or(())?;
    if spec.contains(',') {
        return Err(());
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (len.saturating_sub(n), len.saturating_sub(1))
        }
        (a, "") => (a.parse().map_err(|_| ())?, len.saturating_sub(1)),
        (a, b) => (
            a.parse().map_err(|_| ())?,
            b.parse::<u64>().map_err(|_| ())?.min(len.saturating_sub(1)),
        ),
    };
    if len == 0 || start > end || start >= len {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// The µ-law stereo WAV as 16-bit PCM stereo WAV.
fn to_pcm16(ulaw: &[u8]) -> Result<Vec<u8>, ApiError> {
    let data = ulaw.get(HEADER_LEN..).unwrap_or_default();
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = std::io::Cursor::new(Vec::with_capacity(44 + data.len() * 2));
    let fail = |e: hound::Error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "recording_unreadable",
            e.to_string(),
        )
    };
    let mut w = hound::WavWriter::new(&mut out, spec).map_err(fail)?;
    // Whole frames only (a recording still being written may end mid-frame).
    for b in &data[..data.len() - data.len() % 2] {
        w.write_sample(agent5_bridge::g711::ulaw_to_linear(*b))
            .map_err(fail)?;
    }
    w.finalize().map_err(fail)?;
    Ok(out.into_inner())
}

fn response(status: StatusCode, body: Vec<u8>, total: u64, range: Option<(u64, u64)>) -> Response {
    let len = body.len();
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
        h.insert(CONTENT_LENGTH, v);
    }
    if let Some((a, b)) = range {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {a}-{b}/{total}")) {
            h.insert(CONTENT_RANGE, v);
        }
    }
    res
}

fn unsatisfiable(total: u64) -> Response {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{total}")) {
        res.headers_mut().insert(CONTENT_RANGE, v);
    }
    res
}

async fn serve(
    state: &AppState,
    id: &str,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    if !valid_id(id) {
        return Err(ApiError::not_found("no such recording"));
    }
    let pcm16 = match params.get("format").map(String::as_str) {
        None | Some("" | "ulaw" | "wav") => false,
        Some("pcm16") => true,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                format!("format must be pcm16 or ulaw, not {other:?}"),
            )
            .with_field("format"))
        }
    };
    let call = state.store.get_call(id).await?;
    if call.recording.is_none() {
        return Err(ApiError::not_found("this call has no recording (yet)"));
    }
    let path = state.recordings_dir.join(format!("{id}.wav"));
    let missing = |e: std::io::Error| {
        tracing::warn!(call_id = id, error = %e, "recording file unreadable");
        ApiError::not_found("the recording file is missing")
    };
    if pcm16 {
        let bytes = tokio::fs::read(&path).await.map_err(missing)?;
        let converted = to_pcm16(&bytes)?;
        let total = converted.len() as u64;
        return Ok(match range(headers, total) {
            Ok(None) => response(StatusCode::OK, converted, total, None),
            Ok(Some((a, b))) => {
                let slice = converted
                    [usize::try_from(a).unwrap_or(0)..=usize::try_from(b).unwrap_or(0)]
                    .to_vec();
                response(StatusCode::PARTIAL_CONTENT, slice, total, Some((a, b)))
            }
            Err(()) => unsatisfiable(total),
        });
    }
    let mut file = tokio::fs::File::open(&path).await.map_err(missing)?;
    let total = file.metadata().await.map_err(missing)?.len();
    match range(headers, total) {
        Ok(None) => {
            let mut all = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
            file.read_to_end(&mut all).await.map_err(missing)?;
            Ok(response(StatusCode::OK, all, total, None))
        }
        Ok(Some((a, b))) => {
            file.seek(SeekFrom::Start(a)).await.map_err(missing)?;
            let mut part = vec![0u8; usize::try_from(b - a + 1).unwrap_or(0)];
            file.read_exact(&mut part).await.map_err(missing)?;
            Ok(response(
                StatusCode::PARTIAL_CONTENT,
                part,
                total,
                Some((a, b)),
            ))
        }
        Err(()) => Ok(unsatisfiable(total)),
    }
}

/// `GET /api/calls/{id}/recording?format=pcm16`
pub async fn by_call(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    serve(&state, &id, &params, &headers).await
}

/// `GET /recordings/{id}.wav` (the seed's path).
pub async fn by_file(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(id) = file.strip_suffix(".wav") else {
        return Err(ApiError::not_found("no such recording"));
    };
    serve(&state, id, &params, &headers).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(RANGE, HeaderValue::from_str(v).expect("value"));
        m
    }

    #[test]
    fn ranges() {
        assert_eq!(range(&HeaderMap::new(), 100), Ok(None));
        assert_eq!(range(&h("bytes=0-9"), 100), Ok(Some((0, 9))));
        assert_eq!(range(&h("bytes=90-"), 100), Ok(Some((90, 99))));
        assert_eq!(range(&h("bytes=-10"), 100), Ok(Some((90, 99))));
        assert_eq!(range(&h("bytes=50-500"), 100), Ok(Some((50, 99))));
        assert_eq!(range(&h("bytes=100-"), 100), Err(()));
        assert_eq!(range(&h("bytes=9-1"), 100), Err(()));
        assert_eq!(range(&h("bytes=0-1,5-6"), 100), Err(()));
        assert_eq!(range(&h("items=0-1"), 100), Err(()));
        assert!(valid_id("6b05194bc38f6a36f9f9a1f7"));
        assert!(!valid_id("../etc/passwd"));
        assert!(!valid_id(""));
    }

    #[test]
    fn pcm16_conversion_keeps_frames() {
        let mut wav = vec![0u8; HEADER_LEN];
        wav.extend([0xFF, 0x00, 0x80, 0xFF]);
        let out = to_pcm16(&wav).expect("convert");
        let mut r = hound::WavReader::new(std::io::Cursor::new(out)).expect("wav");
        assert_eq!(r.spec().channels, 2);
        let s: Vec<i16> = r.samples::<i16>().map(|x| x.expect("sample")).collect();
        assert_eq!(s, vec![0, -32_124, 32_124, 0]);
    }
}
