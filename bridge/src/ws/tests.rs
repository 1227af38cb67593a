//! `WsStream` against tungstenite's own implementation on the other end, and against
//! frames written byte by byte where tungstenite would not write them.

use futures_util::{SinkExt, StreamExt};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::WebSocketStream;

use super::frame::{self, apply_mask};
use super::WsStream;

const MAX: usize = 64 * 1024;

/// Ours as the server, tungstenite as the client, over a pipe of `pipe` bytes.
async fn server_and_client(pipe: usize) -> (WsStream<DuplexStream>, WebSocketStream<DuplexStream>) {
    let (a, b) = tokio::io::duplex(pipe);
    (
        WsStream::new(a, Role::Server, MAX, &[]),
        WebSocketStream::from_raw_socket(b, Role::Client, None).await,
    )
}

/// One frame as a client writes it (masked), with its first byte given whole.
fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0xA1, 0x02, 0x7F, 0xC3];
    let mut out = vec![b0];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key);
    out
}

/// Ours as the server with the raw end of the pipe.
fn raw_server() -> (WsStream<DuplexStream>, DuplexStream) {
    let (a, b) = tokio::io::duplex(1 << 20);
    (WsStream::new(a, Role::Server, MAX, &[]), b)
}

async fn next_error(ws: &mut WsStream<DuplexStream>) -> Error {
    match ws.next().await {
        Some(Err(e)) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn messages_cross_both_ways_through_a_narrow_pipe() {
    // Three bytes at a time: every header and payload arrives in pieces.
    let (mut server, mut client) = server_and_client(3).await;
    let sent = vec![
        Message::text("hello"),
        Message::binary(vec![0u8, 1, 2, 255]),
        Message::text(""),
        Message::text("x".repeat(40_000)),
        Message::text("after the big one"),
    ];
    let to_server = sent.clone();
    let writer = tokio::spawn(async move {
        for m in to_server {
            client.send(m).await.unwrap();
        }
        client
    });
    for m in &sent {
        assert_eq!(server.next().await.unwrap().unwrap(), *m);
    }
    let mut client = writer.await.unwrap();
    let to_client = sent.clone();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        for _ in 0..sent.len() {
            got.push(client.next().await.unwrap().unwrap());
        }
        (got, sent)
    });
    for m in to_client {
        server.feed(m).await.unwrap();
    }
    server.flush().await.unwrap();
    let (got, sent) = reader.await.unwrap();
    assert_eq!(got, sent);
}

#[tokio::test]
async fn as_the_client_it_masks_and_tungstenite_serves_it() {
    let (a, b) = tokio::io::duplex(64);
    let mut ours = WsStream::new(a, Role::Client, MAX, &[]);
    let mut theirs = WebSocketStream::from_raw_socket(b, Role::Server, None).await;
    ours.send(Message::text("to the server")).await.unwrap();
    assert_eq!(
        theirs.next().await.unwrap().unwrap(),
        Message::text("to the server")
    );
    theirs.send(Message::text("to the client")).await.unwrap();
    assert_eq!(
        ours.next().await.unwrap().unwrap(),
        Message::text("to the client")
    );
}

#[tokio::test]
async fn bytes_read_past_the_handshake_are_the_first_frames() {
    let (a, mut b) = tokio::io::duplex(1024);
    let mut first = Vec::new();
    frame::write_header(&mut first, frame::TEXT, 5, None);
    first.extend_from_slice(b"early");
    let mut ours = WsStream::new(a, Role::Client, MAX, &first);
    assert_eq!(ours.next().await.unwrap().unwrap(), Message::text("early"));
    drop(b.shutdown().await);
}

#[tokio::test]
async fn a_ping_is_answered_with_its_payload_and_also_reported() {
    let (mut server, mut client) = server_and_client(64).await;
    client
        .send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    client.send(Message::text("then this")).await.unwrap();
    assert_eq!(
        server.next().await.unwrap().unwrap(),
        Message::Ping(b"are you there".to_vec().into())
    );
    assert_eq!(
        server.next().await.unwrap().unwrap(),
        Message::text("then this")
    );
    // The pong went out while reading, before anything else was sent.
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        Message::Pong(b"are you there".to_vec().into())
    );
}

