//! Admin commands (`sethub tenant|receiver|key|apikey …`): the operations of
//! `sethub_app::admin` over the configured database, printing JSON on stdout. They use the
//! services' configuration, migrate first, and need neither RabbitMQ nor Redis.

use anyhow::Context;
use clap::Subcommand;
use serde::Serialize;
use sethub_app::admin::{self, DisplayName, Scope, TenantSlug};
use sethub_app::keys::{self, RotateMode};
use sethub_app::{AppContext, connect_store_only, quotas};
use sethub_config::Config;
use sethub_domain::{ApiKeyId, Profile, QuotaOverrides, UpstreamId};
use sethub_jose::KeySpec;
use url::Url;

use crate::cli::Command;

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant with its first signing key and an API key (scopes events:publish and
    /// admin). Prints {"tenant_id", "slug", "issuer", "api_key"}; the key is shown only now.
    Create {
        /// 3-40 of a-z 0-9 -, not starting or ending with -; names the tenant in its URLs.
        #[arg(long)]
        slug: String,
        /// Display name (default: the slug).
        #[arg(long)]
        name: Option<String>,
        /// SET signing algorithm: RS256, ES256 or EdDSA (default: ES256, or RS256 with
        /// --profile caep-interop).
        #[arg(long)]
        alg: Option<String>,
        /// RS256 key size: 2048 (default) or 3072.
        #[arg(long)]
        rsa_bits: Option<u32>,
        /// Interoperability profile: caep-interop (RS256 keys; reason_admin required on
        /// session-revoked and credential-change).
        #[arg(long)]
        profile: Option<String>,
    },
    /// Switch a tenant's interoperability profile: caep-interop, or none. Switching
    /// caep-interop on rotates at once to an RS256 key if the tenant signs otherwise. Prints
    /// {"tenant", "rotation"}.
    Profile {
        #[arg(long)]
        tenant: String,
        /// caep-interop or none.
        #[arg(long)]
        profile: String,
    },
    /// Show or change a tenant's quotas (the operator's overrides of `[quotas]`). Each flag
    /// given replaces that limit for this tenant; --reset drops every override first. Prints
    /// {"tenant_id", "slug", "overrides", "effective"}.
    Quotas {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        streams_per_receiver: Option<u32>,
        #[arg(long)]
        receivers_per_tenant: Option<u32>,
        #[arg(long)]
        streams_per_tenant: Option<u32>,
        #[arg(long)]
        subjects_per_stream: Option<u32>,
        /// Items of any list inside a subject (aliases, ip-addresses, ...); at most 1000.
        #[arg(long)]
        subject_list_items: Option<u32>,
        /// "Sign in with single sign-on" starts per minute (console and portals together).
        #[arg(long)]
        sso_starts_per_minute: Option<u32>,
        /// Back to the configuration's defaults (then apply the flags given).
        #[arg(long)]
        reset: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReceiverCommand {
    /// Create a receiver with client credentials. Prints {"receiver_id", "client_id",
    /// "client_secret", "token_endpoint"}; the secret is shown only now.
    Create {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Rotate the tenant's signing key. Without --now: publish a next key; run it again once
    /// that key has been published for 24 h to make it sign. With --now: make a next key sign
    /// at once; the old key stays published (retiring) for 7 days.
    Rotate {
        #[arg(long)]
        tenant: String,
        /// Promote now instead of after the 24 h publication lead (e.g. a suspected leak).
        #[arg(long)]
        now: bool,
        /// Switch to this algorithm (RS256, ES256, EdDSA); default: the current one. The old
        /// key stays published through the overlap.
        #[arg(long)]
        alg: Option<String>,
        /// RS256 key size: 2048 (default) or 3072.
        #[arg(long)]
        rsa_bits: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key. Prints {"api_key_id", "api_key", "scopes"}; the key is shown only now.
    Create {
        #[arg(long)]
        tenant: String,
        /// Display name.
        #[arg(long, default_value = "api key")]
        name: String,
        /// events:publish or admin; repeat for several (default: events:publish).
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// Revoke an API key at once.
    Revoke {
        #[arg(long)]
        tenant: String,
        /// The key's id (key_…).
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UpstreamCommand {
    /// Subscribe the tenant to an upstream SSF transmitter: discover it from its issuer, get a
    /// token with the client credentials, create a stream (push to the tenant's
    /// /t/{slug}/sets, or poll) and ask for a verification. Prints {"upstream_id",
    /// "stream_id", "status"}.
    Subscribe {
        #[arg(long)]
        tenant: String,
        /// The transmitter's issuer; its metadata URL is derived (path insertion).
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        client_id: String,
        #[arg(long)]
        client_secret: String,
        /// push or poll.
        #[arg(long, default_value = "push")]
        delivery: String,
    },
    /// The tenant's upstream transmitters with their status. Prints an array.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Remove an upstream transmitter, deleting its stream at the transmitter first. Prints
    /// {"upstream_id", "remote_stream_deleted"}.
    Remove {
        #[arg(long)]
        tenant: String,
        /// The upstream's id (ups_…).
        #[arg(long)]
        id: String,
    },
}

/// Whether the command is an admin command (they print JSON and do not log).
pub fn is_admin(command: &Command) -> bool {
    matches!(
        command,
        Command::Tenant(_)
            | Command::Receiver(_)
            | Command::Key(_)
            | Command::Apikey(_)
            | Command::Upstream(_)
    )
}

/// The database, migrated; the public URL the services hand out.
async fn connect(config: Config) -> anyhow::Result<AppContext> {
    let public_url = match &config.server.public_url {
        Some(url) => url.clone(),
        None => Url::parse(&format!("http://{}", config.server.listen)).with_context(|| {
            format!(
                "server.listen `{}` does not make a URL; set server.public_url",
                config.server.listen
            )
        })?,
    };
    Ok(connect_store_only(config, public_url, true).await?)
}

fn print(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn parse<T: std::str::FromStr<Err = String>>(flag: &str, value: &str) -> anyhow::Result<T> {
    value
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--{flag}: {e}"))
}

pub async fn tenant(config: Config, command: TenantCommand) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create {
            slug,
            name,
            alg,
            rsa_bits,
            profile,
        } => {
            let slug: TenantSlug = parse("slug", &slug)?;
            let name: DisplayName = parse("name", name.as_deref().unwrap_or(slug.as_str()))?;
            let options = admin::TenantOptions {
                key: key_spec(alg.as_deref(), rsa_bits)?,
                profile: profile.as_deref().map(parse_profile).transpose()?.flatten(),
            };
            options
                .key_spec()
                .map_err(|e| anyhow::anyhow!("--alg: {e}"))?;
            let ctx = connect(config).await?;
            print(&admin::create_tenant_with_owner(&ctx, &slug, &name, options, None).await?)
        }
        TenantCommand::Profile { tenant, profile } => {
            let profile = parse_profile(&profile)?;
            let ctx = connect(config).await?;
            let t = admin::tenant_by_slug(&ctx, &tenant).await?;
            let (info, rotation) = admin::set_profile(&ctx, t.id, profile).await?;
            print(&serde_json::json!({ "tenant": info, "rotation": rotation }))
        }
        TenantCommand::Quotas {
            tenant,
            streams_per_receiver,
            receivers_per_tenant,
            streams_per_tenant,
            subjects_per_stream,
            subject_list_items,
            sso_starts_per_minute,
            reset,
        } => {
            let set = QuotaOverrides {
                streams_per_receiver,
                receivers_per_tenant,
                streams_per_tenant,
                subjects_per_stream,
                subject_list_items,
                sso_starts_per_minute,
            };
            let ctx = connect(config).await?;
            if set.is_empty() && !reset {
                let t = admin::tenant_by_slug(&ctx, &tenant).await?;
                return print(&quotas::report(&ctx, &t));
            }
            print(&quotas::set_overrides(&ctx, &tenant, &set, reset).await?)
        }
    }
}

pub async fn receiver(config: Config, command: ReceiverCommand) -> anyhow::Result<()> {
    let ReceiverCommand::Create { tenant, name } = command;
    let name: DisplayName = parse("name", &name)?;
    let ctx = connect(config).await?;
    let t = admin::tenant_by_slug(&ctx, &tenant).await?;
    print(&admin::create_receiver(&ctx, t.id, &name).await?)
}

pub async fn key(config: Config, command: KeyCommand) -> anyhow::Result<()> {
    let KeyCommand::Rotate {
        tenant,
        now,
        alg,
        rsa_bits,
    } = command;
    let spec = key_spec(alg.as_deref(), rsa_bits)?;
    let ctx = connect(config).await?;
    let t = admin::tenant_by_slug(&ctx, &tenant).await?;
    let mode = if now {
        RotateMode::Now
    } else {
        RotateMode::Scheduled
    };
    print(&keys::rotate_to(&ctx, t.id, mode, spec, chrono::Utc::now()).await?)
}

/// `--alg` and `--rsa-bits` as a key spec (none given: `None`; `--rsa-bits` alone: RS256).
fn key_spec(alg: Option<&str>, rsa_bits: Option<u32>) -> anyhow::Result<Option<KeySpec>> {
    KeySpec::from_options(alg, rsa_bits).map_err(|e| match e {
        sethub_jose::SpecError::UnknownAlg(_) => anyhow::anyhow!("--alg: {e}"),
        _ => anyhow::anyhow!("--rsa-bits: {e}"),
    })
}

/// `--profile`: `caep-interop`, or `none`.
fn parse_profile(name: &str) -> anyhow::Result<Option<Profile>> {
    if name == "none" {
        return Ok(None);
    }
    Profile::from_name(name).map(Some).ok_or_else(|| {
        anyhow::anyhow!("--profile: unknown profile `{name}` (caep-interop or none)")
    })
}

pub async fn apikey(config: Config, command: ApiKeyCommand) -> anyhow::Result<()> {
    match command {
        ApiKeyCommand::Create {
            tenant,
            name,
            scopes,
        } => {
            let name: DisplayName = parse("name", &name)?;
            let mut parsed: Vec<Scope> = scopes
                .iter()
                .map(|s| parse("scope", s))
                .collect::<anyhow::Result<_>>()?;
            if parsed.is_empty() {
                parsed.push(Scope::EventsPublish);
            }
            let ctx = connect(config).await?;
            let t = admin::tenant_by_slug(&ctx, &tenant).await?;
            print(&admin::create_api_key(&ctx, t.id, &name, &parsed).await?)
        }
        ApiKeyCommand::Revoke { tenant, id } => {
            let id: ApiKeyId = id.parse().map_err(|e| anyhow::anyhow!("--id: {e}"))?;
            let ctx = connect(config).await?;
            let t = admin::tenant_by_slug(&ctx, &tenant).await?;
            let key = admin::revoke_api_key(&ctx, t.id, id).await?;
            print(&serde_json::json!({
                "api_key_id": key.id,
                "revoked_at": key.revoked_at,
            }))
        }
    }
}

pub async fn upstream(config: Config, command: UpstreamCommand) -> anyhow::Result<()> {
    use sethub_app::upstream_rx::{self, Delivery, SubscribeRequest};
    match command {
        UpstreamCommand::Subscribe {
            tenant,
            issuer,
            client_id,
            client_secret,
            delivery,
        } => {
            let delivery: Delivery = parse("delivery", &delivery)?;
            let ctx = connect(config).await?;
            let t = admin::tenant_by_slug(&ctx, &tenant).await?;
            let req = SubscribeRequest {
                issuer: &issuer,
                client_id: &client_id,
                client_secret: &client_secret,
                delivery,
            };
            print(&upstream_rx::subscribe(&ctx, &t, req).await?)
        }
        UpstreamCommand::List { tenant } => {
            let ctx = connect(config).await?;
            let t = admin::tenant_by_slug(&ctx, &tenant).await?;
            print(&upstream_rx::list(&ctx, t.id).await?)
        }
        UpstreamCommand::Remove { tenant, id } => {
            let id: UpstreamId = id.parse().map_err(|e| anyhow::anyhow!("--id: {e}"))?;
            let ctx = connect(config).await?;
            let t = admin::tenant_by_slug(&ctx, &tenant).await?;
            print(&upstream_rx::remove(&ctx, t.id, id).await?)
        }
    }
}
