//! The OpenAPI 3.1 document for API v1, written by hand next to the routes it
//! describes; a test checks that every API route in the router is in it.

use axum::Json;
use serde_json::{Value, json};

pub fn spec() -> Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let err = |description: &str| json!({"description": description, "content": {"application/json": {"schema": error}}});
    let intro = json!({"$ref": "#/components/schemas/Intro"});
    let ok_intro = |description: &str| json!({"description": description, "content": {"application/json": {"schema": intro}}});
    let id_param = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}});
    let party = json!({
        "type": "object",
        "required": ["name", "email", "consent", "consent_on_record"],
        "properties": {
            "name": {"type": "string"},
            "email": {"type": "string", "format": "email"},
            "consent": {"type": "string", "enum": ["not_asked", "asked", "accepted", "declined", "snoozed", "expired", "withdrawn"]},
            "blurb": {"type": "string"},
            "consent_on_record": {"type": "boolean"},
            "asked_at": {"type": "string", "format": "date-time"},
            "decided_at": {"type": "string", "format": "date-time"},
            "undo_until": {"type": "string", "format": "date-time"},
            "ask_again_on": {"type": "string", "format": "date-time"},
            "note": {"type": "string", "description": "A yes's note for the introduction email."},
            "private_reason": {"type": "string", "description": "A no's reason, for the connector only."}
        }
    });
    let consent = json!({
                                "type": "object", "required": ["intro_id", "status", "parties", "decisions"],
                                "properties": {
                                    "intro_id": {"type": "string"}, "status": {"type": "string"},
                                    "parties": {"type": "object"},
                                    "recorded_consent": {"type": ["object", "null"]},
                                    "decisions": {"type": "array", "items": {"type": "object",
                                        "required": ["role", "decision", "at", "channel", "text_hash"],
                                        "properties": {
                                            "role": {"type": "string", "enum": ["requester", "target"]},
                                            "name": {"type": "string"}, "email": {"type": "string"},
                                            "decision": {"type": "string", "enum": ["yes", "not_now", "no", "undone", "withdrawn", "opted_out"]},
                                            "at": {"type": "string", "format": "date-time"},
                                            "channel": {"type": "string"}, "actor": {"type": "string"},
                                            "text_hash": {"type": ["string", "null"]}
                                        }}}
                                }
    });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "twoyes API",
            "version": "1",
            "description": "Double opt-in introductions. Every request needs `Authorization: Bearer <token>` (create one with `twoyes token create`)."
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string", "examples": ["malformed", "unauthorized", "not_found", "intro_final", "recipient_opted_out", "recipient_paused", "recipient_monthly_limit", "invalid_field"]},
                            "message": {"type": "string"},
                            "field": {"type": "string", "description": "For invalid_field: which input, e.g. target.email."}
                        }
                    }}
                },
                "Party": party,
                "Intro": {
                    "type": "object",
                    "required": ["id", "status", "mode", "created_at", "reason", "topic", "parties"],
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "status": {"type": "string", "enum": ["asking", "snoozed", "introduced", "declined", "expired", "cancelled"]},
                        "mode": {"type": "string", "enum": ["target_first", "parallel"]},
                        "created_at": {"type": "string", "format": "date-time"},
                        "closed_at": {"type": "string", "format": "date-time"},
                        "reason": {"type": "string"},
                        "topic": {"type": "string"},
                        "note": {"type": "string"},
                        "parties": {
                            "type": "object",
                            "required": ["requester", "target"],
                            "properties": {
                                "requester": {"$ref": "#/components/schemas/Party"},
                                "target": {"$ref": "#/components/schemas/Party"}
                            }
                        }
                    }
                },
                "NewIntro": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["requester", "target", "reason"],
                    "properties": {
                        "requester": {"type": "object", "additionalProperties": false, "required": ["name", "email"], "properties": {
                            "name": {"type": "string", "maxLength": 100},
                            "email": {"type": "string", "format": "email"},
                            "blurb": {"type": "string", "maxLength": 1200}
                        }},
                        "target": {"type": "object", "additionalProperties": false, "required": ["name", "email"], "properties": {
                            "name": {"type": "string", "maxLength": 100},
                            "email": {"type": "string", "format": "email"}
                        }},
                        "reason": {"type": "string", "maxLength": 2000},
                        "note": {"type": "string", "maxLength": 1000},
                        "topic": {"type": "string", "maxLength": 80},
                        "mode": {"type": "string", "enum": ["target_first", "parallel"], "default": "target_first"},
                        "requester_opted_in": {"type": "boolean", "default": false, "description": "The requester asked for this intro; needs their blurb."}
                    }
                }
            }
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/intros": {
                "post": {
                    "summary": "Propose an intro; the first ask goes out at once.",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewIntro"}}}},
                    "responses": {
                        "201": ok_intro("The intro, started."),
                        "400": err("Not JSON."), "401": err("No or bad token."),
                        "409": err("A party said no to being asked, on their preferences page or by unsubscribing: `recipient_opted_out` (they stopped asks from you or from everyone), `recipient_paused` (they paused asks; the message says until which date), `recipient_monthly_limit` (they had as many asks in the last 30 days as they allow); `pair_in_progress` (you already have an intro in progress between these two); `pair_cooldown` (an intro between them ended without an introduction within `cooldown`; the message says from which date they can be asked). Nothing was stored or sent."), "422": err("A field is invalid.")
                    }
                },
                "get": {
                    "summary": "List your intros, newest first.",
                    "parameters": [
                        {"name": "status", "in": "query", "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "next_cursor of the previous page."}
                    ],
                    "responses": {
                        "200": {"description": "A page of intros.", "content": {"application/json": {"schema": {
                            "type": "object", "required": ["items", "next_cursor"],
                            "properties": {"items": {"type": "array", "items": intro}, "next_cursor": {"type": ["string", "null"]}}
                        }}}},
                        "401": err("No or bad token."), "422": err("A parameter is invalid.")
                    }
                }
            },
            "/api/v1/intros/{id}": {
                "get": {
                    "summary": "One of your intros.",
                    "parameters": [id_param],
                    "responses": {"200": ok_intro("The intro."), "401": err("No or bad token."), "404": err("Not yours, or absent.")}
                }
            },
            "/api/v1/intros/{id}/cancel": {
                "post": {
                    "summary": "Cancel an intro that has not ended; everyone asked gets one neutral note.",
                    "parameters": [id_param],
                    "responses": {
                        "200": ok_intro("The cancelled intro."), "401": err("No or bad token."),
                        "404": err("Not yours, or absent."), "409": err("The intro has already ended.")
                    }
                }
            },
            "/api/v1/intros/{id}/consent": {
                "get": {
                    "summary": "The intro's consent record: every decision (who, when, through which channel, and the SHA-256 of the exact text the person was shown), and a requester's consent recorded before any ask.",
                    "parameters": [id_param],
                    "responses": {
                        "200": {"description": "The consent record.", "content": {"application/json": {"schema": consent}}},
                        "401": err("No or bad token."), "404": err("Not yours, or absent.")
                    }
                }
            },
            "/api/v1/openapi.json": {
                "get": {"summary": "This document.", "security": [], "responses": {"200": {"description": "OpenAPI 3.1"}}}
            }
        }
    })
}

pub async fn document() -> Json<Value> {
    Json(spec())
}
