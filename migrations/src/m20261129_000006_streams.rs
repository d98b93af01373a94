//! `streams` and `stream_subjects`: SSF streams of a tenant's receivers (SSF 1.0 §4) and the
//! subjects added to or removed from them (§7).
//!
//! - `aud`, `events_requested` and `events_delivered` are JSON arrays (`events_requested` is
//!   NULL when the receiver never sent one: that means "every supported type").
//! - The push `authorization_header` is sealed (AES-256-GCM under a master key) and stored as
//!   bytes with the id of the master key that sealed it; it is never returned by the API.
//! - `stream_subjects` keeps one row per (stream, canonical subject key) with `added` telling
//!   whether the subject is in (true) or was removed (false): with `default_subjects: ALL` a
//!   removal must be remembered, with `NONE` an addition.

use sea_orm_migration::prelude::*;

use crate::{id_and_tenant, index, rls, tenant_fk, text, ts, ts_null};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000006_streams"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Foreign keys are checked without row-level security, so a plain `receiver_id` FK
        // would let one tenant's stream point at another tenant's receiver. Composite keys
        // `(tenant_id, id)` make the database refuse that.
        manager
            .create_index(index("receivers", &["tenant_id", "id"], true))
            .await?;
        manager
            .create_table(
                id_and_tenant(Table::create().table("streams"))
                    .col(ColumnDef::new("receiver_id").uuid().not_null())
                    .col(ColumnDef::new("aud").json_binary().not_null())
                    .col(
                        text("delivery_method")
                            .check(Expr::col("delivery_method").is_in(["push", "poll"])),
                    )
                    .col(ColumnDef::new("endpoint_url").text().null())
                    .col(ColumnDef::new("authorization_sealed").binary().null())
                    .col(ColumnDef::new("events_requested").json_binary().null())
                    .col(ColumnDef::new("events_delivered").json_binary().not_null())
                    .col(ColumnDef::new("description").text().null())
                    .col(
                        text("status")
                            .check(Expr::col("status").is_in(["enabled", "paused", "disabled"])),
                    )
                    .col(ColumnDef::new("status_reason").text().null())
                    .col(
                        ColumnDef::new("min_verification_interval")
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new("inactivity_timeout").integer().null())
                    .col(ts_null("last_verification_at"))
                    .col(ts("last_activity_at"))
                    .col(ts("created_at"))
                    .col(ts("updated_at"))
                    .foreign_key(&mut tenant_fk("streams"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_streams_receiver")
                            .from("streams", ("tenant_id", "receiver_id"))
                            .to("receivers", ("tenant_id", "id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("streams", &["tenant_id", "receiver_id"], false))
            .await?;
        manager
            .create_index(index("streams", &["tenant_id", "id"], true))
            .await?;
        rls::isolate_tenant_table(manager, "streams").await?;

        manager
            .create_table(
                Table::create()
                    .table("stream_subjects")
                    .col(ColumnDef::new("tenant_id").uuid().not_null())
                    .col(ColumnDef::new("stream_id").uuid().not_null())
                    .col(text("subject_key"))
                    .col(ColumnDef::new("subject").json_binary().not_null())
                    .col(ColumnDef::new("added").boolean().not_null())
                    .col(ColumnDef::new("verified").boolean().not_null())
                    .col(ts("updated_at"))
                    .primary_key(Index::create().col("stream_id").col("subject_key"))
                    .foreign_key(&mut tenant_fk("stream_subjects"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_stream_subjects_stream")
                            .from("stream_subjects", ("tenant_id", "stream_id"))
                            .to("streams", ("tenant_id", "id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "stream_subjects",
                &["tenant_id", "subject_key"],
                false,
            ))
            .await?;
        rls::isolate_tenant_table(manager, "stream_subjects").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("stream_subjects").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("streams").to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_receivers_tenant_id_id")
                    .table("receivers")
                    .to_owned(),
            )
            .await
    }
}
