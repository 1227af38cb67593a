//! A WebSocket connection after its handshake: RFC 6455 framing over any tokio stream,
//! with tungstenite's `Message` and error types, as a `Stream` of messages and a `Sink`
//! for them (what `tokio_tungstenite::WebSocketStream` offers, and behaving as it does:
//! automatic pongs and close replies, the close handshake's states, the same errors).
//!
//! Why not tungstenite's own: a call is 50 small frames a second each way, and per
//! frame tungstenite zeroed its read chunk before every read (also the reads that found
//! nothing), went through `std::io` adapters that register wakers by proxy, and framed
//! each write through its own copies. Here reads go straight into a buffer initialised
//! once, frames are parsed and unmasked in place, and writes are framed into one buffer
//! that goes out in one call.

mod frame;
mod handshake;
#[cfg(test)]
mod tests;

pub use handshake::{accept, client};

use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::{Error, Message, Utf8Bytes};

use frame::Header;

/// A read buffer starts this large (a media frame is a few hundred bytes) and grows
/// only for a frame that does not fit; it goes back to this size once empty.
const READ_START: usize = crate::SOCKET_READ_CHUNK;

/// Buffers larger than this are given back once empty.
const SHRINK_ABOVE: usize = 64 * 1024;

/// `poll_ready` waits for the socket while more than this waits to be written.
const WRITE_HIGH_WATER: usize = 128 * 1024;

/// Where the close handshake is (RFC 6455 section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    /// We sent a close frame and wait for the peer's.
    ClosedByUs,
    /// The peer sent one; ours answers it.
    ClosedByPeer,
    /// Both were sent.
    CloseAcknowledged,
    /// The connection is over.
    Terminated,
}

impl State {
    fn can_read(self) -> bool {
        matches!(self, State::Active | State::ClosedByUs)
    }
}

/// A message arriving in fragments.
struct Partial {
    text: bool,
    data: Vec<u8>,
}

/// What one look at the read buffer found.
enum Step {
    /// The frame there needs this many bytes from the buffer's start.
    Need(usize),
    /// A frame was taken that is not a message by itself (a fragment, a repeated close).
    Taken,
    Message(Message),
}

pub struct WsStream<S> {
    io: S,
    role: Role,
    /// The longest frame and the longest message taken.
    max_message: usize,
    /// Bytes read and not yet taken are `inb[head..tail]`; all of `inb` is initialised.
    inb: Vec<u8>,
    head: usize,
    tail: usize,
    partial: Option<Partial>,
    /// Frames to write are `out[out_pos..]`.
    out: Vec<u8>,
    out_pos: usize,
    /// The answer to the last ping, written with the next write (a newer ping replaces
    /// it, as tungstenite does, so pings cannot pile answers up).
    pong: Option<Bytes>,
    state: State,
    /// The stream has reported its end (or an error) and yields nothing more.
    ended: bool,
}

