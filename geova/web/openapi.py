"""The OpenAPI 3 document of the JSON API (/api/v1/openapi.json), written by hand next to the code
it describes (geova.web.api); tests/test_schemathesis.py checks the two against each other."""

from __future__ import annotations

from typing import Any

from geova.core.evaluate import DIMENSIONS, State
from geova.web.api import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET, MAX_RISK_HOURS

STATES = [s.value for s in State]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _param(name: str, description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
        **extra,
    }


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): {"$ref": f"#/components/responses/E{c}"} for c in codes}


TEXT = {"type": "string"}
NTEXT = {"type": "string", "nullable": True}
NNUM = {"type": "number", "nullable": True}
INSTANT = {"type": "string", "format": "date-time", "nullable": True}
CODES = {"type": "string", "description": "One code, or several separated by commas (or repeated)."}
DAY_OR_INSTANT = {
    "type": "string",
    "description": "ISO 8601 date (a local day of the territory) or date-time (without offset: "
    "read in the territory's time zone).",
    "example": "2015-03-01",
}


def _filters(period: bool = True) -> list[dict[str, Any]]:
    out = [
        _param("quarter", "Quarter or sub-quarter code(s).", CODES),
        _param("zone", "Priority zone code(s).", CODES),
        _param("category", "Category code(s).", CODES),
        _param("service", "Service name(s) handling the requests.", CODES),
        _param(
            "bbox",
            "minlon,minlat,maxlon,maxlat (EPSG:4326).",
            {"type": "string", "example": "-71.2,42.2,-70.9,42.4"},
        ),
    ]
    if period:
        out += [
            _param("from", "Reported from (inclusive): a date is its whole local day.", DAY_OR_INSTANT),
            _param("to", "Reported until: a date includes its whole local day.", DAY_OR_INSTANT),
        ]
    return out


