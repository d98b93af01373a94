//! Sessions kept on the server, in the state store (actix-session's `SessionStore` over
//! `sethub_state`), so the handlers keep using actix-session's `Session` unchanged. The
//! cookie holds only a random id; this store enforces the idle lifetime (the record's expiry,
//! pushed back on each request) and the absolute one (the time the session began, checked on
//! each load), and lists every signed-in session under its member so all of them can be
//! ended at once (`sethub_app::sessions::end_all`).

use std::collections::HashMap;
use std::time::Duration;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as CookieDuration;
use sethub_app::AppContext;
use sethub_app::sessions::{self, Lifetimes, Surface};
use sethub_domain::{MemberId, TenantId};
use sethub_state::Key;

use super::session::{MEMBER, TENANT};

/// The session field holding when the session began (Unix seconds), set by the store.
const BEGAN: &str = "_began";

/// The longest a session without a sign-in (a visitor's CSRF token) lives: records made by
/// anyone who opens the sign-in page go soon.
const ANONYMOUS_MAX: Duration = Duration::from_secs(30 * 60);

type State = HashMap<String, String>;

/// The state-store backed session storage of one surface (console or portal).
pub struct StateSessions {
    ctx: AppContext,
    surface: Surface,
    lifetimes: Lifetimes,
}

impl StateSessions {
    pub fn new(ctx: AppContext, surface: Surface) -> Self {
        let lifetimes = Lifetimes::of(&ctx);
        Self {
            ctx,
            surface,
            lifetimes,
        }
    }

    fn record(&self, key: &SessionKey) -> Option<Key> {
        let id = key.as_ref();
        sessions::valid_id(id).then(|| sessions::session_key(&self.ctx, self.surface, id))
    }

    /// The member's list of sessions, for a signed-in session.
    fn index(&self, state: &State) -> Option<Key> {
        let field = |name: &str| {
            state
                .get(name)
                .and_then(|v| serde_json::from_str::<String>(v).ok())
        };
        let tenant = field(TENANT)?.parse::<TenantId>().ok()?;
        let member = field(MEMBER)?.parse::<MemberId>().ok()?;
        Some(sessions::member_index(&self.ctx, tenant, member))
    }

    /// How long the session may still live: the idle lifetime, cut at the absolute one;
    /// `None` once past it (or when it carries no beginning).
    fn remaining(&self, state: &State) -> Option<Duration> {
        let began: i64 = state.get(BEGAN)?.parse().ok()?;
        let age = u64::try_from(chrono::Utc::now().timestamp() - began).unwrap_or(0);
        let max = if state.contains_key(MEMBER) {
            self.lifetimes.max
        } else {
            self.lifetimes.max.min(ANONYMOUS_MAX)
        };
        let left = max.checked_sub(Duration::from_secs(age))?;
        (!left.is_zero()).then(|| left.min(self.lifetimes.idle))
    }

    /// The live session at `record`, with its state; ends it once past its lifetime.
    async fn live(&self, record: &Key) -> anyhow::Result<Option<(State, Duration)>> {
        let Some(raw) = self.ctx.state.get(record).await? else {
            return Ok(None);
        };
        let state: State = serde_json::from_str(&raw)?;
        match self.remaining(&state) {
            Some(ttl) => Ok(Some((state, ttl))),
            None => {
                self.ctx
                    .state
                    .delete_indexed(record, self.index(&state).as_ref())
                    .await?;
                Ok(None)
            }
        }
    }

    async fn put_new(&self, mut state: State) -> anyhow::Result<SessionKey> {
        state.insert(BEGAN.into(), chrono::Utc::now().timestamp().to_string());
        let id =
            sessions::new_id().map_err(|_| anyhow::anyhow!("no randomness for a session id"))?;
        let record = sessions::session_key(&self.ctx, self.surface, &id);
        let ttl = self.remaining(&state).unwrap_or(self.lifetimes.idle);
        self.ctx
            .state
            .put_indexed(
                &record,
                &serde_json::to_string(&state)?,
                ttl,
                self.index(&state).as_ref(),
            )
            .await?;
        SessionKey::try_from(id).map_err(anyhow::Error::from)
    }
}

impl SessionStore for StateSessions {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        let Some(record) = self.record(key) else {
            return Ok(None);
        };
        match self.live(&record).await {
            Ok(live) => Ok(live.map(|(state, _)| state)),
            Err(e) => Err(LoadError::Other(e)),
        }
    }

    /// A new session (first write of a visitor, or sign-in, which renews the id): it begins
    /// now.
    async fn save(&self, state: State, _ttl: &CookieDuration) -> Result<SessionKey, SaveError> {
        self.put_new(state).await.map_err(SaveError::Other)
    }

    /// A changed session. A session ended meanwhile (signed out elsewhere, member removed)
    /// is not brought back: what the request wrote goes to a new session without the
    /// sign-in.
    async fn update(
        &self,
        key: SessionKey,
        mut state: State,
        _ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        let written = match (self.record(&key), self.remaining(&state)) {
            (Some(record), Some(ttl)) => {
                let value = serde_json::to_string(&state)
                    .map_err(|e| UpdateError::Serialization(e.into()))?;
                self.ctx
                    .state
                    .replace_indexed(&record, &value, ttl, self.index(&state).as_ref())
                    .await
                    .map_err(|e| UpdateError::Other(e.into()))?
            }
            _ => false,
        };
        if written {
            return Ok(key);
        }
        state.remove(TENANT);
        state.remove(MEMBER);
        self.put_new(state).await.map_err(UpdateError::Other)
    }

    /// A request that changed nothing: the idle lifetime starts again (cut at the absolute
    /// one).
    async fn update_ttl(&self, key: &SessionKey, _ttl: &CookieDuration) -> anyhow::Result<()> {
        let Some(record) = self.record(key) else {
            return Ok(());
        };
        if let Some((state, ttl)) = self.live(&record).await? {
            self.ctx
                .state
                .expire_indexed(&record, ttl, self.index(&state).as_ref())
                .await?;
        }
        Ok(())
    }

    /// Sign-out (or a renewed id): the session ends here, for every copy of its cookie.
    async fn delete(&self, key: &SessionKey) -> anyhow::Result<()> {
        let Some(record) = self.record(key) else {
            return Ok(());
        };
        let index = match self.ctx.state.get(&record).await? {
            Some(raw) => serde_json::from_str::<State>(&raw)
                .ok()
                .and_then(|state| self.index(&state)),
            None => None,
        };
        self.ctx
            .state
            .delete_indexed(&record, index.as_ref())
            .await?;
        Ok(())
    }
}