impl<S> WsStream<S> {
    /// The connection on `io` just after its handshake; `leftover`: bytes read past the
    /// handshake (the first frames).
    pub fn new(io: S, role: Role, max_message: usize, leftover: &[u8]) -> Self {
        let mut inb = vec![0; READ_START.max(leftover.len())];
        inb[..leftover.len()].copy_from_slice(leftover);
        Self {
            io,
            role,
            max_message,
            tail: leftover.len(),
            inb,
            head: 0,
            partial: None,
            out: Vec::new(),
            out_pos: 0,
            pong: None,
            state: State::Active,
            ended: false,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.io
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// Looks at the bytes read: the next message, or what is missing.
    fn step(&mut self) -> Result<Step, Error> {
        let buffered = self.tail - self.head;
        let header = match Header::parse(&self.inb[self.head..self.tail]) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(Step::Need(buffered + 1)),
            Err(()) => return Err(self.too_long(usize::MAX)),
        };
        // The header alone decides: a frame too long is refused before its payload.
        let size = usize::try_from(header.payload).unwrap_or(usize::MAX);
        if size > self.max_message {
            return Err(self.too_long(size));
        }
        let total = header.len + size;
        if buffered < total {
            return Ok(Step::Need(total));
        }
        let payload = self.head + header.len..self.head + total;
        self.head += total;
        if !self.state.can_read() {
            return Err(Error::Protocol(ProtocolError::ReceivedAfterClosing));
        }
        if header.rsv != 0 {
            return Err(Error::Protocol(ProtocolError::NonZeroReservedBits));
        }
        match (self.role, header.mask) {
            (Role::Server, None) => {
                return Err(Error::Protocol(ProtocolError::UnmaskedFrameFromClient))
            }
            (Role::Client, Some(_)) => {
                return Err(Error::Protocol(ProtocolError::MaskedFrameFromServer))
            }
            (_, Some(key)) => frame::apply_mask(&mut self.inb[payload.clone()], key),
            (Role::Client, None) => {}
        }
        if header.is_control() {
            self.control(header, payload)
        } else {
            self.data(header, payload)
        }
    }

    fn too_long(&self, size: usize) -> Error {
        Error::Capacity(CapacityError::MessageTooLong {
            size,
            max_size: self.max_message,
        })
    }

    fn control(&mut self, header: Header, payload: Range<usize>) -> Result<Step, Error> {
        if !header.fin {
            return Err(Error::Protocol(ProtocolError::FragmentedControlFrame));
        }
        if payload.len() > frame::MAX_CONTROL_PAYLOAD {
            return Err(Error::Protocol(ProtocolError::ControlFrameTooBig));
        }
        let data = &self.inb[payload];
        match header.opcode {
            frame::CLOSE => {
                let close = match data {
                    [] => None,
                    [_] => return Err(Error::Protocol(ProtocolError::InvalidCloseSequence)),
                    [hi, lo, reason @ ..] => Some(CloseFrame {
                        code: CloseCode::from(u16::from_be_bytes([*hi, *lo])),
                        reason: Utf8Bytes::try_from(Bytes::copy_from_slice(reason))?,
                    }),
                };
                Ok(self.received_close(close))
            }
            frame::PING => {
                let data = Bytes::copy_from_slice(data);
                // No answers once we have sent our close.
                if self.state == State::Active {
                    self.pong = Some(data.clone());
                }
                Ok(Step::Message(Message::Ping(data)))
            }
            frame::PONG => Ok(Step::Message(Message::Pong(Bytes::copy_from_slice(data)))),
            op => Err(Error::Protocol(ProtocolError::UnknownControlFrameType(op))),
        }
    }

    fn received_close(&mut self, close: Option<CloseFrame>) -> Step {
        match self.state {
            State::Active => {
                self.state = State::ClosedByPeer;
                let close = close.map(|c| {
                    if c.code.is_allowed() {
                        c
                    } else {
                        CloseFrame {
                            code: CloseCode::Protocol,
                            reason: Utf8Bytes::from_static("Protocol violation"),
                        }
                    }
                });
                // The answer repeats the peer's code; it replaces an unsent pong.
                self.pong = None;
                self.queue_close(close.as_ref());
                Step::Message(Message::Close(close))
            }
            State::ClosedByUs => {
                self.state = State::CloseAcknowledged;
                Step::Message(Message::Close(close))
            }
            State::ClosedByPeer | State::CloseAcknowledged | State::Terminated => Step::Taken,
        }
    }

    fn data(&mut self, header: Header, payload: Range<usize>) -> Result<Step, Error> {
        let text = match header.opcode {
            frame::CONTINUATION => {
                let Some(mut partial) = self.partial.take() else {
                    return Err(Error::Protocol(ProtocolError::UnexpectedContinueFrame));
                };
                let size = partial.data.len() + payload.len();
                if size > self.max_message {
                    return Err(self.too_long(size));
                }
                partial.data.extend_from_slice(&self.inb[payload]);
                if !header.fin {
                    self.partial = Some(partial);
                    return Ok(Step::Taken);
                }
                return message(partial.text, Bytes::from(partial.data)).map(Step::Message);
            }
            frame::TEXT => true,
            frame::BINARY => false,
            op => return Err(Error::Protocol(ProtocolError::UnknownDataFrameType(op))),
        };
        if self.partial.is_some() {
            let data = if text { Data::Text } else { Data::Binary };
            return Err(Error::Protocol(ProtocolError::ExpectedFragment(data)));
        }
        if header.fin {
            return message(text, Bytes::copy_from_slice(&self.inb[payload])).map(Step::Message);
        }
        self.partial = Some(Partial {
            text,
            data: self.inb[payload].to_vec(),
        });
        Ok(Step::Taken)
    }

    /// Frames one final frame into the write buffer (masked when we are the client).
    fn queue(&mut self, opcode: u8, payload: &[u8]) {
        if self.out_pos > 0 && self.out_pos * 2 >= self.out.len() {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        match self.role {
            Role::Server => {
                frame::write_header(&mut self.out, opcode, payload.len(), None);
                self.out.extend_from_slice(payload);
            }
            Role::Client => {
                let key: [u8; 4] = rand::random();
                frame::write_header(&mut self.out, opcode, payload.len(), Some(key));
                let start = self.out.len();
                self.out.extend_from_slice(payload);
                frame::apply_mask(&mut self.out[start..], key);
            }
        }
    }

    fn queue_close(&mut self, close: Option<&CloseFrame>) {
        let Some(close) = close else {
            self.queue(frame::CLOSE, &[]);
            return;
        };
        let mut payload = [0u8; frame::MAX_CONTROL_PAYLOAD];
        payload[..2].copy_from_slice(&u16::from(close.code).to_be_bytes());
        // A reason longer than a control frame allows is cut at a character boundary.
        let reason = close.reason.as_str();
        let mut cut = reason.len().min(frame::MAX_CONTROL_PAYLOAD - 2);
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        payload[2..2 + cut].copy_from_slice(&reason.as_bytes()[..cut]);
        self.queue(frame::CLOSE, &payload[..2 + cut]);
    }

    fn queue_message(&mut self, message: Message) -> Result<(), Error> {
        match self.state {
            State::Terminated => return Err(Error::AlreadyClosed),
            State::Active => {}
            _ => return Err(Error::Protocol(ProtocolError::SendAfterClosing)),
        }
        match message {
            Message::Text(text) => self.queue(frame::TEXT, text.as_bytes()),
            Message::Binary(data) => self.queue(frame::BINARY, &data),
            Message::Ping(data) => self.queue(frame::PING, &data),
            Message::Pong(data) => self.queue(frame::PONG, &data),
            Message::Close(close) => {
                self.state = State::ClosedByUs;
                self.queue_close(close.as_ref());
            }
            Message::Frame(_) => {
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "raw frames are not sent on this stream",
                )))
            }
        }
        Ok(())
    }

    fn waiting(&self) -> usize {
        self.out.len() - self.out_pos
    }
}

