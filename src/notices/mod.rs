//! Expiry notices: every `WHM_TOKENS_NOTIFY_INTERVAL` each instance looks
//! for tokens that expire within 7 days, within a day, or just did, and
//! sends each notice it manages to claim (see [`crate::ops::notices`]) by
//! email to the owner's contact address and to the webhook. It runs on its
//! own task: no request ever waits for it.

pub mod mail;
pub mod message;
pub mod webhook;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::NoticeSettings;
use crate::db::Db;
use crate::domain::ServerClock;
use crate::ops::notices::{self, Channel, Due, NoticeKey};
use crate::ops::OpError;

use mail::{MailError, Mailer};
use message::Notice;
use webhook::Webhook;

/// Tokens read from the store at a time.
const PAGE: i64 = 200;

/// What the checker works with: the store, the clock, where notices go,
/// the address links in them point at, and the count of rounds it has run.
pub struct Notifier {
    pub db: Db,
    pub clock: ServerClock,
    pub settings: NoticeSettings,
    pub public_url: Option<String>,
    pub rounds: std::sync::Arc<Rounds>,
}

impl Notifier {
    fn count(&self, channel: Channel, sent: bool) {
        self.db.metrics().notice(channel.as_str(), sent);
    }
}

/// How many rounds of the checker have finished: what a test waits for
/// to know that a round has looked at the tokens (and sent nothing more),
/// instead of sleeping.
#[derive(Default)]
pub struct Rounds {
    done: std::sync::atomic::AtomicU64,
}

impl Rounds {
    pub fn finished(&self) -> u64 {
        self.done.load(std::sync::atomic::Ordering::Acquire)
    }

    fn finish(&self) {
        self.done.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// What the running checker shares with whoever stops it.
#[derive(Default)]
struct Control {
    stopping: AtomicBool,
    wake: tokio::sync::Notify,
    /// Notices claimed and not yet settled (sent, given up or given back).
    held: Mutex<HashSet<NoticeKey>>,
}

impl Control {
    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<NoticeKey>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }
}

/// The running checker, to stop it at shutdown.
pub struct NoticeTask {
    control: Arc<Control>,
    task: actix_web::rt::task::JoinHandle<()>,
    db: Db,
}

impl NoticeTask {
    /// Stops the checker. The notice it is sending is finished, for at most
    /// `limit`; a claim it still holds after that is given back, so that
    /// another instance (or this one, restarted) sends the notice at its
    /// next round instead of when the claim lapses. A notice that was
    /// delivered in the moment it was cut off goes again, with the same
    /// delivery id.
    pub async fn stop(self, limit: Duration) {
        self.control.stopping.store(true, Ordering::Release);
        self.control.wake.notify_one();
        let mut task = self.task;
        if actix_web::rt::time::timeout(limit, &mut task)
            .await
            .is_err()
        {
            task.abort();
            let _ = task.await;
        }
        let held: Vec<NoticeKey> = self.control.held().drain().collect();
        if held.is_empty() {
            return;
        }
        let count = held.len();
        match give_back(&self.db, held).await {
            Ok(()) => tracing::info!(count, "expiry notice claims given back at shutdown"),
            Err(e) => {
                tracing::warn!(error = %e, count, "expiry notice claims could not be given back; they lapse by themselves")
            }
        }
    }
}

/// Gives back claims, in one transaction: the next round of any instance
/// sends them.
async fn give_back(db: &Db, keys: Vec<NoticeKey>) -> Result<(), OpError> {
    db.write_bookkeeping(move |conn| {
        keys.iter()
            .try_for_each(|key| notices::give_back(conn, key))
    })
    .await
}

/// Starts the checker when a channel is set. Runs on the current thread's
/// runtime until stopped.
pub fn spawn(notifier: Notifier) -> Option<NoticeTask> {
    let settings = notifier.settings.clone();
    if !settings.is_on() {
        return None;
    }
    let control = Arc::new(Control::default());
    let db = notifier.db.clone();
    let shared = control.clone();
    let task = actix_web::rt::spawn(async move {
        let mailer = match settings.mail.as_ref().map(Mailer::new).transpose() {
            Ok(mailer) => mailer,
            Err(e) => {
                tracing::error!(error = %e, "expiry notices by email are off: the mail settings do not work");
                None
            }
        };
        let checker = Checker {
            webhook: settings
                .webhook
                .as_ref()
                .map(|hook| Webhook::new(hook, notifier.clock)),
            webhook_down: std::cell::Cell::new(false),
            mail_down: std::cell::Cell::new(false),
            mailer,
            notifier,
            control: shared,
        };
        while !checker.control.stopping() {
            match checker.round().await {
                Ok(sent) if sent > 0 => tracing::info!(sent, "expiry notices sent"),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the check for expiring tokens failed; trying again next round")
                }
            }
            checker.notifier.rounds.finish();
            // The next round, or the stop, whichever comes first.
            let _ =
                actix_web::rt::time::timeout(settings.interval, checker.control.wake.notified())
                    .await;
        }
    });
    Some(NoticeTask { control, task, db })
}

