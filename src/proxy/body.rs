//! Streaming bodies: a request body capped at the configured size, and a response body that
//! holds its instance slot until the last byte is sent.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

use crate::pool::Lease;

/// The request body went over the limit (the flag tells the proxy to answer 413).
#[derive(Debug, thiserror::Error)]
#[error("the request body is over the {0}-byte limit")]
pub struct TooLarge(pub u64);

/// Passes a body through, failing once more than `limit` bytes went by.
pub struct Capped<B> {
    inner: B,
    seen: u64,
    limit: u64,
    tripped: Arc<AtomicBool>,
}

impl<B> Capped<B> {
    /// Wraps `inner`; `tripped` is set when the limit is crossed.
    pub fn new(inner: B, limit: u64, tripped: Arc<AtomicBool>) -> Self {
        Capped {
            inner,
            seen: 0,
            limit,
            tripped,
        }
    }
}

impl<B> HttpBody for Capped<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.seen += data.len() as u64;
                    if this.seen > this.limit {
                        this.tripped.store(true, Ordering::Release);
                        return Poll::Ready(Some(Err(Box::new(TooLarge(this.limit)))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            other => other.map(|o| o.map(|r| r.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A function's response body; dropping it (sent or abandoned) frees the instance slot.
pub struct Leased<B> {
    inner: B,
    _lease: Lease,
}

impl<B> Leased<B> {
    /// Ties `lease` to `inner`'s lifetime.
    pub fn new(inner: B, lease: Lease) -> Self {
        Leased {
            inner,
            _lease: lease,
        }
    }
}

impl<B> HttpBody for Leased<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
