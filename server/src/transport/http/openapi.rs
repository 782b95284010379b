//! The OpenAPI 3.1 document of the REST part, built once. A test checks that it lists exactly
//! the documented routes of [`super::routes::ROUTES`], so it cannot fall behind the server.

use std::sync::LazyLock;

use serde_json::{Value, json};

static DOC: LazyLock<String> = LazyLock::new(|| build().to_string());

pub fn document() -> String {
    DOC.clone()
}

fn err(desc: &str) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok(desc: &str, schema: &str) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn body(schema: &str) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn id_param() -> Value {
    json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "format": "int64", "minimum": 1}}])
}

fn build() -> Value {
    let auth = json!([{"cookieAuth": []}, {"bearerAuth": []}]);
    let std_errors = |extra: &[(&str, &str)]| {
        let mut m = serde_json::Map::new();
        for (code, desc) in extra {
            m.insert((*code).into(), err(desc));
        }
        m.insert("500".into(), err("internal (a bug)"));
        m.insert("503".into(), err("the database is unavailable"));
        Value::Object(m)
    };
    let with = |mut base: Value, extra: Value| {
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        base
    };
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Realtime todo server", "version": env!("CARGO_PKG_VERSION"),
                 "description": "REST part of the wire contract (docs/CONTRACT.md). The WebSocket at /ws carries the live part."},
        "paths": {
            "/api/auth/register": {"post": {"summary": "Create an account and log in", "requestBody": body("RegisterRequest"),
                "responses": with(json!({"201": ok("registered; session cookies set", "UserResponse")}),
                    std_errors(&[("400", "bad JSON"), ("403", "forbidden origin"), ("409", "email_taken"), ("413", "body too large"), ("422", "validation_failed"), ("429", "rate_limited")]))}},
            "/api/auth/login": {"post": {"summary": "Log in", "requestBody": body("LoginRequest"),
                "responses": with(json!({"200": ok("logged in; session cookies set", "UserResponse")}),
                    std_errors(&[("400", "bad JSON"), ("401", "invalid_credentials"), ("403", "forbidden origin"), ("422", "validation_failed"), ("429", "rate_limited")]))}},
            "/api/auth/verify": {"get": {"summary": "The current user and access-token expiry", "security": auth,
                "responses": with(json!({"200": ok("the session", "SessionResponse")}), std_errors(&[("401", "unauthenticated")]))}},
            "/api/auth/refresh": {"post": {"summary": "Rotate the refresh token and issue a new access token",
                "responses": with(json!({"200": ok("refreshed; new cookies set", "SessionResponse")}),
                    std_errors(&[("401", "unauthenticated (a reused token also revokes its session)"), ("403", "forbidden origin"), ("429", "rate_limited")]))}},
            "/api/auth/logout": {"post": {"summary": "Revoke the session and clear the cookies", "security": auth,
                "responses": with(json!({"204": {"description": "logged out"}}), std_errors(&[("401", "unauthenticated"), ("403", "forbidden origin")]))}},
            "/api/auth/logout-all": {"post": {"summary": "Revoke every session of the caller (this one too) and clear the cookies", "security": auth,
                "responses": with(json!({"204": {"description": "logged out everywhere"}}), std_errors(&[("401", "unauthenticated"), ("403", "forbidden origin")]))}},
            "/api/auth/sessions": {"get": {"summary": "The caller's live sessions (devices), newest first", "security": auth,
                "responses": with(json!({"200": ok("the sessions", "SessionsResponse")}), std_errors(&[("401", "unauthenticated")]))}},
            "/api/auth/sessions/{id}": {"parameters": id_param(), "delete": {"summary": "Sign one of the caller's sessions out (its sockets close with 4001)", "security": auth,
                "responses": with(json!({"204": {"description": "signed out"}}), std_errors(&[("401", "unauthenticated"), ("403", "forbidden origin"), ("404", "not_found")]))}},
            "/api/todos": {
                "get": {"summary": "List todos, oldest first", "security": auth,
                    "parameters": [{"name": "status", "in": "query", "schema": {"type": "string", "enum": ["all", "pending", "completed"]}}],
                    "responses": with(json!({"200": ok("the todos", "TodosResponse")}), std_errors(&[("401", "unauthenticated"), ("422", "bad status")]))},
                "post": {"summary": "Create a todo", "security": auth, "requestBody": body("CreateTodo"),
                    "responses": with(json!({"201": ok("created", "TodoResponse")}),
                        std_errors(&[("400", "bad JSON"), ("401", "unauthenticated"), ("403", "forbidden origin"), ("413", "body too large"), ("422", "validation_failed")]))}
            },
            "/api/todos/{id}": {
                "parameters": id_param(),
                "get": {"summary": "One todo", "security": auth,
                    "responses": with(json!({"200": ok("the todo", "TodoResponse")}), std_errors(&[("401", "unauthenticated"), ("404", "not_found")]))},
                "patch": {"summary": "Change any of title, description, completed", "security": auth, "requestBody": body("UpdateTodo"),
                    "responses": with(json!({"200": ok("updated", "TodoResponse")}),
                        std_errors(&[("400", "bad JSON"), ("401", "unauthenticated"), ("403", "forbidden origin"), ("404", "not_found"), ("422", "validation_failed")]))},
                "delete": {"summary": "Delete a todo", "security": auth,
                    "responses": with(json!({"204": {"description": "deleted"}}), std_errors(&[("401", "unauthenticated"), ("403", "forbidden origin"), ("404", "not_found")]))}
            },
            "/api/conversations": {"get": {"summary": "Conversations, newest first", "security": auth,
                "responses": with(json!({"200": ok("the conversations", "ConversationsResponse")}), std_errors(&[("401", "unauthenticated")]))}},
            "/api/conversations/{id}/messages": {"parameters": id_param(), "get": {"summary": "A conversation's messages, oldest first", "security": auth,
                "responses": with(json!({"200": ok("the messages", "MessagesResponse")}), std_errors(&[("401", "unauthenticated"), ("404", "not_found")]))}},
            "/api/conversations/{id}": {"parameters": id_param(), "delete": {"summary": "Delete a conversation", "security": auth,
                "responses": with(json!({"204": {"description": "deleted"}}), std_errors(&[("401", "unauthenticated"), ("403", "forbidden origin"), ("404", "not_found")]))}},
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "the process runs"}}}},
            "/readyz": {"get": {"summary": "Readiness", "responses": {"200": {"description": "the database answers"}, "503": err("the database is unreachable")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text exposition", "content": {"text/plain": {}}}}}},
            "/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}}}},
            "/ws": {"get": {"summary": "The WebSocket (see docs/CONTRACT.md for its frames)", "security": auth,
                "responses": {"101": {"description": "upgraded"}, "400": err("not a WebSocket upgrade"), "401": err("unauthenticated"), "403": err("forbidden origin")}}}
        },
        "components": {
            "securitySchemes": {
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "access_token"},
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string", "enum": ["bad_request", "unauthenticated", "invalid_credentials", "forbidden_origin", "not_found", "email_taken", "conflict", "payload_too_large", "validation_failed", "rate_limited", "internal", "unavailable"]},
                                   "message": {"type": "string"}}}}},
                "User": {"type": "object", "required": ["id", "email", "name", "created_at"], "properties": {
                    "id": {"type": "integer", "format": "int64"}, "email": {"type": "string", "format": "email"},
                    "name": {"type": ["string", "null"]}, "created_at": {"type": "string", "format": "date-time"}}},
                "Todo": {"type": "object", "required": ["id", "title", "description", "completed", "created_at", "updated_at"], "properties": {
                    "id": {"type": "integer", "format": "int64"}, "title": {"type": "string", "minLength": 1, "maxLength": 500},
                    "description": {"type": "string", "maxLength": 10000}, "completed": {"type": "boolean"},
                    "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}},
                "Conversation": {"type": "object", "required": ["id", "title", "created_at", "updated_at"], "properties": {
                    "id": {"type": "integer", "format": "int64"}, "title": {"type": "string"},
                    "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}},
                "Message": {"type": "object", "required": ["id", "role", "content", "created_at"], "properties": {
                    "id": {"type": "integer", "format": "int64"}, "role": {"type": "string", "enum": ["user", "assistant", "tool"]},
                    "content": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"},
                    "tool_calls": {"type": "array", "items": {"type": "object", "properties": {"call_id": {"type": "string"}, "name": {"type": "string"}, "arguments": {"type": "object"}}}},
                    "call_id": {"type": "string"}, "name": {"type": "string"}}},
                "RegisterRequest": {"type": "object", "required": ["email", "password"], "properties": {
                    "email": {"type": "string", "format": "email"}, "password": {"type": "string", "minLength": 8, "maxLength": 1024}, "name": {"type": "string", "maxLength": 100}}},
                "LoginRequest": {"type": "object", "required": ["email", "password"], "properties": {"email": {"type": "string"}, "password": {"type": "string"}}},
                "UserResponse": {"type": "object", "required": ["user"], "properties": {"user": {"$ref": "#/components/schemas/User"}}},
                "SessionResponse": {"type": "object", "required": ["user", "expires_at"], "properties": {"user": {"$ref": "#/components/schemas/User"}, "expires_at": {"type": "string", "format": "date-time"}}},
                "CreateTodo": {"type": "object", "required": ["title"], "properties": {"title": {"type": "string"}, "description": {"type": "string"}}},
                "UpdateTodo": {"type": "object", "minProperties": 1, "properties": {"title": {"type": "string"}, "description": {"type": "string"}, "completed": {"type": "boolean"}}},
                "TodoResponse": {"type": "object", "required": ["todo"], "properties": {"todo": {"$ref": "#/components/schemas/Todo"}}},
                "TodosResponse": {"type": "object", "required": ["todos"], "properties": {"todos": {"type": "array", "items": {"$ref": "#/components/schemas/Todo"}}}},
                "ConversationsResponse": {"type": "object", "required": ["conversations"], "properties": {"conversations": {"type": "array", "items": {"$ref": "#/components/schemas/Conversation"}}}},
                "SessionInfo": {"type": "object", "required": ["id", "created_at", "last_seen_at", "user_agent", "ip", "current"], "properties": {
                    "id": {"type": "integer", "format": "int64"}, "created_at": {"type": "string", "format": "date-time"},
                    "last_seen_at": {"type": "string", "format": "date-time"}, "user_agent": {"type": ["string", "null"]},
                    "ip": {"type": ["string", "null"]}, "current": {"type": "boolean"}}},
                "SessionsResponse": {"type": "object", "required": ["sessions"], "properties": {"sessions": {"type": "array", "items": {"$ref": "#/components/schemas/SessionInfo"}}}},
                "MessagesResponse": {"type": "object", "required": ["messages"], "properties": {"messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}}}}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::http::routes::ROUTES;
    use std::collections::BTreeSet;

    #[test]
    fn the_document_lists_exactly_the_served_routes() {
        let doc: Value = serde_json::from_str(&document()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut in_doc = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, _) in item.as_object().unwrap() {
                if method != "parameters" {
                    in_doc.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        let served: BTreeSet<_> = ROUTES
            .iter()
            .filter(|r| r.documented)
            .map(|r| (r.method.to_string(), r.pattern.to_string()))
            .collect();
        assert_eq!(in_doc, served);
        // Exactly the session routes say they need credentials.
        for r in ROUTES.iter().filter(|r| r.documented) {
            let op = &doc["paths"][r.pattern][r.method.as_str().to_lowercase()];
            assert_eq!(
                op.get("security").is_some(),
                r.handler.needs_session() || r.name == "logout",
                "{} {}",
                r.method,
                r.pattern
            );
        }
        // Every $ref points at a defined schema.
        let text = document();
        for part in text.split("#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(doc["components"]["schemas"][name].is_object(), "{name}");
        }
    }
}