struct Checker {
    notifier: Notifier,
    mailer: Option<Mailer>,
    webhook: Option<Webhook>,
    /// The webhook failed this round: the rest of its notices wait for the
    /// next one, so a receiver that hangs holds up no mail.
    webhook_down: std::cell::Cell<bool>,
    /// The mail server was unreachable this round: the rest of the mail
    /// waits for the next one, so a server that hangs holds up no webhook
    /// (nor each due token for the whole timeout).
    mail_down: std::cell::Cell<bool>,
    control: Arc<Control>,
}

impl Checker {
    /// One pass over the tokens due a notice. Returns how many were sent.
    async fn round(&self) -> Result<usize, OpError> {
        let db = &self.notifier.db;
        let now = self.notifier.clock.now();
        self.webhook_down.set(false);
        self.mail_down.set(false);
        self.give_back_left().await?;
        db.write_bookkeeping(move |conn| notices::prune(conn, now))
            .await?;
        let mut sent = 0;
        // Tokens reported leaked first (told once each, on every channel:
        // the most urgent), then tokens that expire soon, and tokens the
        // policy disables for disuse within a week.
        for walk in [
            notices::Threshold::Leaked,
            notices::Threshold::Week,
            notices::Threshold::Unused,
        ] {
            let mut after = None;
            loop {
                let page = db
                    .read(move |conn| match walk {
                        notices::Threshold::Leaked => notices::leaked(conn, now, after, PAGE),
                        notices::Threshold::Unused => notices::unused(conn, now, after, PAGE),
                        _ => notices::due(conn, now, after, PAGE),
                    })
                    .await?;
                for due in &page.due {
                    if self.control.stopping() {
                        return Ok(sent);
                    }
                    for channel in self.channels(due) {
                        if !page.sent.contains(&due.key(channel))
                            && self.deliver(due, channel).await?
                        {
                            sent += 1;
                        }
                    }
                }
                match page.next {
                    Some(cursor) => after = Some(cursor),
                    None => break,
                }
            }
        }
        Ok(sent)
    }

    /// The webhook first: it answers within 10 s, a mail server may take
    /// its whole timeout.
    fn channels(&self, due: &Due) -> Vec<Channel> {
        let mut channels = Vec::with_capacity(2);
        if self.webhook.is_some() && !self.webhook_down.get() {
            channels.push(Channel::Webhook);
        }
        if self.mailer.is_some() && due.contact_email.is_some() && !self.mail_down.get() {
            channels.push(Channel::Email);
        }
        channels
    }

    /// Claims and sends one notice, as the store has it at the claim (time
    /// has passed since the page was read: a token revoked, disabled or
    /// given another expiry meanwhile, or whose owner was suspended, gets
    /// none, and a new contact address gets it). `Ok(false)`: no longer
    /// due, another instance has it, or the send failed and the claim was
    /// given back for the next round.
    async fn deliver(&self, due: &Due, channel: Channel) -> Result<bool, OpError> {
        let db = &self.notifier.db;
        let key = due.key(channel);
        let now = self.notifier.clock.now();
        let asked = due.clone();
        let control = self.control.clone();
        // Held from the moment the claim commits, by how the claim really
        // ended: one that commits after the deadline has answered is given
        // back at the next round (or the stop), not left to lapse.
        let claimed = db
            .write_bookkeeping_settled(
                move |conn| notices::claim(conn, &asked, channel, now),
                move |outcome| {
                    if let Ok(Some(_)) = outcome {
                        control.held().insert(key);
                    }
                },
            )
            .await?;
        let Some(current) = claimed else {
            return Ok(false);
        };
        // Still held while it is sent: a task cut off at shutdown leaves it
        // there for [`NoticeTask::stop`] to give back.
        let settled = self.send_claimed(&current, channel, key, now).await;
        self.control.held().remove(&key);
        settled
    }