AS_OF = _param(
    "as_of",
    "Instant of the verdicts (default: now). ISO 8601; a time without offset is local.",
    {"type": "string", "example": "2015-12-31T23:59:00-05:00"},
)
NORM = _param(
    "norm",
    "Deadline norm the verdicts follow (default: the headline norm, setting headline_norm, else "
    "the first active deadline norm by code).",
    TEXT,
)
PAGING = [
    _param(
        "limit",
        f"Page size (1..{MAX_LIMIT}).",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    ),
    _param(
        "offset",
        "Items to skip.",
        {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
    ),
]
AUTH: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}, {"session": []}]

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": TEXT, "message": TEXT},
            }
        },
    },
    "Quarter": {
        "type": "object",
        "properties": {
            "code": TEXT,
            "name": TEXT,
            "level": {"type": "integer", "description": "0: quarter; 1 and more: sub-quarter (îlot)."},
            "parent": NTEXT,
        },
    },
    "Zone": {
        "type": "object",
        "properties": {
            "code": TEXT,
            "name": TEXT,
            "kind": {"type": "string", "description": "commercial, sensitive, black_spot, waste_land..."},
        },
    },
    "Category": {
        "type": "object",
        "properties": {
            "code": TEXT,
            "label_fr": TEXT,
            "label_en": TEXT,
            "task": NTEXT,
            "field": NTEXT,
        },
    },
    "Norm": {
        "type": "object",
        "properties": {
            "code": TEXT,
            "kind": {"type": "string", "enum": ["deadline", "frequency", "count", "share"]},
            "task": NTEXT,
            "set": TEXT,
            "label_fr": TEXT,
            "label_en": TEXT,
            "active": {"type": "boolean"},
            "calendar": {"type": "string", "enum": ["calendar", "working"]},
            "deadline": {"type": "string", "enum": ["rule", "source"], "nullable": True},
            "period": NTEXT,
            "unit": {"type": "string", "enum": ["hours", "passages", "events", "percent"]},
            "scopes": {"type": "array", "items": {"type": "object"}},
            "targets": {
                "type": "array",
                "description": "Figures from a date on: the city default, or an override for a "
                "quarter or a zone.",
                "items": {
                    "type": "object",
                    "properties": {
                        "from": {"type": "string", "format": "date"},
                        "value": NNUM,
                        "quarter": NTEXT,
                        "zone": NTEXT,
                    },
                },
            },
        },
    },
    "Verdict": {
        "type": "object",
        "nullable": True,
        "description": "The request judged under a deadline norm; null when the norm does not apply.",
        "properties": {
            "norm": TEXT,
            "state": {"type": "string", "enum": STATES},
            "excluded": {"type": "boolean", "description": "Duplicate or cancelled: left out of rates."},
            "applied": NTEXT,
            "target_hours": NNUM,
            "due_at": INSTANT,
            "hours_taken": NNUM,
            "hours_overdue": NNUM,
        },
    },
    "Intervention": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "source": TEXT,
            "source_id": TEXT,
            "category": TEXT,
            "status": {"type": "string", "enum": ["open", "closed", "cancelled", "duplicate"]},
            "reported_at": INSTANT,
            "resolved_at": INSTANT,
            "source_due_at": INSTANT,
            "quarter": NTEXT,
            "subquarter": NTEXT,
            "zones": {"type": "array", "items": TEXT},
            "service": NTEXT,
            "channel": NTEXT,
            "address": NTEXT,
            "description": NTEXT,
            "insulting": {"type": "boolean"},
            "severity": NTEXT,
            "lon": {"type": "number"},
            "lat": {"type": "number"},
            "flags": {"type": "array", "items": TEXT},
            "verdict": _ref("Verdict"),
            "links": {"type": "object", "properties": {"self": TEXT}},
        },
    },
    "InterventionDetail": {
        "allOf": [
            _ref("Intervention"),
            {
                "type": "object",
                "properties": {
                    "verdicts": {"type": "array", "items": _ref("Verdict")},
                    "events": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "kind": TEXT,
                                "at": INSTANT,
                                "username": NTEXT,
                                "note": NTEXT,
                                "detail": {"type": "object"},
                            },
                        },
                    },
                },
            },
        ]
    },
    "InterventionPage": {
        "type": "object",
        "properties": {
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "norm": NTEXT,
            "as_of": INSTANT,
            "items": {"type": "array", "items": _ref("Intervention")},
            "links": {
                "type": "object",
                "properties": {"self": TEXT, "next": NTEXT, "prev": NTEXT},
            },
        },
    },
    "NewIntervention": {
        "type": "object",
        "required": ["category", "description", "lat", "lon"],
        "properties": {
            "category": {"type": "string", "maxLength": 64},
            "description": {"type": "string", "maxLength": 2000},
            "address": {"type": "string", "maxLength": 300},
            "lat": {"type": "number", "minimum": -90, "maximum": 90},
            "lon": {"type": "number", "minimum": -180, "maximum": 180, "description": "Also 'long'."},
            "insulting": {"type": "boolean", "default": False},
            "severity": {"type": "string", "maxLength": 32, "description": "E.g. P1, P2 (vehicles)."},
            "channel": {"type": "string", "maxLength": 100, "description": "Default: geova."},
            "reported_at": {
                "type": "string",
                "format": "date-time",
                "description": "With an offset; not in the future (default: now).",
            },
        },
    },
    "Resolution": {
        "type": "object",
        "properties": {
            "resolved_at": {
                "type": "string",
                "format": "date-time",
                "description": "With an offset; not before the report nor in the future (default: now).",
            },
            "note": {"type": "string", "maxLength": 2000},
        },
    },
    "Evaluation": {
        "type": "object",
        "properties": {
            "as_of": INSTANT,
            "timezone": TEXT,
            "norms": {"type": "array", "items": TEXT},
            "by": {"type": "array", "items": TEXT},
            "aggregates": {
                "type": "array",
                "description": "Per group: requests, one count per state, excluded, rated, backlog, "
                "on_time_rate (on time / (on time + late + open overdue)), median_hours, p90_hours.",
                "items": {"type": "object"},
            },
            "periodic": {
                "type": "array",
                "description": "Frequency, count and share norms: achieved and target per unit and period.",
                "items": {"type": "object"},
            },
            "per_intervention": {
                "type": "object",
                "properties": {
                    "total": {"type": "integer"},
                    "limit": {"type": "integer"},
                    "offset": {"type": "integer"},
                    "items": {"type": "array", "items": {"type": "object"}},
                },
            },
        },
    },
    "AuditGrid": {
        "type": "object",
        "properties": {
            "year": {"type": "integer", "nullable": True},
            "items": {
                "type": "array",
                "description": "Latest answer per quarter, year and standard task: commitment and "
                "respected (OUI, NON, PARTIELLEMENT), comment, services, responsible, resource persons, "
                "obstacles, remedies.",
                "items": {"type": "object"},
            },
        },
    },
}


