//! `deliveries` and `delivery_attempts`: the data plane's durable state, and
//! `tenants.streams_version`.
//!
//! - `deliveries`: one row per SET made for a stream (from an event, or a verification or
//!   stream-updated SET). Written before fan-out acknowledges the bus message, so an accepted
//!   event is never lost; `(stream_id, event_id)` is unique, so a redelivered bus message
//!   makes no second SET. `state` is `pending` (push, due at `next_attempt_at`), `held`
//!   (the stream is paused), `queued` (a poll stream's SET waiting to be fetched),
//!   `delivered`, `dead` (retries exhausted or refused by the receiver: kept for redrive) or
//!   `dropped` (the stream was disabled). The signed SET is kept as sent (`set_token`).
//! - `delivery_attempts`: the delivery log, one row per push attempt (status, latency, error,
//!   the first bytes of the answer), read newest first per stream; pruned by age.
//! - `tenants.streams_version`: bumped in the same transaction as every change to a tenant's
//!   streams or their subjects, so fan-out knows when its cached copy is stale without
//!   re-reading the streams for every event.

use sea_orm_migration::prelude::*;

use crate::{id_and_tenant, index, rls, tenant_fk, text, ts, ts_null};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000008_deliveries"
    }
}

const STATES: [&str; 6] = ["pending", "held", "queued", "delivered", "dead", "dropped"];
const KINDS: [&str; 3] = ["event", "verification", "stream_updated"];

fn stream_fk(table: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_stream"))
        .from(table, ("tenant_id", "stream_id"))
        .to("streams", ("tenant_id", "id"))
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("tenants")
                    .add_column(
                        ColumnDef::new("streams_version")
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                id_and_tenant(Table::create().table("deliveries"))
                    .col(ColumnDef::new("stream_id").uuid().not_null())
                    .col(ColumnDef::new("event_id").uuid().null())
                    .col(text("kind").check(Expr::col("kind").is_in(KINDS)))
                    .col(text("jti"))
                    .col(text("set_token"))
                    .col(text("state").check(Expr::col("state").is_in(STATES)))
                    .col(ColumnDef::new("attempts").integer().not_null().default(0))
                    .col(ts_null("next_attempt_at"))
                    .col(ts_null("first_attempt_at"))
                    .col(ColumnDef::new("last_status").integer().null())
                    .col(ColumnDef::new("last_error").text().null())
                    .col(
                        ColumnDef::new("resigned")
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ts("created_at"))
                    .col(ts("updated_at"))
                    .col(ts_null("delivered_at"))
                    .foreign_key(&mut tenant_fk("deliveries"))
                    .foreign_key(&mut stream_fk("deliveries"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("deliveries", &["stream_id", "event_id"], true))
            .await?;
        manager
            .create_index(index(
                "deliveries",
                &["tenant_id", "state", "next_attempt_at"],
                false,
            ))
            .await?;
        manager
            .create_index(index(
                "deliveries",
                &["tenant_id", "stream_id", "created_at"],
                false,
            ))
            .await?;
        rls::isolate_tenant_table(manager, "deliveries").await?;
        manager
            .create_table(
                id_and_tenant(Table::create().table("delivery_attempts"))
                    .col(ColumnDef::new("delivery_id").uuid().not_null())
                    .col(ColumnDef::new("stream_id").uuid().not_null())
                    .col(ts("attempted_at"))
                    .col(ColumnDef::new("status").integer().null())
                    .col(ColumnDef::new("latency_ms").integer().not_null())
                    .col(text("outcome"))
                    .col(ColumnDef::new("error").text().null())
                    .col(ColumnDef::new("response_excerpt").text().null())
                    .foreign_key(&mut tenant_fk("delivery_attempts"))
                    .foreign_key(&mut stream_fk("delivery_attempts"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "delivery_attempts",
                &["tenant_id", "stream_id", "attempted_at"],
                false,
            ))
            .await?;
        manager
            .create_index(index(
                "delivery_attempts",
                &["tenant_id", "delivery_id"],
                false,
            ))
            .await?;
        rls::isolate_tenant_table(manager, "delivery_attempts").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("delivery_attempts").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("deliveries").to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("tenants")
                    .drop_column("streams_version")
                    .to_owned(),
            )
            .await
    }
}
