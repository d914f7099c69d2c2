"""Reads the API parts of template.yaml: HttpApi events and their authorizers, and the WebSocket API.

SAM has no WebSocket shorthand, so the WebSocket API is read from raw `AWS::ApiGatewayV2::*`
resources: Api (ProtocolType WEBSOCKET) ← Route (RouteKey, `Target: integrations/<Integration>`) →
Integration (IntegrationUri naming a function), plus an optional REQUEST Authorizer and a Stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from local.intrinsics import Resolver, TemplateError, as_bool, function_id_from_arn
from local.template_model import (
    FunctionSpec,
    HttpAuthorizerSpec,
    HttpRouteSpec,
    WebSocketApiSpec,
    WebSocketAuthorizerSpec,
    WebSocketRouteSpec,
)

IMPLICIT_HTTP_API = "ServerlessHttpApi"  # SAM's name for the API of HttpApi events without ApiId

# Only these properties are resolved: others may use intrinsics that mean nothing locally.
_WEBSOCKET_KEYS = frozenset(
    {
        "ApiId",
        "ProtocolType",
        "RouteSelectionExpression",
        "IntegrationUri",
        "AuthorizerUri",
        "IdentitySource",
        "Target",
        "AuthorizationType",
        "AuthorizerId",
        "RouteKey",
        "RouteResponseSelectionExpression",
        "StageName",
    }
)

HttpAuthorizers = dict[str, tuple[str | None, dict[str, HttpAuthorizerSpec]]]


def function_of(arn: Any, functions: Mapping[str, FunctionSpec], where: str) -> str:
    """The logical id of the template function a (fake) ARN or integration URI names."""
    function_id = function_id_from_arn(str(arn)) if arn else None
    if function_id is None or function_id not in functions:
        raise TemplateError(f"{where}: {arn!r} is not a function of this template")
    return function_id


def http_authorizers(
    resources: Mapping[str, Mapping[str, Any]], resolver: Resolver, functions: Mapping[str, FunctionSpec]
) -> HttpAuthorizers:
    """api logical id → (default authorizer name, authorizers by name)."""
    result: HttpAuthorizers = {IMPLICIT_HTTP_API: (None, {})}
    for api_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::HttpApi":
            continue
        auth = resolver.resolve((resource.get("Properties") or {}).get("Auth") or {}, f"{api_id}.Auth")
        authorizers = {}
        for name, spec in (auth.get("Authorizers") or {}).items():
            where = f"{api_id}.Auth.Authorizers.{name}"
            if "JwtConfiguration" in spec:
                raise TemplateError(f"{where}: JWT authorizers are not supported by the local runner")
            if str(spec.get("AuthorizerPayloadFormatVersion", "2.0")) != "2.0":
                raise TemplateError(f"{where}: only AuthorizerPayloadFormatVersion 2.0 runs locally")
            identity = spec.get("Identity") or {}
            authorizers[name] = HttpAuthorizerSpec(
                name=name,
                function_id=function_of(spec.get("FunctionArn"), functions, where),
                simple_responses=as_bool(spec.get("EnableSimpleResponses", False)),
                identity_headers=tuple(str(h).lower() for h in identity.get("Headers") or ()),
                identity_query=tuple(str(q) for q in identity.get("QueryStrings") or ()),
            )
        default = auth.get("DefaultAuthorizer")
        if default is not None and default not in authorizers:
            raise TemplateError(f"{api_id}.Auth.DefaultAuthorizer: no authorizer named {default}")
        result[api_id] = (default, authorizers)
    return result


def http_route(
    function_id: str,
    props: Mapping[str, Any],
    raw_props: Mapping[str, Any],
    authorizers: HttpAuthorizers,
    where: str,
) -> HttpRouteSpec:
    """One HttpApi event. Raises TemplateError for payload 1.0 and unknown APIs or authorizers."""
    if str(props.get("PayloadFormatVersion", "2.0")) != "2.0":
        raise TemplateError(f"{where}: only PayloadFormatVersion 2.0 runs locally")
    api_ref = raw_props.get("ApiId")
    api_id = str(api_ref["Ref"]) if isinstance(api_ref, Mapping) and "Ref" in api_ref else IMPLICIT_HTTP_API
    if api_id not in authorizers:
        raise TemplateError(f"{where}: ApiId must be !Ref to an AWS::Serverless::HttpApi")
    default_name, by_name = authorizers[api_id]
    path = props.get("Path")
    method = str(props.get("Method", "ANY")).upper()
    if path is None:
        path = "$default"  # SAM: an HttpApi event without Path and Method is the catch-all route
    elif not str(path).startswith("/"):
        raise TemplateError(f"{where}: Path must start with /")
    wanted = (props.get("Auth") or {}).get("Authorizer", default_name)
    authorizer = None
    if wanted not in (None, "NONE"):
        if wanted not in by_name:
            raise TemplateError(f"{where}: no authorizer named {wanted} on {api_id}")
        authorizer = by_name[wanted]
    method = "ANY" if method in ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD") else method
    return HttpRouteSpec(api_id, method, str(path), function_id, authorizer)


def websocket_api(
    resources: Mapping[str, Mapping[str, Any]], resolver: Resolver, functions: Mapping[str, FunctionSpec]
) -> WebSocketApiSpec | None:
    """The template's WebSocket API, if it has one. Raises TemplateError for more than one."""

    def of_type(kind: str, api_id: str | None = None) -> dict[str, dict[str, Any]]:
        found = {}
        for logical_id, resource in resources.items():
            if resource.get("Type") != kind:
                continue
            raw = {k: v for k, v in (resource.get("Properties") or {}).items() if k in _WEBSOCKET_KEYS}
            props: dict[str, Any] = resolver.resolve(raw, f"{logical_id}.Properties")
            if api_id is None or props.get("ApiId") == api_id:
                found[logical_id] = props
        return found

    apis = {
        k: p for k, p in of_type("AWS::ApiGatewayV2::Api").items() if p.get("ProtocolType") == "WEBSOCKET"
    }
    if not apis:
        return None
    if len(apis) > 1:
        raise TemplateError(f"the local runner serves one WebSocket API, the template has {sorted(apis)}")
    (api_id, api), *_ = apis.items()
    integrations = {
        logical_id: function_of(p.get("IntegrationUri"), functions, f"{logical_id}.IntegrationUri")
        for logical_id, p in of_type("AWS::ApiGatewayV2::Integration", api_id).items()
    }
    authorizers = {
        logical_id: WebSocketAuthorizerSpec(
            name=logical_id,
            function_id=function_of(p.get("AuthorizerUri"), functions, f"{logical_id}.AuthorizerUri"),
            identity_sources=tuple(str(s) for s in p.get("IdentitySource") or ()),
        )
        for logical_id, p in of_type("AWS::ApiGatewayV2::Authorizer", api_id).items()
    }
    routes: dict[str, WebSocketRouteSpec] = {}
    for logical_id, p in of_type("AWS::ApiGatewayV2::Route", api_id).items():
        target = str(p.get("Target", ""))
        integration = target.removeprefix("integrations/")
        if integration not in integrations:
            raise TemplateError(f"{logical_id}.Target: {target!r} is not integrations/<Integration>")
        authorizer = None
        if p.get("AuthorizationType") == "CUSTOM":
            authorizer = authorizers.get(str(p.get("AuthorizerId")))
            if authorizer is None:
                raise TemplateError(f"{logical_id}.AuthorizerId: not an authorizer of {api_id}")
        route_key = str(p["RouteKey"])
        routes[route_key] = WebSocketRouteSpec(
            route_key=route_key,
            function_id=integrations[integration],
            authorizer=authorizer,
            two_way="RouteResponseSelectionExpression" in p,
        )
    stages = [str(p["StageName"]) for p in of_type("AWS::ApiGatewayV2::Stage", api_id).values()]
    return WebSocketApiSpec(
        logical_id=api_id,
        route_selection_expression=str(api.get("RouteSelectionExpression", "$request.body.action")),
        routes=routes,
        stage=stages[0] if stages else "local",
    )
