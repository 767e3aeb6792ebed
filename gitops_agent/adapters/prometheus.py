"""The only module that talks to Prometheus (through prometheus-api-client).

Every query names its evaluation time explicitly (instant queries: ``time``; range queries:
``start``/``end``), carries a timeout, and every failure becomes one clear
:class:`~gitops_agent.errors.PrometheusError` line: connection refused, timeout, HTTP 5xx,
``status: error`` (with Prometheus' own ``errorType``/``error``), malformed JSON and NaN values.
"""

from __future__ import annotations

import ast
import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from gitops_agent.errors import PrometheusError, PrometheusQueryError

DEFAULT_TIMEOUT_SECONDS = 60.0
_STATUS = re.compile(r"HTTP Status Code (\d+) \((.*)\)\s*$", re.DOTALL)


@dataclass(frozen=True)
class Sample:
    """One series of an instant-query result: its labels and its value."""

    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class QueryLog:
    """Each query sent and its wall time in seconds (for evidence and benchmarks)."""

    queries: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def _timestamp(at: datetime | float) -> str:
    return f"{at.timestamp() if isinstance(at, datetime) else float(at):.3f}"


class PrometheusClient:
    """A small, typed facade over :class:`PrometheusConnect` for instant and range queries."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.log = QueryLog()
        try:
            self._client = PrometheusConnect(
                url=self.url, retry=Retry(total=0, raise_on_status=False), timeout=int(timeout)
            )
        except (TypeError, ValueError) as error:
            raise PrometheusError(f"Prometheus at {url!r}: {error}") from error

    def instant(self, query: str, *, at: datetime | float) -> list[Sample]:
        """Evaluate ``query`` at ``at`` (explicit time); one :class:`Sample` per series."""
        params = {"time": _timestamp(at), "timeout": f"{self.timeout:g}s"}
        result = self._call(query, lambda: self._client.custom_query(query, params=params))
        samples = []
        for item in result:
            labels, raw = self._series(query, item, "value")
            samples.append(Sample(labels, self._number(query, labels, raw)))
        return samples

    def check(self, *, at: datetime | float) -> None:
        """Ask Prometheus a constant query (``vector(1)``): raises :class:`PrometheusError`
        when it is unreachable or failing, so a run with nothing to query still fails
        loudly on a wrong URL."""
        self.instant("vector(1)", at=at)

    def range(
        self, query: str, *, start: datetime | float, end: datetime | float, step: str
    ) -> list[tuple[Mapping[str, str], list[tuple[float, float]]]]:
        """Evaluate ``query`` from ``start`` to ``end`` every ``step`` (all explicit)."""
        params = {
            "start": _timestamp(start),
            "end": _timestamp(end),
            "step": step,
            "timeout": f"{self.timeout:g}s",
        }
        result = self._call(query, lambda: self._range(query, params))
        series: list[tuple[Mapping[str, str], list[tuple[float, float]]]] = []
        for item in result:
            labels, values = self._series(query, item, "values")
            if not isinstance(values, list):
                raise PrometheusError(f"Prometheus {self.url}: malformed answer to {_shown(query)}")
            points = [(float(t), self._number(query, labels, v)) for t, v in values]
            series.append((labels, points))
        return series

    def _range(self, query: str, params: Mapping[str, str]) -> Any:
        response = self._client._session.request(  # same session, retries and timeout
            method="GET",
            url=f"{self.url}/api/v1/query_range",
            params={"query": query, **params},
            timeout=self.timeout,
        )
        if response.status_code != 200:
            raise PrometheusApiClientException(f"HTTP Status Code {response.status_code} ({response.content!r})")
        return response.json()["data"]["result"]

    def _call(self, query: str, send: Any) -> list[Any]:
        self.log.queries.append(query)
        where = f"Prometheus {self.url}"
        started = time.monotonic()
        try:
            result = send()
        except requests.Timeout as error:
            raise PrometheusError(f"{where}: no answer within {self.timeout:g}s to {_shown(query)}") from error
        except requests.ConnectionError as error:
            if "timed out" in str(error).lower():  # a read timeout, wrapped by the retry layer
                raise PrometheusError(f"{where}: no answer within {self.timeout:g}s to {_shown(query)}") from error
            raise PrometheusError(f"{where}: cannot connect ({_reason(error)})") from error
        except PrometheusApiClientException as error:
            failure = _http_failure(str(error))
            bad_data = "HTTP 400: bad_data:"
            if failure.startswith(bad_data):
                reason = failure[len(bad_data) :].strip()
                raise PrometheusQueryError(f"{where}: {failure} for {_shown(query)}", reason) from error
            raise PrometheusError(f"{where}: {failure} for {_shown(query)}") from error
        except (ValueError, KeyError, TypeError) as error:  # JSONDecodeError is a ValueError
            raise PrometheusError(
                f"{where}: malformed answer to {_shown(query)} ({type(error).__name__}: {error})"
            ) from error
        except requests.RequestException as error:
            raise PrometheusError(f"{where}: request failed: {error}") from error
        finally:
            self.log.seconds.append(time.monotonic() - started)
        if not isinstance(result, list):
            raise PrometheusError(f"{where}: malformed answer to {_shown(query)} (result is not a list)")
        return result

    def _series(self, query: str, item: Any, key: str) -> tuple[dict[str, str], Any]:
        if not isinstance(item, dict) or key not in item or not isinstance(item.get("metric"), dict):
            raise PrometheusError(f"Prometheus {self.url}: malformed series in answer to {_shown(query)}")
        labels = {str(k): str(v) for k, v in item["metric"].items()}
        return labels, item[key]

    def _number(self, query: str, labels: Mapping[str, str], raw: Any) -> float:
        try:
            value = float(raw[1]) if isinstance(raw, list | tuple) else float(raw)
        except (TypeError, ValueError, IndexError) as error:
            raise PrometheusError(
                f"Prometheus {self.url}: malformed value {raw!r} in answer to {_shown(query)}"
            ) from error
        if math.isnan(value):
            series = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            raise PrometheusError(f"Prometheus {self.url}: NaN for {{{series}}} in answer to {_shown(query)}")
        return value


QUERY_SHOWN = 200
"""Characters of a query quoted in an error line (a replay query can run to kilobytes)."""


def _shown(query: str) -> str:
    """The query for an error line: quoted, cut after :data:`QUERY_SHOWN` characters."""
    if len(query) <= QUERY_SHOWN:
        return repr(query)
    return repr(query[:QUERY_SHOWN] + "…") + f" ({len(query)} characters)"


def _reason(error: Exception) -> str:
    text = str(error)
    for marker in ("Connection refused", "Name or service not known", "timed out"):
        if marker in text:
            return marker.lower()
    return text.splitlines()[0][:200] if text else type(error).__name__


def _http_failure(message: str) -> str:
    """Turn prometheus-api-client's ``HTTP Status Code N (b'…')`` into one readable phrase."""
    match = _STATUS.match(message)
    if not match:
        return message
    status, body = match.group(1), match.group(2)
    try:
        raw = ast.literal_eval(body)
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    except (ValueError, SyntaxError):
        text = body
    try:
        document = json.loads(text)
    except ValueError:
        snippet = " ".join(text.split())[:200]
        return f"HTTP {status}" + (f": {snippet}" if snippet else "")
    if isinstance(document, dict) and document.get("status") == "error":
        return f"HTTP {status}: {document.get('errorType', 'error')}: {document.get('error', '')}"
    return f"HTTP {status}"
