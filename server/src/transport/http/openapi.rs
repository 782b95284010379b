//! The OpenAPI 3.1 document of the REST part, built from two sources that cannot drift from
//! the server:
//!
//! - the paths from the route table: each documented route's method, pattern, whether it needs
//!   a session (→ `security`), its body, query and success as its [`Doc`] states them, and its
//!   errors — those every route of its kind answers, derived here by [`errors`], plus its own;
//! - the component schemas from the `protocol` types (`schemars`, feature `schema`), whose
//!   lengths, patterns and enums are built from the constants `protocol::validate` enforces.
//!
//! Request bodies are described as serde reads them, answers as serde writes them (one schema
//! generator per direction). This module knows nothing of the route table (the table imports
//! it, to describe its routes): `routes` hands it one [`Operation`] per documented route and
//! serves the result, and its tests hold the real document against the table.

use std::collections::BTreeMap;

use http::Method;
use protocol::{ErrorBody, ErrorCode};
use schemars::generate::{Contract, SchemaSettings};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

/// A schema from a protocol type (or the handler's own): `$ref`s into the document's
/// components.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// What a route answers when it succeeds.
#[derive(Clone, Copy)]
pub enum Success {
    /// A JSON body.
    Json(u16, SchemaFn),
    /// No body (`204`, or `101` for the socket).
    Empty(u16),
    /// A body of this content type.
    Text(&'static str),
}

/// How the document describes a route (one per entry of the route table). The errors every
/// route of its kind can answer (401 for a session route, 403 where the `Origin` is checked,
/// 400/413/422 for a body, 404 for an id, 500, 503) are derived by [`errors`]; `errors` here
/// lists only the route's own.
pub struct Doc {
    pub summary: &'static str,
    /// The JSON body it reads.
    pub body: Option<SchemaFn>,
    /// Its one query parameter, if it has one.
    pub query: Option<(&'static str, SchemaFn)>,
    pub success: Success,
    /// What the success means (cookies set, …).
    pub outcome: &'static str,
    pub errors: &'static [ErrorCode],
    /// A public route that still acts on the session its credentials name (logout).
    pub reads_session: bool,
}

/// The start of a route's [`Doc`]; the methods below add to it.
pub const fn doc(summary: &'static str) -> Doc {
    Doc {
        summary,
        body: None,
        query: None,
        success: Success::Empty(204),
        outcome: "done",
        errors: &[],
        reads_session: false,
    }
}

impl Doc {
    pub const fn body<T: JsonSchema>(mut self) -> Self {
        self.body = Some(schema::<T>);
        self
    }

    pub const fn query(mut self, name: &'static str, schema: SchemaFn) -> Self {
        self.query = Some((name, schema));
        self
    }

    /// Success with a JSON body of type `T`.
    pub const fn json<T: JsonSchema>(mut self, status: u16, outcome: &'static str) -> Self {
        self.success = Success::Json(status, schema::<T>);
        self.outcome = outcome;
        self
    }

    /// Success without a body.
    pub const fn empty(mut self, status: u16, outcome: &'static str) -> Self {
        self.success = Success::Empty(status);
        self.outcome = outcome;
        self
    }

    pub const fn text(mut self, content_type: &'static str, outcome: &'static str) -> Self {
        self.success = Success::Text(content_type);
        self.outcome = outcome;
        self
    }

    pub const fn errors(mut self, errors: &'static [ErrorCode]) -> Self {
        self.errors = errors;
        self
    }

    pub const fn reads_session(mut self) -> Self {
        self.reads_session = true;
        self
    }
}

/// One documented route, as the document sees it.
pub struct Operation<'a> {
    pub method: &'a Method,
    pub pattern: &'static str,
    /// The `operationId`.
    pub name: &'static str,
    /// The route table requires a session.
    pub needs_session: bool,
    /// The request's `Origin` is checked (an unsafe method, the socket upgrade).
    pub origin_checked: bool,
    pub doc: &'a Doc,
}

impl Operation<'_> {
    /// Whether it acts on the caller's session (and so says how to present it).
    fn uses_session(&self) -> bool {
        self.needs_session || self.doc.reads_session
    }
}

/// A schema generator whose `$ref`s point into the document's components.
fn generator(contract: Contract) -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
            s.contract = contract;
        })
        .into_generator()
}

/// The document for these operations.
pub fn document<'a>(operations: impl IntoIterator<Item = Operation<'a>>) -> Value {
    let mut reads = generator(Contract::Deserialize);
    let mut writes = generator(Contract::Serialize);
    let mut paths = Map::new();
    for op in operations {
        let item = paths.entry(op.pattern).or_insert_with(|| json!({}));
        if op.pattern.contains("{id}") {
            item["parameters"] = json!([{
                "name": "id", "in": "path", "required": true,
                // What resolution accepts: a positive decimal of at most 18 digits.
                "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 999_999_999_999_999_999_i64},
            }]);
        }
        item[op.method.as_str().to_lowercase()] = operation(&op, &mut reads, &mut writes);
    }
    let mut schemas = reads.take_definitions(true);
    schemas.extend(writes.take_definitions(true));
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Realtime todo server",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The REST part of the wire contract (docs/CONTRACT.md). The WebSocket at /ws carries the live part. Every error body is an ErrorBody; a known path with another method is 405 method_not_allowed with an Allow header.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": protocol::ACCESS_COOKIE},
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
            "schemas": schemas,
        },
    })
}

