//! The instructors' live board: a change feed of recorded check runs that works across replicas.
//! Every server asks the shared database for the newest run once a second while one of its
//! instructors' pages listens, so a pass recorded by any replica reaches every board within
//! about a second, on SQLite and PostgreSQL alike; with no page listening it asks nothing.

use std::time::Duration;

use sqlx::AnyPool;
use tokio::sync::watch;

use super::store;

/// How often a listened-to feed asks for the newest run.
const ASK_EVERY: Duration = Duration::from_secs(1);

/// The newest recorded run's id, as pages follow it.
#[derive(Debug)]
pub struct RunFeed {
    newest: watch::Sender<i64>,
}

impl RunFeed {
    /// Starts the feed on `pool` (its task asks only while someone subscribes).
    pub fn start(pool: AnyPool) -> Self {
        let (newest, _) = watch::channel(0);
        tokio::spawn(follow(pool, newest.clone()));
        Self { newest }
    }

    /// The newest run's id, changing as runs are recorded (on any replica).
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.newest.subscribe()
    }
}

async fn follow(pool: AnyPool, newest: watch::Sender<i64>) {
    let mut tick = tokio::time::interval(ASK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // Only the task's own sender is left: nobody listens, so nothing is asked.
        if newest.receiver_count() == 0 {
            continue;
        }
        match store::newest_run(&pool).await {
            Ok(id) => {
                newest.send_if_modified(|current| {
                    let moved = *current != id;
                    *current = id;
                    moved
                });
            }
            Err(e) => tracing::debug!(error = %e, "the live board could not read the newest run"),
        }
    }
}
