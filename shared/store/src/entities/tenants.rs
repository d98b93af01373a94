use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub created_at: DateTimeUtc,
    pub streams_version: i64,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub delivery_settings: Option<Json>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub quotas: Option<Json>,
    pub profile: Option<String>,
    pub closed_at: Option<DateTimeUtc>,
    pub purge_after: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
