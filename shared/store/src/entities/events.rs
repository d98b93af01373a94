use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    #[sea_orm(column_type = "JsonBinary")]
    pub event_types: Json,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub sub_id: Option<Json>,
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    pub txn: Option<String>,
    pub toe: Option<DateTimeUtc>,
    pub source: String,
    pub idempotency_key: Option<String>,
    pub received_at: DateTimeUtc,
    pub published_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