#[tokio::test]
async fn fragments_are_joined_around_control_frames() {
    let (mut server, mut raw) = raw_server();
    let mut bytes = client_frame(0x01, b"Hel"); // text, not final
    bytes.extend(client_frame(0x89, b"p")); // a ping between fragments
    bytes.extend(client_frame(0x00, b"lo, ")); // continuation
    bytes.extend(client_frame(0x80, "wörld".as_bytes())); // final continuation
    raw.write_all(&bytes).await.unwrap();
    assert_eq!(
        server.next().await.unwrap().unwrap(),
        Message::Ping(b"p".to_vec().into())
    );
    assert_eq!(
        server.next().await.unwrap().unwrap(),
        Message::text("Hello, wörld")
    );
    // The pong, unmasked as a server sends it.
    let mut pong = [0u8; 3];
    raw.read_exact(&mut pong).await.unwrap();
    assert_eq!(pong, [0x8A, 0x01, b'p']);
}

#[tokio::test]
async fn the_peer_closing_is_answered_with_its_code_and_ends_the_stream() {
    let (mut server, mut client) = server_and_client(64).await;
    client
        .close(Some(CloseFrame {
            code: CloseCode::Away,
            reason: "bye".into(),
        }))
        .await
        .unwrap();
    match server.next().await.unwrap().unwrap() {
        Message::Close(Some(c)) => {
            assert_eq!((c.code, c.reason.as_str()), (CloseCode::Away, "bye"))
        }
        other => panic!("{other:?}"),
    }
    assert!(server.next().await.is_none());
    match client.next().await.unwrap().unwrap() {
        Message::Close(Some(c)) => assert_eq!(c.code, CloseCode::Away),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        server.send(Message::text("late")).await,
        Err(Error::AlreadyClosed)
    ));
}

#[tokio::test]
async fn closing_first_waits_for_the_answer_and_refuses_to_send_after() {
    let (mut server, mut client) = server_and_client(64).await;
    server
        .close(Some(CloseFrame {
            code: CloseCode::Policy,
            reason: "unauthorized".into(),
        }))
        .await
        .unwrap();
    assert!(matches!(
        server.send(Message::text("late")).await,
        Err(Error::Protocol(ProtocolError::SendAfterClosing))
    ));
    match client.next().await.unwrap().unwrap() {
        Message::Close(Some(c)) => {
            assert_eq!(
                (c.code, c.reason.as_str()),
                (CloseCode::Policy, "unauthorized")
            )
        }
        other => panic!("{other:?}"),
    }
    // tungstenite queued its answer while reading; a flush sends it.
    let _ = client.flush().await;
    assert!(matches!(
        server.next().await.unwrap().unwrap(),
        Message::Close(Some(_))
    ));
    assert!(server.next().await.is_none());
}

#[tokio::test]
async fn a_close_with_a_reserved_code_is_answered_as_a_protocol_error() {
    let (mut server, mut raw) = raw_server();
    raw.write_all(&client_frame(0x88, &1005u16.to_be_bytes()))
        .await
        .unwrap();
    assert!(matches!(
        server.next().await.unwrap().unwrap(),
        Message::Close(Some(c)) if c.code == CloseCode::Protocol
    ));
    assert!(server.next().await.is_none());
    let mut answer = [0u8; 4];
    raw.read_exact(&mut answer).await.unwrap();
    assert_eq!(answer[..2], [0x88, 20]);
    assert_eq!(u16::from_be_bytes([answer[2], answer[3]]), 1002);
}

