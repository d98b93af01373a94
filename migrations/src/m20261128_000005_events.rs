//! `events`: every accepted event, durable before the publisher gets its `202`.
//!
//! Idempotency lives in this table rather than a separate one: `(tenant_id, idempotency_key)`
//! is unique, so a repeated `Idempotency-Key` (or an upstream SET's `jti`, which ingest passes
//! as the key) finds the first event, and the check and the insert are one statement
//! (`INSERT … ON CONFLICT DO NOTHING`). The index is a plain unique one, not a partial one:
//! both PostgreSQL and SQLite treat NULLs as distinct, so events without a key never collide,
//! and `ON CONFLICT (tenant_id, idempotency_key)` can name it without repeating a predicate.

use sea_orm_migration::prelude::*;

use crate::{id_and_tenant, index, rls, tenant_fk, ts, ts_null};

pub struct Migration;

const TABLE: &str = "events";

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261128_000005_events"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                id_and_tenant(Table::create().table(TABLE))
                    .col(ColumnDef::new("event_types").json_binary().not_null())
                    .col(ColumnDef::new("sub_id").json_binary().null())
                    .col(ColumnDef::new("payload").json_binary().not_null())
                    .col(ColumnDef::new("txn").text().null())
                    .col(ts_null("toe"))
                    .col(
                        ColumnDef::new("source")
                            .text()
                            .not_null()
                            .check(Expr::col("source").is_in(["api", "upstream"])),
                    )
                    .col(ColumnDef::new("idempotency_key").text().null())
                    .col(ts("received_at"))
                    .foreign_key(&mut tenant_fk(TABLE))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(TABLE, &["tenant_id", "idempotency_key"], true))
            .await?;
        manager
            .create_index(index(TABLE, &["tenant_id", "received_at"], false))
            .await?;
        rls::isolate_tenant_table(manager, TABLE).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TABLE).to_owned())
            .await
    }
}
