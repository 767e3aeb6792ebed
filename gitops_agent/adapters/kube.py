"""The Kubernetes API, as the reconciler needs it (the only module importing ``kubernetes``).

Raw REST calls through the official client's configured transport (kubeconfig, TLS, tokens,
connection pool): JSON in, plain dicts out, no model classes. Every failure becomes a
``ClusterError``: no answer is :class:`UnreachableError`; an answer refusing one object is an
``ObjectError`` naming ``Kind/namespace/name`` and the HTTP status, typed by :func:`api_error`
(``NotFoundError``, ``ConflictError``, ``InvalidError``, ``ForbiddenError``, ``ThrottledError``…).
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import ssl
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import urllib3
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from gitops_agent.errors import (
    ClusterError,
    ExpiredError,
    NotFoundError,
    NotSentError,
    ObjectError,
    UnreachableError,
    api_error,
)
from gitops_agent.reconcile.cluster import ResourceInfo, WatchEvent
from gitops_agent.reconcile.schema import OpenAPIDocument
from gitops_agent.reconcile.transform import Fields, keep_fields
from gitops_agent.vocabulary.labels import FIELD_MANAGER
from gitops_agent.vocabulary.objects import Manifest, ObjectRef, ref_of

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
JSON_PATCH_CONTENT_TYPE = "application/json-patch+json"
DEFAULT_TIMEOUT = 60.0
LIST_PAGE_SIZE = 500
"""Objects per list page (``limit``), client-go's reflector's and pager's default."""


def _reason(error: BaseException) -> str:
    text = str(getattr(error, "reason", None) or error)
    lowered = text.lower()
    for marker in (
        "connection refused",
        "timed out",
        "name or service not known",
        "certificate verify failed",
        "no route to host",
        "connection reset",
    ):
        if marker in lowered:
            return marker
    return text


@dataclass(frozen=True)
class _Transport:
    """Where the API server is, a TLS connection pool, and the auth headers of each request."""

    host: str
    pool: urllib3.PoolManager
    auth: Callable[[], dict[str, str]]
    close: Callable[[], None]


def _kubeconfig_path(kubeconfig: Path | None) -> Path | None:
    if kubeconfig is not None:
        return kubeconfig
    env = os.environ.get("KUBECONFIG", "")
    if os.pathsep in env:
        return None  # several files are merged: leave that to the client library
    return Path(env) if env else Path.home() / ".kube" / "config"


def _check_context(path: Path, document: Any, context: str | None) -> None:
    """Raise ``ClusterError`` naming the kubeconfig's contexts when the wanted one is not there."""
    if not isinstance(document, dict) or not isinstance(document.get("contexts"), list):
        return
    names = [str(c.get("name")) for c in document["contexts"] if isinstance(c, dict)]
    wanted = context or document.get("current-context")
    if wanted and wanted not in names:
        raise ClusterError(
            f"kubeconfig {path} has no context {wanted!r} (it has: {', '.join(names) or 'none'}); "
            "set the environment's cluster.context or pass --context"
        )


def _plain_transport(
    kubeconfig: Path | None, context: str | None, pool_size: int, retries: urllib3.Retry
) -> _Transport | None:
    """Token, basic and client-certificate kubeconfigs, read directly (fast start-up).

    None for anything else (exec plugins, auth providers, proxies, merged files, in-cluster),
    which the official client library then handles.
    """
    path = _kubeconfig_path(kubeconfig)
    if path is None or not path.is_file():
        return None
    selected = _plain_context(path, context)
    if selected is None:
        return None
    cluster, user = selected
    base = path.parent
    tls = ssl.create_default_context()
    try:
        options = _server_tls(tls, cluster, base)
        if "client-certificate-data" in user or "client-certificate" in user:
            _load_client_certificate(tls, user, base)
        headers = _auth_headers(user, base)
    except (OSError, ValueError, ssl.SSLError) as error:
        raise ClusterError(f"cannot load kubeconfig {path}: {error}") from error
    pool = urllib3.PoolManager(maxsize=pool_size, retries=retries, ssl_context=tls, **options)
    return _Transport(str(cluster["server"]).rstrip("/"), pool, lambda: headers, pool.clear)