def _list_of(name: str) -> dict[str, Any]:
    return {"type": "object", "properties": {"items": {"type": "array", "items": _ref(name)}}}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "geova JSON API",
            "version": "1.0.0",
            "description": "Quality monitoring of proximity urban services (the OVA method): the "
            "territory, the referential of norms, intervention requests judged under the norms, "
            "evaluations and the audit grid. Times are ISO 8601 with the territory's offset. "
            'Errors: {"error": {"code", "message"}}. Reading requests, evaluations and the audit '
            "grid needs a key or a session; reporting needs the role correspondent, service or admin, "
            "resolving service or admin. Open311 GeoReport v2 is served under /open311/v2.",
        },
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>"},
                "apiKey": {"type": "apiKey", "in": "query", "name": "api_key"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
            "schemas": SCHEMAS,
            "responses": {
                f"E{code}": _json(_ref("Error"), text)
                for code, text in {
                    400: "Malformed parameter or body.",
                    401: "Authentication needed.",
                    403: "Role not allowed.",
                    404: "Not found.",
                    422: "Refused by the store; nothing changed.",
                }.items()
            },
        },
        "paths": {
            "/api/v1/quarters": {
                "get": {
                    "summary": "Quarters and sub-quarters",
                    "operationId": "listQuarters",
                    "responses": {"200": _json(_list_of("Quarter"), "Quarters by level and code.")},
                }
            },
            "/api/v1/zones": {
                "get": {
                    "summary": "Priority zones",
                    "operationId": "listZones",
                    "responses": {"200": _json(_list_of("Zone"), "Zones by code.")},
                }
            },
            "/api/v1/categories": {
                "get": {
                    "summary": "Categories of requests and entries, with their standard task and field",
                    "operationId": "listCategories",
                    "responses": {"200": _json(_list_of("Category"), "Categories by code.")},
                }
            },
            "/api/v1/norms": {
                "get": {
                    "summary": "Quality norms with their figures",
                    "operationId": "listNorms",
                    "parameters": [
                        _param("all", "Include inactive norms.", {"type": "boolean", "default": False})
                    ],
                    "responses": {"200": _json(_list_of("Norm"), "Norms by code."), **_errors(400)},
                }
            },
            "/api/v1/norms/{code}": {
                "get": {
                    "summary": "One norm",
                    "operationId": "getNorm",
                    "parameters": [{"name": "code", "in": "path", "required": True, "schema": TEXT}],
                    "responses": {"200": _json(_ref("Norm"), "The norm."), **_errors(404)},
                }
            },
            "/api/v1/interventions": {
                "get": {
                    "summary": "Requests, filtered and paged, with their verdict under a norm",
                    "operationId": "listInterventions",
                    "security": AUTH,
                    "parameters": [
                        *_filters(),
                        NORM,
                        _param(
                            "state",
                            "Only requests in these states under the norm (comma-separated).",
                            {"type": "string", "example": "open_overdue,open_at_risk"},
                        ),
                        AS_OF,
                        *PAGING,
                    ],
                    "responses": {
                        "200": _json(_ref("InterventionPage"), "One page, ordered by id."),
                        **_errors(400, 401),
                    },
                },
                "post": {
                    "summary": "Report a request (correspondent, service or admin)",
                    "operationId": "reportIntervention",
                    "security": AUTH,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("NewIntervention")}},
                    },
                    "responses": {
                        "201": _json(_ref("InterventionDetail"), "Stored, placed and judged."),
                        **_errors(400, 401, 403, 422),
                    },
                },
            },
            "/api/v1/interventions/{intervention_id}": {
                "get": {
                    "summary": "One request, its verdicts under every active deadline norm and its history",
                    "operationId": "getIntervention",
                    "security": AUTH,
                    "parameters": [
                        {
                            "name": "intervention_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 0},
                        },
                        NORM,
                        AS_OF,
                    ],
                    "responses": {
                        "200": _json(_ref("InterventionDetail"), "The request."),
                        **_errors(400, 401, 404),
                    },
                }
            },
            "/api/v1/interventions/{intervention_id}/resolve": {
                "post": {
                    "summary": "Mark an open request resolved (service or admin)",
                    "operationId": "resolveIntervention",
                    "security": AUTH,
                    "parameters": [
                        {
                            "name": "intervention_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 0},
                        }
                    ],
                    "requestBody": {
                        "required": False,
                        "content": {"application/json": {"schema": _ref("Resolution")}},
                    },
                    "responses": {
                        "200": _json(_ref("InterventionDetail"), "The request, closed."),
                        **_errors(400, 401, 403, 404, 422),
                    },
                }
            },
            "/api/v1/evaluations": {
                "get": {
                    "summary": "Evaluate norms, as `geova evaluate` does",
                    "operationId": "evaluate",
                    "security": AUTH,
                    "parameters": [
                        AS_OF,
                        _param(
                            "norm",
                            "Norm code(s) (default: every active norm).",
                            {"type": "array", "items": TEXT},
                            style="form",
                            explode=True,
                        ),
                        _param(
                            "by",
                            f"Group by, comma-separated: {', '.join(DIMENSIONS)}.",
                            {"type": "string", "default": "norm"},
                        ),
                        _param(
                            "deadline",
                            "Judge on the norm's rule, or on the due date each source gave.",
                            {"type": "string", "enum": ["rule", "source"]},
                        ),
                        _param(
                            "risk_hours",
                            "An open request due within this many hours is at risk.",
                            {"type": "number", "minimum": 0, "maximum": MAX_RISK_HOURS, "default": 24},
                        ),
                        _param(
                            "from",
                            "Periodic norms: first period (default: 1 January).",
                            {"type": "string", "format": "date"},
                        ),
                        _param(
                            "to",
                            "Periodic norms: last period (default: as_of).",
                            {"type": "string", "format": "date"},
                        ),
                        _param(
                            "per_intervention",
                            "Add the verdict on each request (paged by limit and offset).",
                            {"type": "boolean", "default": False},
                        ),
                        *_filters(period=False),
                        *PAGING,
                    ],
                    "responses": {
                        "200": _json(_ref("Evaluation"), "Aggregates, periodic results, verdicts."),
                        **_errors(400, 401),
                    },
                }
            },
            "/api/v1/audit": {
                "get": {
                    "summary": "The audit grid of standard tasks",
                    "operationId": "auditGrid",
                    "security": AUTH,
                    "parameters": [
                        _param(
                            "year", "Only this year.", {"type": "integer", "minimum": 1970, "maximum": 2100}
                        ),
                        _param("quarter", "Only this quarter (code).", TEXT),
                    ],
                    "responses": {"200": _json(_ref("AuditGrid"), "The grid."), **_errors(400, 401)},
                }
            },
        },
    }
