//! The current caller's token, for calls made on their behalf (RFC 8693
//! token exchange, forwarding) without threading it by hand.
//!
//! [`RequireBearer`](crate::RequireBearer) runs the inner service inside
//! [`with_token`], so code running in the handler's task sees the caller's
//! token through [`current_token`], and
//! [`AttachBearer`](crate::AttachBearer) picks it up for outbound calls.
//!
//! # Spawned work
//! A task-local does not cross `tokio::spawn`. For work spawned from a
//! handler, either wrap the spawned future:
//! `tokio::spawn(with_token(current_token(), fut))`, or put the token on the
//! outbound request explicitly: `req.extensions_mut().insert(token)` (the
//! explicit form wins and is the one to use in fan-out code).

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::bearer::BearerToken;

thread_local! {
    static CURRENT: RefCell<Option<BearerToken>> = const { RefCell::new(None) };
}

/// The token of the caller whose request is being served by this task, if
/// any.
pub fn current_token() -> Option<BearerToken> {
    CURRENT.with(|c| c.borrow().clone())
}

pin_project! {
    /// A future that runs with a current caller token; see [`with_token`].
    pub struct WithToken<F> {
        token: Option<BearerToken>,
        #[pin]
        inner: F,
    }
}

impl<F> fmt::Debug for WithToken<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithToken")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// Runs `fut` with `token` as the current caller token (restored on every
/// poll, so it follows the future across threads).
pub fn with_token<F: Future>(token: Option<BearerToken>, fut: F) -> WithToken<F> {
    WithToken { token, inner: fut }
}

/// Puts the future's token back into it when the poll ends (even by panic),
/// and restores the token that was current before.
struct Restore<'a> {
    slot: &'a mut Option<BearerToken>,
    prev: Option<BearerToken>,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let prev = self.prev.take();
        *self.slot = CURRENT.with(|c| c.replace(prev));
    }
}

impl<F: Future> Future for WithToken<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        // Moved in and out, not cloned: no reference count traffic per poll.
        let prev = CURRENT.with(|c| c.replace(this.token.take()));
        let _restore = Restore {
            slot: this.token,
            prev,
        };
        this.inner.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scoped_to_the_future() {
        assert!(current_token().is_none());
        let seen = with_token(Some(BearerToken::new("abc")), async {
            tokio::task::yield_now().await;
            current_token().map(|t| t.as_str().to_owned())
        })
        .await;
        assert_eq!(seen.as_deref(), Some("abc"));
        assert!(current_token().is_none(), "restored after the poll");
    }
}
