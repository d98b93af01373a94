use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "streams")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub receiver_id: Uuid,
    #[sea_orm(column_type = "JsonBinary")]
    pub aud: Json,
    pub delivery_method: String,
    pub endpoint_url: Option<String>,
    #[sea_orm(column_type = "Blob", nullable)]
    pub authorization_sealed: Option<Vec<u8>>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub events_requested: Option<Json>,
    #[sea_orm(column_type = "JsonBinary")]
    pub events_delivered: Json,
    pub description: Option<String>,
    pub status: String,
    pub status_reason: Option<String>,
    pub min_verification_interval: i32,
    pub inactivity_timeout: Option<i32>,
    pub last_verification_at: Option<DateTimeUtc>,
    pub last_activity_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub delivery_settings: Option<Json>,
    pub status_set_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
