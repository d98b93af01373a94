use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "upstream_transmitters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub issuer: String,
    pub audience: String,
    pub jwks_url: Option<String>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub jwks: Option<Json>,
    pub created_at: DateTimeUtc,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub subscription: Option<Json>,
    pub client_secret: Option<String>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub subscription_status: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
