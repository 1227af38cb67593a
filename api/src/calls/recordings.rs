//! `GET /api/calls/{id}/recording` (and the seed's `/recordings/{id}.wav`): the call's
//! µ-law stereo WAV, with `Range` support, or `?format=pcm16` converted on the fly for
//! browsers that cannot play µ-law. Both are streamed in 64 KiB chunks and only the
//! range asked for is read and converted, so memory per download is bounded whatever
//! the recording's length. The file is found from the call id, never from a
//! name in the request, so no path can leave the recordings directory.

use std::collections::HashMap;
use std::io::SeekFrom;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::http::ApiError;
use crate::AppState;

/// The stored µ-law WAV's header (format 7 with a `fact` chunk).
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

/// What is served: the stored µ-law file as it is, or its 16-bit PCM form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Ulaw,
    Pcm16,
}

/// The PCM16 form's header: canonical 44-byte WAV, stereo 8 kHz 16-bit, for
/// `data_bytes` of samples.
const PCM16_HEADER_LEN: u64 = 44;

fn pcm16_header(data_bytes: u64) -> [u8; 44] {
    let data = u32::try_from(data_bytes).unwrap_or(u32::MAX);
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data.saturating_add(36).to_le_bytes());
    h[8..16].copy_from_slice(b"WAVEfmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&2u16.to_le_bytes()); // stereo
    h[24..28].copy_from_slice(&8000u32.to_le_bytes());
    h[28..32].copy_from_slice(&(8000u32 * 4).to_le_bytes()); // byte rate
    h[32..34].copy_from_slice(&4u16.to_le_bytes()); // block align
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

/// How long the served form of a stored file of `file_len` bytes is, and how many of
/// the stored data bytes it covers (whole stereo frames only: a recording still being
/// written may end mid-frame).
fn served_len(form: Form, file_len: u64) -> (u64, u64) {
    match form {
        Form::Ulaw => (file_len, file_len.saturating_sub(HEADER_LEN as u64)),
        Form::Pcm16 => {
            let data = file_len.saturating_sub(HEADER_LEN as u64);
            let data = data - data % 2;
            (PCM16_HEADER_LEN + 2 * data, data)
        }
    }
}

/// Bytes read from the file per chunk of the response.
const CHUNK: u64 = 64 * 1024;

/// The bytes `[start, end]` of the served form, read from the file one chunk at a
/// time: only the range asked for is read and converted, whatever the file's size.
fn stream(
    file: tokio::fs::File,
    form: Form,
    data: u64,
    start: u64,
    end: u64,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send {
    futures_util::stream::try_unfold((file, start), move |(mut file, pos)| async move {
        if pos > end {
            return Ok(None);
        }
        let last = pos.saturating_add(CHUNK - 1).min(end);
        let chunk = read_served(&mut file, form, data, pos, last).await?;
        Ok(Some((chunk, (file, last + 1))))
    })
}

/// The served bytes `[a, b]` (at most [`CHUNK`] of them) of a file whose data covers
/// `data` stored bytes.
async fn read_served(
    file: &mut tokio::fs::File,
    form: Form,
    data: u64,
    a: u64,
    b: u64,
) -> std::io::Result<bytes::Bytes> {
    let len = usize::try_from(b - a + 1).unwrap_or(0);
    if form == Form::Ulaw {
        file.seek(SeekFrom::Start(a)).await?;
        let mut buf = vec![0u8; len];
        file.read_exact(&mut buf).await?;
        return Ok(buf.into());
    }
    let mut out = Vec::with_capacity(len + 2);
    if a < PCM16_HEADER_LEN {
        let header = pcm16_header(2 * data);
        let to = usize::try_from(b.min(PCM16_HEADER_LEN - 1)).unwrap_or(0);
        out.extend_from_slice(&header[usize::try_from(a).unwrap_or(0)..=to]);
    }
    let first = a.max(PCM16_HEADER_LEN);
    if first <= b {
        // Output bytes `first..=b` are samples `(first-44)/2 ..= (b-44)/2` of the data.
        let (s0, s1) = ((first - PCM16_HEADER_LEN) / 2, (b - PCM16_HEADER_LEN) / 2);
        file.seek(SeekFrom::Start(HEADER_LEN as u64 + s0)).await?;
        let mut src = vec![0u8; usize::try_from(s1 - s0 + 1).unwrap_or(0)];
        file.read_exact(&mut src).await?;
        let skip = usize::try_from((first - PCM16_HEADER_LEN) % 2).unwrap_or(0);
        let take = usize::try_from(b - first + 1).unwrap_or(0);
        let pcm = src
            .iter()
            .flat_map(|u| agent5_bridge::g711::ulaw_to_linear(*u).to_le_bytes());
        out.extend(pcm.skip(skip).take(take));
    }
    Ok(out.into())
}

fn response(
    status: StatusCode,
    body: Body,
    len: u64,
    total: u64,
    range: Option<(u64, u64)>,
) -> Response {
    let mut res = Response::new(body);
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // A recording is personal data: no cache keeps a copy.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
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
    let form = match params.get("format").map(String::as_str) {
        None | Some("" | "ulaw" | "wav") => Form::Ulaw,
        Some("pcm16") => Form::Pcm16,
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
    let file = open(state, id).await?;
    let Some(file) = file else {
        return Err(ApiError::not_found(if call.recording.is_none() {
            "this call has no recording (yet)"
        } else {
            "the recording file is missing"
        }));
    };
    let missing = |e: std::io::Error| {
        tracing::warn!(call_id = id, error = %e, "recording file unreadable");
        ApiError::not_found("the recording file is missing")
    };
    let file_len = file.metadata().await.map_err(missing)?.len();
    let (total, data) = served_len(form, file_len);
    let (status, (start, end), range) = match range(headers, total) {
        Ok(None) if total == 0 => return Ok(response(StatusCode::OK, Body::empty(), 0, 0, None)),
        Ok(None) => (StatusCode::OK, (0, total - 1), None),
        Ok(Some(r)) => (StatusCode::PARTIAL_CONTENT, r, Some(r)),
        Err(()) => return Ok(unsatisfiable(total)),
    };
    let body = Body::from_stream(stream(file, form, data, start, end));
    Ok(response(status, body, end - start + 1, total, range))
}

/// The call's recording: this appliance's file (finished, or still being written),
/// else the copy another appliance stored (docs/cluster.md), else `None`.
async fn open(state: &AppState, id: &str) -> Result<Option<tokio::fs::File>, ApiError> {
    let path = state.recordings_dir.join(format!("{id}.wav"));
    match tokio::fs::File::open(&path).await {
        Ok(file) => return Ok(Some(file)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(call_id = id, error = %e, "recording file unreadable");
            return Err(ApiError::not_found("the recording file is missing"));
        }
    }
    Ok(crate::cluster::recordings::assemble(&state.store, &state.recordings_dir, id).await?)
}

/// `GET /api/calls/{id}/recording?format=pcm16`
pub async fn by_call(
    State(state): State<AppState>,
    Path(id): Path<String>,
    crate::http::Params(params): crate::http::Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    serve(&state, &id, &params, &headers).await
}

/// `GET /recordings/{id}.wav` (the seed's path).
pub async fn by_file(
    State(state): State<AppState>,
    Path(file): Path<String>,
    crate::http::Params(params): crate::http::Params,
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

    /// Everything the PCM16 form serves, read through the streaming path.
    async fn served(bytes: &[u8], form: Form, a: u64, b: u64) -> Vec<u8> {
        use futures_util::TryStreamExt;
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("r.wav");
        std::fs::write(&path, bytes).expect("write");
        let file = tokio::fs::File::open(&path).await.expect("open");
        let (_, data) = served_len(form, bytes.len() as u64);
        let chunks: Vec<bytes::Bytes> = stream(file, form, data, a, b)
            .try_collect()
            .await
            .expect("stream");
        chunks.concat()
    }

    #[tokio::test]
    async fn pcm16_conversion_keeps_frames() {
        let mut wav = vec![0u8; HEADER_LEN];
        wav.extend([0xFF, 0x00, 0x80, 0xFF, 0x12]); // a last half frame
        let (total, _) = served_len(Form::Pcm16, wav.len() as u64);
        assert_eq!(total, 44 + 8);
        let out = served(&wav, Form::Pcm16, 0, total - 1).await;
        let mut r = hound::WavReader::new(std::io::Cursor::new(out.clone())).expect("wav");
        assert_eq!(
            (
                r.spec().channels,
                r.spec().sample_rate,
                r.spec().bits_per_sample
            ),
            (2, 8000, 16)
        );
        let s: Vec<i16> = r.samples::<i16>().map(|x| x.expect("sample")).collect();
        assert_eq!(s, vec![0, -32_124, 32_124, 0]);
        // Every range, converted alone, is the same slice of the whole.
        for a in 0..total {
            for b in a..total {
                let part = served(&wav, Form::Pcm16, a, b).await;
                assert_eq!(part, out[a as usize..=b as usize], "{a}-{b}");
            }
        }
    }

    #[tokio::test]
    async fn long_ranges_come_in_chunks_that_add_up() {
        let mut wav = vec![0u8; HEADER_LEN];
        wav.extend((0..200_000u32).map(|i| (i % 251) as u8));
        let all = served(&wav, Form::Ulaw, 0, wav.len() as u64 - 1).await;
        assert_eq!(all, wav);
        let (total, _) = served_len(Form::Pcm16, wav.len() as u64);
        let whole = served(&wav, Form::Pcm16, 0, total - 1).await;
        assert_eq!(whole.len() as u64, total);
        let part = served(&wav, Form::Pcm16, 70_001, 300_000).await;
        assert_eq!(part, whole[70_001..=300_000]);
    }
}
