//! argon2id password hashes. Both functions are slow on purpose and take
//! about 19 MiB each: requests reach them only through [`PasswordWorkers`],
//! which bounds how many run and how many wait.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, LazyLock, Mutex};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::domain::password::MAX_PASSWORD_LEN;
use crate::domain::Password;

pub fn hash(password: &Password) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("could not hash a password: {e}"))
}

/// A hash of nothing in particular, verified against when the account does
/// not exist, so that an unknown user takes as long as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash(&Password::parse("not-a-real-password").expect("valid")).expect("hashing works")
});

/// Whether `candidate` matches `stored`; with no stored hash, burns the
/// same time and says no.
pub fn verify(stored: Option<&str>, candidate: &str) -> bool {
    let (hash, real) = match stored {
        Some(h) => (h, true),
        None => (DUMMY_HASH.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(candidate.as_bytes(), &parsed)
        .is_ok();
    ok && real
}

/// Refused at once: every password worker is busy and the queue is full.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("The server is busy checking other passwords. Try again in a few seconds.")]
pub struct Busy;

/// Seconds a refused caller is asked to wait (`Retry-After`).
pub const RETRY_AFTER_SECS: u32 = 2;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads that do all password hashing and checking, with
/// a short queue in front. Memory stays at about 19 MiB a thread whatever
/// arrives, and a storm of sign-ins cannot take the CPU from API calls.
#[derive(Clone)]
pub struct PasswordWorkers {
    jobs: mpsc::Sender<Job>,
    /// Jobs running or waiting.
    in_flight: Arc<AtomicUsize>,
    capacity: usize,
}

/// A place in the queue, taken before any other work for a request is done
/// and given back when dropped.
pub struct Slot {
    workers: PasswordWorkers,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.workers.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PasswordWorkers {
    /// `threads` checks run at once; `queue` more may wait.
    pub fn start(threads: usize, queue: usize) -> Self {
        let threads = threads.max(1);
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("password-{i}"))
                .spawn(move || loop {
                    let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                })
                .expect("spawn a password worker");
        }
        Self {
            jobs: tx,
            in_flight: Arc::new(AtomicUsize::new(0)),
            capacity: threads + queue,
        }
    }

    /// Password checks running or waiting now.
    pub fn depth(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Takes a place, or refuses at once when all are taken.
    pub fn try_slot(&self) -> Result<Slot, Busy> {
        let taken = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then_some(n + 1)
            });
        match taken {
            Ok(_) => Ok(Slot {
                workers: self.clone(),
            }),
            Err(_) => Err(Busy),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        slot: Slot,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        // The job's log lines belong to the request that queued it.
        let span = tracing::Span::current();
        // The place goes with the job, not with the waiting request: a
        // request that goes away leaves its job counted until it is done
        // (or skipped, as nobody wants its answer any more).
        self.jobs
            .send(Box::new(move || {
                let _slot = slot;
                if !tx.is_closed() {
                    let _ = tx.send(span.in_scope(f));
                }
            }))
            .map_err(|_| anyhow::anyhow!("the password workers have stopped"))?;
        Ok(rx
            .await
            .map_err(|_| anyhow::anyhow!("a password worker stopped mid-job"))?)
    }

    /// Whether `candidate` is the password `stored` hashes ([`verify`]), on
    /// a worker holding `slot`. A candidate longer than any password can be
    /// cannot match and costs no hashing.
    pub async fn verify(
        &self,
        slot: Slot,
        stored: Option<String>,
        candidate: String,
    ) -> Result<bool, PasswordError> {
        if candidate.len() > MAX_PASSWORD_LEN {
            return Ok(false);
        }
        self.run(slot, move || verify(stored.as_deref(), &candidate))
            .await
    }

    /// Takes a place and verifies: for callers with nothing to do first.
    pub async fn verify_now(
        &self,
        stored: Option<String>,
        candidate: String,
    ) -> Result<bool, PasswordError> {
        let slot = self.try_slot()?;
        self.verify(slot, stored, candidate).await
    }

    /// Takes a place and hashes ([`hash`]) on a worker.
    pub async fn hash_now(&self, password: Password) -> Result<String, PasswordError> {
        let slot = self.try_slot()?;
        Ok(self.run(slot, move || hash(&password)).await??)
    }
}

/// Why password work was not done: the workers are full (the caller is
/// asked to retry), or something failed inside.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error(transparent)]
    Busy(#[from] Busy),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A random password for accounts created from the command line.
pub fn generate() -> Password {
    use rand::distr::{Alphanumeric, SampleString};
    use rand::TryRngCore;
    let mut rng = rand::rngs::OsRng.unwrap_err();
    Password::parse(&Alphanumeric.sample_string(&mut rng, 20)).expect("long enough")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let p = Password::parse("correct horse").unwrap();
        let h = hash(&p).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(Some(&h), "correct horse"));
        assert!(!verify(Some(&h), "wrong horse"));
        assert!(!verify(None, "not-a-real-password"));
        assert!(!verify(Some("garbage"), "correct horse"));
    }

    #[actix_web::test]
    async fn workers_refuse_at_once_when_every_place_is_taken() {
        let workers = PasswordWorkers::start(1, 1);
        let first = workers.try_slot().expect("a place for the running job");
        let second = workers.try_slot().expect("a place in the queue");
        assert!(workers.try_slot().is_err(), "a third must be refused");
        drop(second);
        let p = Password::parse("correct horse").unwrap();
        let h = workers.hash_now(p).await.expect("a place is free again");
        assert!(workers
            .verify(first, Some(h), "correct horse".into())
            .await
            .unwrap());
        assert!(
            workers.try_slot().is_ok(),
            "finished jobs give their places back"
        );
    }

    #[test]
    fn generated_passwords_differ() {
        assert_ne!(generate().expose(), generate().expose());
    }
}
