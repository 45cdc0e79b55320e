"""A writer for any OpenAI-compatible chat endpoint: Ollama, vLLM, llama.cpp server, Groq, OpenAI.

Only the standard library (``urllib``) is used, so the writer works in a bare install. Transport errors, timeouts,
429 and 5xx answers are retried with exponential backoff; anything else (4xx, a body that is not JSON, a reply
without a caption) fails at once, and :meth:`Writer.write` falls back to the template writer and says why.

Configuration (arguments win over environment variables):

- ``base_url``: ``FASHIONRAG_LLM_BASE_URL``, else ``OPENAI_BASE_URL``, else Ollama's ``http://127.0.0.1:11434/v1``;
- ``model``: ``FASHIONRAG_LLM_MODEL``, else ``llama3.2``;
- the API key is read from the environment variable named by ``api_key_env`` (default ``OPENAI_API_KEY``), so it
  never appears in a config file or a command line; local servers need none.
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Optional

from ..core.errors import EndpointError
from ..core.evidence import EvidencePack
from .base import Draft, Writer, register
from .prompt import build_messages, parse_reply

DEFAULT_BASE_URL = "http://127.0.0.1:11434/v1"
DEFAULT_MODEL = "llama3.2"


class OpenAICompatWriter(Writer):
    """Chat-completions client with JSON output, timeouts and retries."""

    name = "openai"

    def __init__(
        self,
        *,
        base_url: Optional[str] = None,
        model: Optional[str] = None,
        api_key: Optional[str] = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 1.0,
        temperature: float = 0.7,
        max_tokens: int = 400,
        json_mode: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = (base_url or os.environ.get("FASHIONRAG_LLM_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
                         or DEFAULT_BASE_URL).rstrip("/")
        self.model = model or os.environ.get("FASHIONRAG_LLM_MODEL") or DEFAULT_MODEL
        self._api_key = api_key if api_key is not None else os.environ.get(api_key_env)
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.json_mode = json_mode
        self._sleep = sleep

    @property
    def url(self) -> str:
        return self.base_url + "/chat/completions"

    def draft(
        self, evidence: EvidencePack, *, style: str, seed: int, n_hashtags: int, feedback: Optional[str] = None
    ) -> Draft:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": build_messages(evidence, style=style, n_hashtags=n_hashtags, feedback=feedback),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": seed,
        }
        if self.json_mode:
            body["response_format"] = {"type": "json_object"}
        reply = self._post(body)
        try:
            content = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise EndpointError(f"{self.url} answered without choices[0].message.content; is it OpenAI-compatible?")
        if not isinstance(content, str):
            raise EndpointError(f"{self.url} answered with a non-text message content")
        caption, tags = parse_reply(content)
        return Draft(caption, tags)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST with retries on transport errors, 429 and 5xx. Returns the decoded JSON body."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        last = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(self.url, data=json.dumps(body).encode("utf-8"), headers=headers,
                                             method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                    raw = resp.read()
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code} from {self.url}"
                if exc.code == 400 and body.get("response_format"):
                    # Some servers (older llama.cpp, some vLLM builds) reject response_format: ask again without.
                    body = {k: v for k, v in body.items() if k != "response_format"}
                    continue
                if exc.code == 429 or exc.code >= 500:
                    continue
                raise EndpointError(f"{last}; check the model name, the URL and the API key "
                                    f"(env var) of the openai writer")
            except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                last = f"cannot reach {self.url} ({reason})"
                continue
            try:
                decoded = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise EndpointError(f"{self.url} returned a body that is not JSON; is it an OpenAI-compatible "
                                    "/v1 endpoint?")
            if not isinstance(decoded, dict):
                raise EndpointError(f"{self.url} returned JSON that is not an object")
            return decoded
        raise EndpointError(f"{last} after {self.retries + 1} attempts; start the server or fix --base-url")


@register("openai")
def _create(**kwargs) -> OpenAICompatWriter:
    return OpenAICompatWriter(**kwargs)