    /// Gives back the claims a round left behind: one whose write answered
    /// only after the deadline (the round ended with the error), so that
    /// this round sends it instead of waiting for it to lapse.
    async fn give_back_left(&self) -> Result<(), OpError> {
        let left: Vec<NoticeKey> = self.control.held().drain().collect();
        if left.is_empty() {
            return Ok(());
        }
        let given = give_back(&self.notifier.db, left.clone()).await;
        if given.is_err() {
            self.control.held().extend(left);
        }
        given
    }

    /// Sends a claimed notice and settles its claim: marked sent, given up,
    /// or given back for the next round.
    async fn send_claimed(
        &self,
        due: &Due,
        channel: Channel,
        key: NoticeKey,
        now: i64,
    ) -> Result<bool, OpError> {
        let db = &self.notifier.db;
        let unmailable = match (channel, &due.contact_email) {
            (Channel::Email, Some(to)) => Mailer::unmailable(to),
            _ => None,
        };
        if let Some(why) = unmailable {
            tracing::warn!(account = %due.account, token = %due.token, %why, "an expiry notice is given up");
            let given_up = due.clone();
            db.write_bookkeeping(move |conn| {
                notices::mark_undeliverable(conn, &given_up, channel, &why, now)
            })
            .await?;
            return Ok(false);
        }
        let notice = Notice::of(due, now);
        let outcome = match channel {
            Channel::Email => self.email(due, &notice).await.map_err(|e| {
                if matches!(e, MailError::Unreachable(_)) {
                    self.mail_down.set(true);
                }
                anyhow::Error::from(e)
            }),
            Channel::Webhook => self.post(&key.delivery_id(), &notice).await,
        };
        match outcome {
            Ok(()) => {
                // Accepted: it must be marked, or it would go again once the
                // claim lapses. A failing write is tried a few times.
                let mut tries = 0;
                loop {
                    let sent = due.clone();
                    match db
                        .write_bookkeeping(move |conn| {
                            notices::mark_sent(conn, &sent, channel, now)
                        })
                        .await
                    {
                        Ok(()) => break,
                        Err(e) if tries < 4 => {
                            tries += 1;
                            tracing::warn!(error = %e, "marking a sent notice failed; trying again");
                            actix_web::rt::time::sleep(std::time::Duration::from_millis(
                                250 << tries,
                            ))
                            .await;
                        }
                        Err(e) => return Err(e),
                    }
                }
                self.notifier.count(channel, true);
                tracing::info!(
                    account = %due.account,
                    token = %due.token,
                    channel = channel.as_str(),
                    event = notice.event,
                    "expiry notice sent"
                );
                Ok(true)
            }
            Err(e) => {
                self.notifier.count(channel, false);
                if channel == Channel::Webhook {
                    self.webhook_down.set(true);
                }
                tracing::warn!(
                    account = %due.account,
                    token = %due.token,
                    channel = channel.as_str(),
                    error = %e,
                    "an expiry notice could not be sent; it is tried again next round"
                );
                db.write_bookkeeping(move |conn| notices::give_back(conn, &key))
                    .await?;
                Ok(false)
            }
        }
    }

    async fn email(&self, due: &Due, notice: &Notice) -> Result<(), MailError> {
        let (Some(mailer), Some(to)) = (&self.mailer, &due.contact_email) else {
            return Err(MailError::Failed(anyhow::anyhow!(
                "no mail server or no contact address"
            )));
        };
        let text = notice.text(&self.notifier.clock, self.notifier.public_url.as_deref());
        mailer.send(to, &notice.subject(), text).await
    }

    async fn post(&self, delivery: &str, notice: &Notice) -> anyhow::Result<()> {
        let Some(webhook) = &self.webhook else {
            anyhow::bail!("no webhook");
        };
        webhook.send(delivery, serde_json::to_vec(notice)?).await
    }
}
