"""A writer running a local Hugging Face causal LM (any ``AutoModelForCausalLM`` directory or cached hub id).

Small local models often ignore the JSON format or drift from the evidence; that is expected, and it is why every
draft goes through :meth:`Writer.write`: a reply without usable JSON falls back to the template writer, and a
reply that contradicts the evidence gets one retry with feedback, then the template.

Loading is offline (``local_files_only=True`` by default): a model that is not on disk is a clear
:class:`ModelUnavailableError`, never a download attempt in the middle of a batch.
"""

from __future__ import annotations

from typing import Optional

from ..core.errors import ModelUnavailableError
from ..core.evidence import EvidencePack
from .base import Draft, Writer, register
from .prompt import build_messages, messages_to_text, parse_reply


class HFCausalWriter(Writer):
    name = "transformers"

    def __init__(
        self,
        model: str,
        *,
        device: str = "cpu",
        max_new_tokens: int = 160,
        temperature: float = 0.7,
        local_files_only: bool = True,
    ) -> None:
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - transformers is a core dependency
            raise ModelUnavailableError("the transformers writer needs `pip install transformers`") from exc
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=local_files_only)
            self.lm = AutoModelForCausalLM.from_pretrained(model, local_files_only=local_files_only)
        except (OSError, ValueError) as exc:
            raise ModelUnavailableError(
                f"cannot load causal LM {model!r} offline; pass a local directory saved with save_pretrained "
                "(or download it first)"
            ) from exc
        self.lm.to(device).eval()
        self.device = device
        self.model = str(model)
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.tokenizer.truncation_side = "left"  # keep the end of the prompt (the data and the request)

    def _prompt(self, messages: list[dict[str, str]]) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return messages_to_text(messages)

    def draft(
        self, evidence: EvidencePack, *, style: str, seed: int, n_hashtags: int, feedback: Optional[str] = None
    ) -> Draft:
        import torch

        prompt = self._prompt(build_messages(evidence, style=style, n_hashtags=n_hashtags, feedback=feedback))
        limit = getattr(self.lm.config, "max_position_embeddings", None) or getattr(self.lm.config, "n_positions", 2048)
        enc = self.tokenizer(prompt, return_tensors="pt", truncation=True,
                             max_length=max(8, int(limit) - self.max_new_tokens))
        enc = {k: v.to(self.device) for k, v in enc.items()}
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        torch.manual_seed(seed)
        with torch.no_grad():
            out = self.lm.generate(
                **enc,
                max_new_tokens=self.max_new_tokens,
                do_sample=self.temperature > 0,
                temperature=self.temperature if self.temperature > 0 else None,
                top_p=0.95 if self.temperature > 0 else None,
                pad_token_id=pad,
            )
        text = self.tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        caption, tags = parse_reply(text)  # ValueError on garbage -> template fallback in write()
        return Draft(caption, tags)


@register("transformers")
def _create(**kwargs) -> HFCausalWriter:
    return HFCausalWriter(**kwargs)
