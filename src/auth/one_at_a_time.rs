//! One at a time per key (an account's streamed token lists): a turn for
//! each key, which others asking with the same key wait for while holding
//! nothing, and which keys of their own never wait for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Keys kept before those no one holds or waits for are forgotten.
const KEPT: usize = 1024;

#[derive(Default)]
pub struct OneAtATime {
    turns: Mutex<HashMap<i64, Arc<Semaphore>>>,
}

impl OneAtATime {
    /// Waits for `key`'s turn; it is given back when the permit is dropped.
    pub async fn take(&self, key: i64) -> OwnedSemaphorePermit {
        let turn = {
            let mut turns = self.turns.lock().unwrap_or_else(|p| p.into_inner());
            if turns.len() >= KEPT {
                // A permit, and a caller waiting, each hold the semaphore.
                turns.retain(|_, t| Arc::strong_count(t) > 1);
            }
            turns
                .entry(key)
                .or_insert_with(|| Arc::new(Semaphore::new(1)))
                .clone()
        };
        turn.acquire_owned()
            .await
            .expect("a turn's semaphore is never closed")
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[actix_web::test]
    async fn a_key_is_taken_one_at_a_time_and_other_keys_never_wait() {
        let turns = OneAtATime::default();
        let first = turns.take(1).await;
        assert!(turns.take(2).now_or_never().is_some(), "another key");
        let mut second = Box::pin(turns.take(1));
        assert!((&mut second).now_or_never().is_none(), "the same key waits");
        drop(first);
        assert!(
            second.now_or_never().is_some(),
            "and has it once given back"
        );
    }

    #[actix_web::test]
    async fn keys_no_one_holds_are_forgotten_past_the_kept_number() {
        let turns = OneAtATime::default();
        let held = turns.take(0).await;
        for key in 1..=KEPT as i64 {
            drop(turns.take(key).await);
        }
        let kept = turns.turns.lock().unwrap().len();
        assert!(kept <= 2, "{kept} kept");
        assert!(turns.turns.lock().unwrap().contains_key(&0), "the one held");
        drop(held);
    }
}
