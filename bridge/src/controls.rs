//! The way from an operator's session to a call's task: [`Control`]s in a queue with a
//! flag and the task's waker beside it. The call's task looks for controls at every
//! wake-up (about 100 a second per call) and almost never finds one; a channel's poll
//! (its block list walked twice, the waker registered between) was 2.2% of the
//! appliance's samples at 300 calls, where this reads one flag.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

use crate::live::Control;

struct Shared {
    queue: Mutex<VecDeque<Control>>,
    /// Something is queued (set and cleared under the queue's lock).
    pending: AtomicBool,
    waker: AtomicWaker,
    /// The call's task has ended: sending fails.
    closed: AtomicBool,
}

/// An operator's end (cloned for each operator session).
#[derive(Clone)]
pub struct ControlSender(Arc<Shared>);

/// The call task's end.
pub struct ControlReceiver(Arc<Shared>);

pub fn channel() -> (ControlSender, ControlReceiver) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(VecDeque::new()),
        pending: AtomicBool::new(false),
        waker: AtomicWaker::new(),
        closed: AtomicBool::new(false),
    });
    (ControlSender(Arc::clone(&shared)), ControlReceiver(shared))
}

impl ControlSender {
    /// Queues `control` for the call; gives it back once the call has ended.
    pub fn send(&self, control: Control) -> Result<(), Control> {
        if self.0.closed.load(Ordering::Acquire) {
            return Err(control);
        }
        {
            let mut queue = self.0.queue.lock().unwrap_or_else(PoisonError::into_inner);
            queue.push_back(control);
            self.0.pending.store(true, Ordering::Release);
        }
        self.0.waker.wake();
        Ok(())
    }
}

impl ControlReceiver {
    /// The next control; pending while none is queued.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Control> {
        self.0.waker.register(cx.waker());
        if !self.0.pending.load(Ordering::Acquire) {
            return Poll::Pending;
        }
        let mut queue = self.0.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let next = queue.pop_front();
        if queue.is_empty() {
            self.0.pending.store(false, Ordering::Release);
        }
        next.map_or(Poll::Pending, Poll::Ready)
    }

    pub async fn recv(&mut self) -> Control {
        poll_fn(|cx| self.poll_recv(cx)).await
    }
}

impl Drop for ControlReceiver {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::core::OperatorMode;

    #[tokio::test(start_paused = true)]
    async fn controls_arrive_in_order_and_wake_a_waiting_receiver() {
        let (tx, mut rx) = channel();
        let waiting = tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..3 {
                got.push(rx.recv().await);
            }
            (got, rx)
        });
        tokio::task::yield_now().await;
        tx.send(Control::Join(OperatorMode::Takeover)).unwrap();
        tx.send(Control::Audio(vec![1, 2])).unwrap();
        tx.clone().send(Control::Leave).unwrap();
        let (got, rx) = waiting.await.unwrap();
        assert!(matches!(
            got.as_slice(),
            [Control::Join(OperatorMode::Takeover), Control::Audio(a), Control::Leave] if a == &[1, 2]
        ));
        // Nothing queued: the receiver waits (paused time would run the timeout out).
        let mut rx = rx;
        assert!(
            tokio::time::timeout(std::time::Duration::from_secs(1), rx.recv())
                .await
                .is_err()
        );
        drop(rx);
        assert!(tx.send(Control::Commit).is_err(), "the call has ended");
    }
}
