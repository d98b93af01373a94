//! SCIM event types (draft-ietf-scim-events-16, `spec/events.md` §4).

use super::FieldKind::{Any, Object, String, StringArray};
use super::Presence::{Forbidden, Optional, Required};
use super::{EventType, Field, Vocabulary};

const VERSION: Field = Field {
    name: "version",
    presence: Optional,
    kind: String,
    description: "The resulting ETag of the resource.",
};

const NOTICE: &[Field] = &[
    Field {
        name: "attributes",
        presence: Required,
        kind: StringArray,
        description: "Paths of the attributes that changed.",
    },
    Field {
        name: "data",
        presence: Forbidden,
        kind: Any,
        description: "Not allowed on a :notice event (use :full).",
    },
    VERSION,
];

const FULL: &[Field] = &[
    Field {
        name: "data",
        presence: Required,
        kind: Object,
        description: "The full resource, or the request body.",
    },
    Field {
        name: "attributes",
        presence: Forbidden,
        kind: Any,
        description: "Not allowed on a :full event (use :notice).",
    },
    VERSION,
];

macro_rules! scim {
    ($suffix:literal, $name:literal, $desc:literal, $fields:expr, $example:literal) => {
        EventType {
            uri: concat!("urn:ietf:params:scim:event:", $suffix),
            name: $name,
            vocabulary: Vocabulary::Scim,
            description: $desc,
            fields: $fields,
            legacy_uris: &[concat!("urn:ietf:params:SCIM:event:", $suffix)],
            subject_formats: None,
            deprecated: false,
            example: $example,
        }
    };
}

pub(super) const TYPES: &[EventType] = &[
    scim!(
        "feed:add",
        "Feed Add",
        "The resource joined the feed.",
        &[],
        "{}"
    ),
    scim!(
        "feed:remove",
        "Feed Remove",
        "The resource left the feed (not deleted).",
        &[],
        "{}"
    ),
    scim!(
        "prov:create:notice",
        "Create (notice)",
        "A resource was created.",
        NOTICE,
        r#"{"attributes":["id","name","userName"],"version":"a330bc54f0671c9"}"#
    ),
    scim!(
        "prov:create:full",
        "Create (full)",
        "A resource was created.",
        FULL,
        r#"{"data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"jdoe"}}"#
    ),
    scim!(
        "prov:patch:notice",
        "Patch (notice)",
        "A resource was patched.",
        NOTICE,
        r#"{"attributes":["members"],"version":"a330bc54f0671c9"}"#
    ),
    scim!(
        "prov:patch:full",
        "Patch (full)",
        "A resource was patched.",
        FULL,
        r#"{"data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[]}}"#
    ),
    scim!(
        "prov:put:notice",
        "Put (notice)",
        "A resource was replaced.",
        NOTICE,
        r#"{"attributes":["userName"]}"#
    ),
    scim!(
        "prov:put:full",
        "Put (full)",
        "A resource was replaced.",
        FULL,
        r#"{"data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"jdoe"}}"#
    ),
    scim!(
        "prov:delete",
        "Delete",
        "A resource was deleted.",
        &[],
        "{}"
    ),
    scim!(
        "prov:activate",
        "Activate",
        "A resource was activated.",
        &[],
        "{}"
    ),
    scim!(
        "prov:deactivate",
        "Deactivate",
        "A resource was deactivated.",
        &[],
        "{}"
    ),
    EventType {
        uri: "urn:ietf:params:scim:event:misc:asyncresp",
        name: "Asynchronous Response",
        vocabulary: Vocabulary::Scim,
        description: "The result of an asynchronous SCIM request (one bulk response operation).",
        fields: &[
            Field {
                name: "method",
                presence: Optional,
                kind: String,
                description: "The HTTP method of the request.",
            },
            Field {
                name: "version",
                presence: Optional,
                kind: String,
                description: "The resulting ETag.",
            },
            Field {
                name: "status",
                presence: Optional,
                kind: String,
                description: "The HTTP status of the operation.",
            },
            Field {
                name: "location",
                presence: Optional,
                kind: String,
                description: "The resource location.",
            },
            Field {
                name: "response",
                presence: Optional,
                kind: Any,
                description: "The response body, if any.",
            },
        ],
        legacy_uris: &[
            "urn:ietf:params:SCIM:event:misc:asyncResp",
            "urn:ietf:params:scim:event:misc:asyncResp",
        ],
        subject_formats: None,
        deprecated: false,
        example: r#"{"method":"PUT","version":"W/\"huJj29dMNgu3WXPD\"","status":"200"}"#,
    },
];