/// A whole message's payload as the message.
fn message(text: bool, data: Bytes) -> Result<Message, Error> {
    if text {
        Ok(Message::Text(Utf8Bytes::try_from(data)?))
    } else {
        Ok(Message::Binary(data))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsStream<S> {
    /// Sends a close frame (`None`: without a code) and flushes it; the peer's answer
    /// ends the stream of messages.
    pub async fn close(&mut self, close: Option<CloseFrame>) -> Result<(), Error> {
        self.send(Message::Close(close)).await
    }

    /// Reads more into the buffer so that `need` bytes from `head` fit; `Ok(0)` at the
    /// end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>, need: usize) -> Poll<io::Result<usize>> {
        if self.head == self.tail {
            self.head = 0;
            self.tail = 0;
            if self.inb.len() > SHRINK_ABOVE && need <= READ_START {
                self.inb = vec![0; READ_START];
            }
        } else if self.head > 0
            && (self.head + need > self.inb.len() || self.tail == self.inb.len())
        {
            self.inb.copy_within(self.head..self.tail, 0);
            self.tail -= self.head;
            self.head = 0;
        }
        if need > self.inb.len() {
            // Grown with what arrives (at most doubled per read), not to what a header
            // claims: a peer cannot make it much larger than what it actually sent.
            let grown = (self.inb.len() * 2).max(self.tail + READ_START).min(need);
            self.inb.resize(grown, 0);
        }
        let mut room = ReadBuf::new(&mut self.inb[self.tail..]);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut room))?;
        let n = room.filled().len();
        self.tail += n;
        Poll::Ready(Ok(n))
    }

    /// Writes what waits (the pong first); `Pending` leaves the rest for later.
    /// Writes what waits, then the pong (queued only behind an empty buffer, so that
    /// a newer ping can still replace it while the socket is blocked); `Pending` leaves
    /// the rest for later.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            if self.waiting() == 0 {
                match self.pong.take() {
                    Some(pong) => self.queue(frame::PONG, &pong),
                    None => break,
                }
            }
            while self.out_pos < self.out.len() {
                let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.out_pos..]))?;
                if n == 0 {
                    return Poll::Ready(Err(Error::Io(io::ErrorKind::WriteZero.into())));
                }
                self.out_pos += n;
            }
            self.out.clear();
            self.out_pos = 0;
        }
        if self.out.capacity() > SHRINK_ABOVE {
            self.out = Vec::new();
        }
        Poll::Ready(Ok(()))
    }

    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Result<Message, Error>> {
        loop {
            if self.state == State::Terminated {
                return Poll::Ready(Err(Error::AlreadyClosed));
            }
            // Answers (pongs, the close reply) go out while reading; a write that would
            // block is retried on the next call.
            if self.pong.is_some() || self.waiting() > 0 {
                if let Poll::Ready(Err(e)) = self.poll_write_out(cx) {
                    return Poll::Ready(Err(e));
                }
            }
            // After the close exchange the server ends the connection (section 7.1.1).
            if self.role == Role::Server && !self.state.can_read() && self.waiting() == 0 {
                self.state = State::Terminated;
                return Poll::Ready(Err(Error::ConnectionClosed));
            }
            match self.step()? {
                Step::Message(m) => return Poll::Ready(Ok(m)),
                Step::Taken => {}
                Step::Need(need) => {
                    if ready!(self.poll_fill(cx, need))? == 0 {
                        let was = std::mem::replace(&mut self.state, State::Terminated);
                        return Poll::Ready(Err(match was {
                            State::ClosedByPeer | State::CloseAcknowledged => {
                                Error::ConnectionClosed
                            }
                            _ => Error::Protocol(ProtocolError::ResetWithoutClosingHandshake),
                        }));
                    }
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WsStream<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        match ready!(this.poll_message(cx)) {
            Ok(m) => Poll::Ready(Some(Ok(m))),
            Err(e) => {
                this.ended = true;
                match e {
                    Error::ConnectionClosed | Error::AlreadyClosed => Poll::Ready(None),
                    e => Poll::Ready(Some(Err(e))),
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WsStream<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if this.waiting() >= WRITE_HIGH_WATER {
            ready!(this.poll_write_out(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.get_mut().queue_message(message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        ready!(this.poll_write_out(cx))?;
        ready!(Pin::new(&mut this.io).poll_flush(cx))?;
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if this.state == State::Active {
            this.state = State::ClosedByUs;
            this.queue_close(None);
        }
        Pin::new(this).poll_flush(cx)
    }
}
