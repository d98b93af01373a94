//! Quotas in force for a tenant: the configuration's `[quotas]` defaults with the operator's
//! per-tenant overrides (stored on the tenant, set only by `sethub tenant quotas`). The
//! counting itself happens in the store, in the transaction that inserts
//! (`Streams::create_within`, `Streams::put_subject_within`, `Receivers::create_within`), so
//! every surface that creates goes through the same check.

use serde::Serialize;
use sethub_domain::{QuotaOverrides, Quotas, TenantId};
use sethub_store::{StoreError, Tenant};

use crate::AppContext;
use crate::admin::AdminError;

/// The deployment's defaults (`[quotas]`).
pub fn defaults(ctx: &AppContext) -> Quotas {
    let q = &ctx.config.quotas;
    Quotas {
        streams_per_receiver: q.streams_per_receiver,
        receivers_per_tenant: q.receivers_per_tenant,
        streams_per_tenant: q.streams_per_tenant,
        subjects_per_stream: q.subjects_per_stream,
        subject_list_items: q.subject_list_items,
        // Configured with the other sign-in limits; overridable per tenant like every quota.
        sso_starts_per_minute: ctx.config.signin.sso_starts_per_tenant_per_minute,
    }
}

/// The tenant's stored overrides; an unreadable value counts as none (and is logged), so a
/// corrupt row falls back to the defaults rather than lifting every limit.
pub fn overrides(tenant: &Tenant) -> QuotaOverrides {
    match &tenant.quotas {
        None => QuotaOverrides::default(),
        Some(v) => serde_json::from_value(v.clone()).unwrap_or_else(|e| {
            tracing::error!(tenant = %tenant.id, error = %e, "stored quota overrides are invalid; using the defaults");
            QuotaOverrides::default()
        }),
    }
}

/// The limits in force for this tenant.
pub fn of_tenant(ctx: &AppContext, tenant: &Tenant) -> Quotas {
    defaults(ctx).with(&overrides(tenant))
}

/// [`of_tenant`], reading the tenant.
pub async fn for_tenant(ctx: &AppContext, tenant: TenantId) -> Result<Quotas, StoreError> {
    Ok(of_tenant(ctx, &ctx.store.tenants().get(tenant).await?))
}

/// A tenant's quotas as the operator sees them.
#[derive(Debug, Clone, Serialize)]
pub struct QuotaReport {
    pub tenant_id: TenantId,
    pub slug: String,
    /// What the operator set for this tenant.
    pub overrides: QuotaOverrides,
    /// What applies: the defaults with the overrides.
    pub effective: Quotas,
}

/// Why the operator's change was refused.
#[derive(Debug, thiserror::Error)]
pub enum QuotaChangeError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Admin(#[from] AdminError),
}

/// The operator's change: the limits named in `set` replace the tenant's overrides (with
/// `reset`, every override is dropped first). The result must be valid (each limit at least
/// 1; list items at most the parse ceiling), else nothing is written.
pub async fn set_overrides(
    ctx: &AppContext,
    slug: &str,
    set: &QuotaOverrides,
    reset: bool,
) -> Result<QuotaReport, QuotaChangeError> {
    let tenant = crate::admin::tenant_by_slug(ctx, slug).await?;
    let base = if reset {
        QuotaOverrides::default()
    } else {
        overrides(&tenant)
    };
    let next = base.merged(set);
    defaults(ctx)
        .with(&next)
        .validate()
        .map_err(QuotaChangeError::Invalid)?;
    let stored = (!next.is_empty())
        .then(|| serde_json::to_value(next))
        .transpose()
        .map_err(|e| QuotaChangeError::Invalid(e.to_string()))?;
    let tenant = ctx
        .store
        .tenants()
        .set_quotas(tenant.id, stored)
        .await
        .map_err(AdminError::from)?;
    tracing::info!(tenant = %tenant.id, slug, "quota overrides changed");
    Ok(report(ctx, &tenant))
}

/// The tenant's quotas, unchanged.
pub fn report(ctx: &AppContext, tenant: &Tenant) -> QuotaReport {
    QuotaReport {
        tenant_id: tenant.id,
        slug: tenant.slug.clone(),
        overrides: overrides(tenant),
        effective: of_tenant(ctx, tenant),
    }
}