#[tokio::test]
async fn a_long_close_reason_is_cut_at_a_character_boundary() {
    let (mut server, mut client) = server_and_client(1024).await;
    let reason = "é".repeat(100); // 200 bytes
    server
        .close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: reason.into(),
        }))
        .await
        .unwrap();
    match client.next().await.unwrap().unwrap() {
        Message::Close(Some(c)) => assert_eq!(c.reason.as_str(), "é".repeat(61)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_end_of_the_socket_without_a_close_is_an_error_once() {
    let (mut server, raw) = raw_server();
    drop(raw);
    assert!(matches!(
        next_error(&mut server).await,
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)
    ));
    assert!(server.next().await.is_none());
}

#[tokio::test]
async fn a_frame_too_long_is_refused_by_its_header_alone() {
    let (mut server, mut raw) = raw_server();
    // Only the header of a frame one byte over the limit: nothing else ever comes.
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(MAX as u64 + 1).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    raw.write_all(&header).await.unwrap();
    assert!(matches!(
        next_error(&mut server).await,
        Error::Capacity(CapacityError::MessageTooLong { size, max_size: MAX }) if size == MAX + 1
    ));
}

#[tokio::test]
async fn fragments_adding_up_past_the_limit_are_refused() {
    let (mut server, mut raw) = raw_server();
    let half = vec![b'a'; MAX / 2 + 1];
    let mut bytes = Vec::new();
    for b0 in [0x01, 0x80] {
        let mut f = vec![b0, 0x80 | 126];
        f.extend_from_slice(&(half.len() as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0]);
        f.extend_from_slice(&half);
        bytes.extend(f);
    }
    raw.write_all(&bytes).await.unwrap();
    assert!(matches!(
        next_error(&mut server).await,
        Error::Capacity(CapacityError::MessageTooLong { .. })
    ));
}

#[tokio::test]
async fn protocol_violations_are_errors_that_end_the_stream() {
    type Expected = fn(&Error) -> bool;
    let cases: Vec<(Vec<u8>, Expected)> = vec![
        (
            vec![0x81, 0x02, b'h', b'i'], // unmasked from a client
            |e| matches!(e, Error::Protocol(ProtocolError::UnmaskedFrameFromClient)),
        ),
        (client_frame(0xC1, b"x"), |e| {
            matches!(e, Error::Protocol(ProtocolError::NonZeroReservedBits))
        }),
        (client_frame(0x09, b""), |e| {
            matches!(e, Error::Protocol(ProtocolError::FragmentedControlFrame))
        }),
        (client_frame(0x89, &[0; 126]), |e| {
            matches!(e, Error::Protocol(ProtocolError::ControlFrameTooBig))
        }),
        (client_frame(0x8B, b""), |e| {
            matches!(
                e,
                Error::Protocol(ProtocolError::UnknownControlFrameType(0xB))
            )
        }),
        (client_frame(0x83, b""), |e| {
            matches!(e, Error::Protocol(ProtocolError::UnknownDataFrameType(3)))
        }),
        (client_frame(0x80, b"x"), |e| {
            matches!(e, Error::Protocol(ProtocolError::UnexpectedContinueFrame))
        }),
        (
            [client_frame(0x01, b"a"), client_frame(0x82, b"b")].concat(),
            |e| {
                matches!(
                    e,
                    Error::Protocol(ProtocolError::ExpectedFragment(Data::Binary))
                )
            },
        ),
        (client_frame(0x81, &[0xC3, 0x28]), |e| {
            matches!(e, Error::Utf8(_))
        }),
        (client_frame(0x88, &[0x03]), |e| {
            matches!(e, Error::Protocol(ProtocolError::InvalidCloseSequence))
        }),
    ];
    for (i, (bytes, expected)) in cases.into_iter().enumerate() {
        let (mut server, mut raw) = raw_server();
        raw.write_all(&bytes).await.unwrap();
        let e = next_error(&mut server).await;
        assert!(expected(&e), "case {i}: {e:?}");
        assert!(server.next().await.is_none(), "case {i}: the stream ended");
    }
}

#[tokio::test]
async fn a_client_refuses_a_masked_frame_from_the_server() {
    let (a, mut raw) = tokio::io::duplex(1024);
    let mut ours = WsStream::new(a, Role::Client, MAX, &[]);
    raw.write_all(&client_frame(0x81, b"x")).await.unwrap();
    assert!(matches!(
        ours.next().await,
        Some(Err(Error::Protocol(ProtocolError::MaskedFrameFromServer)))
    ));
}

#[tokio::test]
async fn a_flood_of_pings_leaves_one_answer_waiting() {
    // The pipe is too narrow for the answers while nobody reads the other end.
    let (a, mut raw) = tokio::io::duplex(8);
    let mut server = WsStream::new(a, Role::Server, MAX, &[]);
    let mut pings = Vec::new();
    for i in 0..200u8 {
        pings.extend(client_frame(0x89, &[i; 100]));
    }
    pings.extend(client_frame(0x81, b"end"));
    let writer = tokio::spawn(async move {
        raw.write_all(&pings).await.unwrap();
        raw
    });
    let mut seen = 0;
    loop {
        match server.next().await.unwrap().unwrap() {
            Message::Ping(_) => seen += 1,
            Message::Text(t) => {
                assert_eq!(t.as_str(), "end");
                break;
            }
            other => panic!("{other:?}"),
        }
        // At most one answer waits: a pong's header (2 bytes) and its 100-byte payload.
        assert!(server.waiting() <= 2 + 100);
    }
    assert_eq!(seen, 200);
    drop(writer.await.unwrap());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever arrives, the stream yields messages and at most one error, then ends.
    #[test]
    fn any_bytes_from_a_client_end_the_stream_without_a_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        masked_prefix in any::<bool>(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (mut server, mut raw) = raw_server();
            // Half the cases start with a valid frame, so the rest is read as a second.
            if masked_prefix {
                raw.write_all(&client_frame(0x81, b"ok")).await.unwrap();
            }
            raw.write_all(&bytes).await.unwrap();
            drop(raw);
            let mut errors = 0;
            while let Some(m) = server.next().await {
                if m.is_err() {
                    errors += 1;
                }
            }
            prop_assert!(errors <= 1);
            Ok(())
        })?;
    }

    /// Messages cut into fragments of any sizes and written in chunks of any sizes
    /// arrive whole, in order.
    #[test]
    fn fragmented_messages_in_any_chunks_arrive_whole(
        messages in proptest::collection::vec(
            (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300), 1usize..50),
            1..8,
        ),
        chunk in 1usize..64,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (mut server, mut raw) = raw_server();
            let mut bytes = Vec::new();
            let mut expected = Vec::new();
            for (text, payload, piece) in &messages {
                let payload = if *text {
                    String::from_utf8_lossy(payload).into_owned().into_bytes()
                } else {
                    payload.clone()
                };
                let pieces: Vec<&[u8]> = if payload.is_empty() {
                    vec![&[]]
                } else {
                    payload.chunks(*piece).collect()
                };
                for (i, p) in pieces.iter().enumerate() {
                    let op = if i == 0 { if *text { 1 } else { 2 } } else { 0 };
                    let fin = if i + 1 == pieces.len() { 0x80 } else { 0 };
                    bytes.extend(client_frame(fin | op, p));
                }
                expected.push(if *text {
                    Message::text(String::from_utf8(payload).unwrap())
                } else {
                    Message::binary(payload)
                });
            }
            let writer = tokio::spawn(async move {
                for c in bytes.chunks(chunk) {
                    raw.write_all(c).await.unwrap();
                }
                raw
            });
            for m in expected {
                prop_assert_eq!(server.next().await.unwrap().unwrap(), m);
            }
            drop(writer.await.unwrap());
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn the_handshake_hands_over_to_ws_stream_on_both_sides() {
    let (a, b) = tokio::io::duplex(1024);
    let server = tokio::spawn(async move {
        let mut ws = super::accept(a, MAX).await.unwrap();
        let m = ws.next().await.unwrap().unwrap();
        ws.send(m).await.unwrap();
        ws
    });
    let (mut client, response) = super::client("ws://agent5.test/x", b, MAX).await.unwrap();
    assert_eq!(response.status(), 101);
    client.send(Message::text("echo me")).await.unwrap();
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        Message::text("echo me")
    );
    drop(server.await.unwrap());
}

#[tokio::test]
async fn a_long_frame_claimed_by_its_header_grows_the_buffer_only_with_what_arrives() {
    use futures_util::FutureExt;
    let (mut server, mut raw) = raw_server();
    let mut bytes = vec![0x82, 0x80 | 126];
    bytes.extend_from_slice(&60_000u16.to_be_bytes());
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    bytes.extend_from_slice(&[7; 10]);
    raw.write_all(&bytes).await.unwrap();
    assert!(
        server.next().now_or_never().is_none(),
        "the frame is incomplete"
    );
    assert!(
        server.inb.len() <= 2 * super::READ_START,
        "{} bytes held for 18 received",
        server.inb.len()
    );
    // The rest arrives: the frame is whole.
    raw.write_all(&[7; 59_990]).await.unwrap();
    assert_eq!(
        server.next().await.unwrap().unwrap(),
        Message::binary(vec![7u8; 60_000])
    );
}
