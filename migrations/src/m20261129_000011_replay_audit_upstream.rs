//! Replay, the audit log and upstream transmitters.
//!
//! - `deliveries.generation`: `0` for the delivery fan-out made; a replay of an event to a
//!   stream makes a new delivery with a new generation, so the unique key of a delivery is now
//!   `(stream_id, event_id, generation)` (a redelivered bus message still adds nothing).
//! - `audit_log`: who asked for what (redrives, replays, upstream transmitters), kept per tenant.
//! - `upstream_transmitters`: the SET transmitters a tenant accepts SETs from (issuer, expected
//!   audience, and a JWKS URL or an inline JWKS).

use sea_orm_migration::prelude::*;

use crate::{id_and_tenant, index, rls, tenant_fk, text, ts};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000011_replay_audit_upstream"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("deliveries")
                    .add_column(
                        ColumnDef::new("generation")
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_deliveries_stream_id_event_id")
                    .table("deliveries")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "deliveries",
                &["stream_id", "event_id", "generation"],
                true,
            ))
            .await?;
        manager
            .create_table(
                id_and_tenant(Table::create().table("audit_log"))
                    .col(ts("at"))
                    .col(text("actor"))
                    .col(text("action"))
                    .col(ColumnDef::new("target").text().null())
                    .col(ColumnDef::new("details").json_binary().not_null())
                    .foreign_key(&mut tenant_fk("audit_log"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("audit_log", &["tenant_id", "at"], false))
            .await?;
        rls::isolate_tenant_table(manager, "audit_log").await?;
        manager
            .create_table(
                id_and_tenant(Table::create().table("upstream_transmitters"))
                    .col(text("issuer"))
                    .col(text("audience"))
                    .col(ColumnDef::new("jwks_url").text().null())
                    .col(ColumnDef::new("jwks").json_binary().null())
                    .col(ts("created_at"))
                    .foreign_key(&mut tenant_fk("upstream_transmitters"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "upstream_transmitters",
                &["tenant_id", "issuer"],
                true,
            ))
            .await?;
        rls::isolate_tenant_table(manager, "upstream_transmitters").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["upstream_transmitters", "audit_log"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("ix_deliveries_stream_id_event_id_generation")
                    .table("deliveries")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("deliveries", &["stream_id", "event_id"], true))
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("deliveries")
                    .drop_column("generation")
                    .to_owned(),
            )
            .await
    }
}