_PLAIN_USER_KEYS = frozenset(
    {"token", "tokenFile", "client-certificate", "client-certificate-data", "client-key", "client-key-data",
     "username", "password"}
)
_PLAIN_CLUSTER_KEYS = frozenset(
    {"server", "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify", "tls-server-name"}
)


def _plain_context(path: Path, context: str | None) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(cluster, user) of the selected context when both use only what :func:`_plain_transport`
    reads; None otherwise (left to the client library)."""
    try:
        document = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
        _check_context(path, document, context)
        name = context or document["current-context"]
        ctx = next(c["context"] for c in document["contexts"] if c["name"] == name)
        cluster = next(c["cluster"] for c in document["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in document["users"] if u["name"] == ctx["user"]) or {}
    except (OSError, YAMLError, KeyError, TypeError, StopIteration, AttributeError):
        return None
    if set(user) - _PLAIN_USER_KEYS or set(cluster) - _PLAIN_CLUSTER_KEYS:
        return None
    return cluster, user


def _server_tls(tls: ssl.SSLContext, cluster: dict[str, Any], base: Path) -> dict[str, Any]:
    """Trust the server's CA (or skip verification when told); the pool's extra TLS options."""
    options: dict[str, Any] = {}
    if cluster.get("insecure-skip-tls-verify"):
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
        options.update(cert_reqs="CERT_NONE", assert_hostname=False)
    elif "certificate-authority-data" in cluster:
        tls.load_verify_locations(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    elif "certificate-authority" in cluster:
        tls.load_verify_locations(cafile=str(base / cluster["certificate-authority"]))
    if "tls-server-name" in cluster:
        options["server_hostname"] = cluster["tls-server-name"]
    return options


def _auth_headers(user: dict[str, Any], base: Path) -> dict[str, str]:
    """A bearer token (inline or from ``tokenFile``) or basic credentials, as a header."""
    if "token" in user:
        return {"Authorization": f"Bearer {user['token']}"}
    if "tokenFile" in user:
        return {"Authorization": f"Bearer {(base / user['tokenFile']).read_text().strip()}"}
    if "username" in user:
        pair = f"{user['username']}:{user.get('password', '')}".encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
    return {}


def _load_client_certificate(tls: ssl.SSLContext, user: dict[str, Any], base: Path) -> None:
    if "client-certificate-data" not in user and "client-key-data" not in user:
        tls.load_cert_chain(str(base / user["client-certificate"]), str(base / user["client-key"]))
        return
    with tempfile.TemporaryDirectory(prefix="gitops-agent-tls-") as tmp:
        cert, key = Path(tmp) / "client.crt", Path(tmp) / "client.key"
        for target, data_key, file_key in ((cert, "client-certificate-data", "client-certificate"),
                                           (key, "client-key-data", "client-key")):
            data = base64.b64decode(user[data_key]) if data_key in user else (base / user[file_key]).read_bytes()
            target.touch(mode=0o600)
            target.write_bytes(data)
        tls.load_cert_chain(str(cert), str(key))


def _client_transport(
    kubeconfig: Path | None, context: str | None, pool_size: int, retries: urllib3.Retry
) -> _Transport:
    """Everything else, through the official client library (exec plugins refresh tokens)."""
    import yaml
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.config.config_exception import ConfigException

    configuration = k8s_client.Configuration()
    try:
        if kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ and not os.environ.get("KUBECONFIG"):
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig) if kubeconfig else None,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
    except (ConfigException, OSError, TypeError, ValueError, yaml.YAMLError) as error:
        missing = _kubeconfig_path(kubeconfig)
        if missing is not None and not missing.exists():
            raise ClusterError(
                f"no kubeconfig at {missing}: set KUBECONFIG or pass --kubeconfig"
            ) from error
        where = f" {kubeconfig}" if kubeconfig else ""
        raise ClusterError(f"cannot load kubeconfig{where}: {error}") from error
    configuration.connection_pool_maxsize = pool_size
    configuration.retries = retries
    api = k8s_client.ApiClient(configuration)

    def auth() -> dict[str, str]:
        headers: dict[str, str] = {}
        api.update_params_for_auth(headers, [], ["BearerToken"], "", "GET", None)
        return headers

    return _Transport(str(configuration.host), api.rest_client.pool_manager, auth, api.close)


class KubeCluster:
    """A connection to one API server (thread-safe; apply from a thread pool)."""

    def __init__(
        self,
        kubeconfig: Path | None = None,
        context: str | None = None,
        *,
        pool_size: int = 32,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        # connection failures: 2 retries; 429 (the server's flow control said "later", nothing
        # was processed): retried for every method, honouring Retry-After; 20 times, since
        # under sustained throttling the retries of parallel workers collide again
        retries = urllib3.Retry(
            total=22,
            connect=2,
            read=0,
            status=20,
            status_forcelist=(429,),
            allowed_methods=None,
            respect_retry_after_header=True,
            backoff_factor=0.2,
            raise_on_status=False,
        )
        transport = _plain_transport(kubeconfig, context, pool_size, retries)
        if transport is None:
            transport = _client_transport(kubeconfig, context, pool_size, retries)
        self._transport = transport
        self._host = transport.host
        self._timeout = timeout
        self._lock = threading.Lock()
        self._discovery: dict[tuple[str, str], dict[str, ResourceInfo] | None] = {}
        self._schemas: dict[tuple[str, str], OpenAPIDocument | None] = {}
        self._schema_flights: dict[tuple[str, str], threading.Lock] = {}
        self.requests: Counter[str] = Counter()

    @property
    def server(self) -> str:
        return self._host

    def close(self) -> None:
        self._transport.close()

    # -- transport -------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: bytes | None = None,
        content_type: str | None = None,
        ref: ObjectRef | str = "",
        counter: str = "",
        timeout: float | None = None,
        stream: bool = False,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        url_path = path + ("?" + urlencode(list(query)) if query else "")
        with self._lock:
            self.requests[counter or method] += 1
        try:
            response = self._transport.pool.request(
                method,
                self._host + url_path,
                body=body,
                headers={**headers, **self._transport.auth()},
                timeout=urllib3.Timeout(connect=10.0, read=timeout or self._timeout),
                preload_content=not stream,
            )
        except urllib3.exceptions.HTTPError as error:
            raise UnreachableError(f"cluster unreachable at {self._host}: {_reason(error)}") from error
        retries = getattr(response, "retries", None)
        throttled = sum(1 for attempt in getattr(retries, "history", ()) if attempt.status == 429)
        if throttled:
            with self._lock:
                self.requests["throttled"] += throttled
        if stream:
            if response.status >= 300:
                data = response.read()
                response.release_conn()
                raise api_error(ref, response.status, _status_message(data, response.reason))
            return response
        data = response.data
        if response.status >= 300:
            raise api_error(ref or path, response.status, _status_message(data, response.reason))
        return json.loads(data) if data else {}

    # -- discovery and schemas -------------------------------------------------------------
    def _resources(self, group: str, version: str) -> dict[str, ResourceInfo] | None:
        key = (group, version)
        with self._lock:
            if key in self._discovery:
                return self._discovery[key]
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            document = self._request("GET", path, counter="discovery")
        except NotFoundError:
            document = None
        found: dict[str, ResourceInfo] | None = None
        if document is not None:
            found = {}
            for item in document.get("resources") or ():
                name = str(item.get("name", ""))
                if "/" in name:
                    continue
                found[str(item["kind"])] = ResourceInfo(
                    group, version, str(item["kind"]), name, bool(item.get("namespaced"))
                )
        with self._lock:
            self._discovery[key] = found
        return found

    def resource(self, group: str, version: str, kind: str) -> ResourceInfo | None:
        found = self._resources(group, version)
        return None if found is None else found.get(kind)

    def forget_discovery(self) -> None:
        with self._lock:
            self._discovery.clear()
            self._schemas.clear()

    def schema(self, group: str, version: str) -> OpenAPIDocument | None:
        key = (group, version)
        with self._lock:
            if key in self._schemas:
                return self._schemas[key]
            flight = self._schema_flights.setdefault(key, threading.Lock())
        with flight:  # one download per group-version, however many threads ask
            with self._lock:
                if key in self._schemas:
                    return self._schemas[key]
            path = f"/openapi/v3/apis/{group}/{version}" if group else f"/openapi/v3/api/{version}"
            try:
                document: OpenAPIDocument | None = OpenAPIDocument(self._request("GET", path, counter="openapi"))
            except ObjectError:
                document = None
            with self._lock:
                self._schemas[key] = document
            return document

    # -- objects -----------------------------------------------------------------------------
    @staticmethod
    def _collection(info: ResourceInfo, namespace: str | None) -> str:
        base = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
        if info.namespaced and namespace:
            return f"{base}/namespaces/{quote(namespace, safe='')}/{info.plural}"
        return f"{base}/{info.plural}"

    def _item(self, info: ResourceInfo, namespace: str, name: str) -> str:
        return f"{self._collection(info, namespace)}/{quote(name, safe='')}"

    def list_with_version(
        self, info: ResourceInfo, namespace: str | None, selector: str, *, fields: Fields | None = None
    ) -> tuple[list[Manifest], str]:
        """Every object of one list (of each only ``fields`` when given), read in pages of
        :data:`LIST_PAGE_SIZE` objects, so that no more than a page is ever held whole (one
        consistent snapshot: Kubernetes API concepts, "Retrieving large results sets in
        chunks"); and the list's ``resourceVersion``. A continue token that expired (HTTP 410)
        between two pages makes one list without pages, as client-go's pager does."""
        try:
            return self._list_pages(info, namespace, selector, fields, LIST_PAGE_SIZE)
        except ExpiredError:
            return self._list_pages(info, namespace, selector, fields, 0)

    def _list_pages(
        self, info: ResourceInfo, namespace: str | None, selector: str, fields: Fields | None, page_size: int
    ) -> tuple[list[Manifest], str]:
        where = f"{info.kind} in {namespace}" if namespace else f"{info.kind} (all namespaces)"
        items: list[Manifest] = []
        token, version = "", ""
        while True:
            query = [("labelSelector", selector)] if selector else []
            if page_size:
                query += [("limit", str(page_size))] + ([("continue", token)] if token else [])
            document = self._request(
                "GET", self._collection(info, namespace), query=query, ref=f"list {where}", counter=f"list {info.kind}"
            )
            for item in document.get("items") or ():
                item.setdefault("apiVersion", info.api_version)
                item.setdefault("kind", info.kind)
                items.append(item if fields is None else keep_fields(item, fields))
            meta = document.get("metadata") or {}
            version = version or str(meta.get("resourceVersion", ""))
            token = str(meta.get("continue") or "")
            if not token:
                return items, version

    def list(
        self, info: ResourceInfo, namespace: str | None, selector: str, *, fields: Fields | None = None
    ) -> list[Manifest]:
        return self.list_with_version(info, namespace, selector, fields=fields)[0]

    def watch(
        self,
        info: ResourceInfo,
        namespace: str | None,
        selector: str,
        resource_version: str,
        timeout_seconds: int,
    ) -> Iterator[WatchEvent]:
        query = [
            ("watch", "1"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        if selector:
            query.append(("labelSelector", selector))
        response = self._request(
            "GET",
            self._collection(info, namespace),
            query=query,
            ref=f"watch {info.kind}",
            counter=f"watch {info.kind}",
            timeout=timeout_seconds + 10,
            stream=True,
        )
        buffer = b""
        try:
            for chunk in response.stream(65536):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        raise api_error(
                            f"watch {info.kind}",
                            int(obj.get("code") or 0) or 500,
                            str(obj.get("message", "watch error")),
                        )
                    yield WatchEvent(str(event.get("type")), obj)
        except urllib3.exceptions.HTTPError as error:
            raise UnreachableError(f"watch of {info.kind} ended at {self._host}: {_reason(error)}") from error
        finally:
            response.release_conn()

    def get(self, info: ResourceInfo, ref: ObjectRef) -> Manifest | None:
        try:
            obj: Manifest = self._request(
                "GET",
                self._item(info, ref.namespace, ref.name),
                ref=ref,
                counter=f"get {info.kind}",
            )
        except NotFoundError:
            return None
        return obj

    def apply(self, info: ResourceInfo, obj: Manifest, *, dry_run: bool, force: bool) -> Manifest:
        ref = ref_of(obj)
        query = [("fieldManager", FIELD_MANAGER), ("force", "true" if force else "false")]
        if dry_run:
            query.append(("dryRun", "All"))
        result: Manifest = self._request(
            "PATCH",
            self._item(info, ref.namespace, ref.name),
            query=query,
            body=_json_body(obj, ref),
            content_type=APPLY_CONTENT_TYPE,
            ref=ref,
            counter="apply (dry-run)" if dry_run else "apply",
        )
        return result

    def json_patch(self, info: ResourceInfo, ref: ObjectRef, ops: Sequence[dict[str, Any]]) -> Manifest:
        result: Manifest = self._request(
            "PATCH",
            self._item(info, ref.namespace, ref.name),
            query=[("fieldManager", FIELD_MANAGER)],
            body=_json_body(list(ops), ref),
            content_type=JSON_PATCH_CONTENT_TYPE,
            ref=ref,
            counter="json-patch",
        )
        return result

    def delete(self, info: ResourceInfo, ref: ObjectRef) -> None:
        body = json.dumps({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}).encode()
        with contextlib.suppress(NotFoundError):  # already gone
            self._request(
                "DELETE",
                self._item(info, ref.namespace, ref.name),
                body=body,
                content_type="application/json",
                ref=ref,
                counter="delete",
            )

    def create(self, info: ResourceInfo, obj: Manifest) -> Manifest:
        """POST a new object; :class:`ConflictError` when it already exists."""
        ref = ref_of(obj)
        result: Manifest = self._request(
            "POST",
            self._collection(info, ref.namespace),
            body=_json_body(obj, ref),
            content_type="application/json",
            ref=ref,
            counter="create",
        )
        return result

    def replace(self, info: ResourceInfo, obj: Manifest) -> Manifest:
        """PUT an object; its ``metadata.resourceVersion`` makes this a compare-and-swap
        (:class:`ConflictError` when someone else wrote in between)."""
        ref = ref_of(obj)
        result: Manifest = self._request(
            "PUT",
            self._item(info, ref.namespace, ref.name),
            body=_json_body(obj, ref),
            content_type="application/json",
            ref=ref,
            counter="replace",
        )
        return result

    def review_access(self, verb: str, group: str, resource: str, namespace: str | None) -> tuple[bool, str]:
        """SelfSubjectAccessReview: may the current credentials do ``verb`` on ``resource``?"""
        attributes = {"verb": verb, "group": group, "resource": resource}
        if namespace:
            attributes["namespace"] = namespace
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        result = self._request(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            body=json.dumps(review).encode(),
            content_type="application/json",
            ref=f"access review {verb} {resource}",
            counter="access review",
        )
        status = result.get("status") or {}
        return bool(status.get("allowed")), str(status.get("reason") or status.get("evaluationError") or "")


def _json_body(value: Any, ref: ObjectRef | str) -> bytes:
    """``value`` as strict JSON (RFC 8259). NaN and ±Infinity have no JSON form: Python's
    ``Infinity`` token reaches the API server's YAML reader of apply patches as the *string*
    "Infinity", a changed value; such an object is refused before anything is sent.

    Raises :class:`NotSentError` naming the first non-finite number's path.
    """
    try:
        return json.dumps(value, allow_nan=False).encode()
    except ValueError as error:
        path, number = _first_non_finite(value, "") or ("", "not finite")
        raise NotSentError(
            ref, f"not sent: {path or '<root>'} is {number}, a number JSON cannot carry (text read as a number?)"
        ) from error


def _first_non_finite(value: Any, path: str) -> tuple[str, str] | None:
    """The dotted path and value of the first NaN or infinite number in ``value``."""
    if isinstance(value, float) and not math.isfinite(value):
        return path, repr(value)
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        found = _first_non_finite(child, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def _status_message(data: bytes | None, fallback: str | None) -> str:
    if data:
        try:
            status = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            return data.decode("utf-8", "replace")[:500]
        if isinstance(status, dict) and status.get("message"):
            return str(status["message"])
    return str(fallback or "request failed")