/// Every error an operation can answer: those of its kind, then its own; sorted by status.
pub fn errors(op: &Operation) -> Vec<ErrorCode> {
    let mut codes = vec![ErrorCode::Internal, ErrorCode::Unavailable];
    if op.uses_session() {
        codes.push(ErrorCode::Unauthenticated);
    }
    if op.origin_checked {
        codes.push(ErrorCode::ForbiddenOrigin);
    }
    if op.doc.body.is_some() {
        codes.extend([
            ErrorCode::BadRequest,
            ErrorCode::PayloadTooLarge,
            ErrorCode::ValidationFailed,
        ]);
    }
    if op.pattern.contains("{id}") {
        codes.push(ErrorCode::NotFound);
    }
    codes.extend(op.doc.errors);
    codes.sort_by_key(|c| (c.status(), c.as_str()));
    codes.dedup();
    codes
}

fn operation(op: &Operation, reads: &mut SchemaGenerator, writes: &mut SchemaGenerator) -> Value {
    let doc = op.doc;
    let mut responses = Map::new();
    let (status, content) = match doc.success {
        Success::Json(status, schema) => (
            status,
            Some(json!({"application/json": {"schema": schema(writes)}})),
        ),
        Success::Empty(status) => (status, None),
        Success::Text(content_type) => (200, Some(json!({content_type: {}}))),
    };
    let mut ok = json!({"description": doc.outcome});
    if let Some(content) = content {
        ok["content"] = content;
    }
    responses.insert(status.to_string(), ok);

    // One answer per status, its `code` narrowed to the codes this operation gives with it.
    let error_body = writes.subschema_for::<ErrorBody>();
    let mut by_status: BTreeMap<u16, Vec<&str>> = BTreeMap::new();
    for code in errors(op) {
        by_status
            .entry(code.status())
            .or_default()
            .push(code.as_str());
    }
    for (status, codes) in by_status {
        let mut answer = json!({
            "description": codes.join(" or "),
            "content": {"application/json": {"schema": {"allOf": [
                error_body,
                {"properties": {"error": {"properties": {"code": {"enum": codes}}}}},
            ]}}},
        });
        if status == ErrorCode::RateLimited.status() {
            answer["headers"] = json!({"Retry-After": {
                "description": "seconds to wait",
                "required": true,
                "schema": {"type": "integer", "minimum": 1},
            }});
        }
        responses.insert(status.to_string(), answer);
    }

    let mut out = json!({
        "operationId": op.name,
        "summary": doc.summary,
        "responses": responses,
    });
    if op.uses_session() {
        out["security"] = json!([{"cookieAuth": []}, {"bearerAuth": []}]);
    }
    if let Some(body) = doc.body {
        out["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": body(reads)}},
        });
    }
    if let Some((name, schema)) = doc.query {
        out["parameters"] = json!([{"name": name, "in": "query", "schema": schema(reads)}]);
    }
    out
}

#[cfg(test)]
mod tests {
    //! The builder on a small table of its own; `routes`' tests hold the real document against
    //! the real table.

    use super::*;
    use protocol::{CreateTodo, TodoResponse};

    fn op<'a>(
        method: &'a Method,
        pattern: &'static str,
        session: bool,
        doc: &'a Doc,
    ) -> Operation<'a> {
        Operation {
            method,
            pattern,
            name: pattern,
            needs_session: session,
            origin_checked: *method != Method::GET,
            doc,
        }
    }

    fn statuses(doc: &Value, method: &str, path: &str) -> Vec<String> {
        doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn each_operation_lists_the_errors_of_its_kind_and_its_own() {
        let create = doc("create")
            .body::<CreateTodo>()
            .json::<TodoResponse>(201, "created")
            .errors(&[ErrorCode::QuotaExceeded]);
        let delete = doc("delete").empty(204, "deleted");
        let login = doc("login")
            .body::<CreateTodo>()
            .json::<TodoResponse>(200, "in")
            .errors(&[ErrorCode::InvalidCredentials, ErrorCode::RateLimited]);
        let health = doc("health").text("text/plain", "up");
        let logout = doc("logout").reads_session();
        let (get, post, del) = (Method::GET, Method::POST, Method::DELETE);
        let d = document([
            op(&post, "/todos", true, &create),
            op(&del, "/todos/{id}", true, &delete),
            op(&post, "/login", false, &login),
            op(&get, "/health", false, &health),
            op(&post, "/logout", false, &logout),
        ]);
        assert_eq!(
            statuses(&d, "post", "/todos"),
            [
                "201", "400", "401", "403", "409", "413", "422", "500", "503"
            ]
        );
        assert_eq!(
            statuses(&d, "delete", "/todos/{id}"),
            ["204", "401", "403", "404", "500", "503"]
        );
        assert_eq!(statuses(&d, "get", "/health"), ["200", "500", "503"]);
        assert_eq!(
            statuses(&d, "post", "/logout"),
            ["204", "401", "403", "500", "503"]
        );
        // 401 on login is only invalid_credentials; 429 carries Retry-After.
        let login = &d["paths"]["/login"]["post"]["responses"];
        assert_eq!(
            login["401"]["content"]["application/json"]["schema"]["allOf"][1]["properties"]["error"]
                ["properties"]["code"]["enum"],
            json!(["invalid_credentials"])
        );
        assert_eq!(login["429"]["headers"]["Retry-After"]["required"], true);
        // Security exactly where a session is used; the id parameter on its path.
        assert!(d["paths"]["/todos"]["post"]["security"].is_array());
        assert!(d["paths"]["/logout"]["post"]["security"].is_array());
        assert!(d["paths"]["/login"]["post"].get("security").is_none());
        assert_eq!(d["paths"]["/todos/{id}"]["parameters"][0]["name"], "id");
        // Bodies and answers are `$ref`s to components.
        assert_eq!(
            d["paths"]["/todos"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/CreateTodo"
        );
        assert!(d["components"]["schemas"]["TodoResponse"].is_object());
    }
}
