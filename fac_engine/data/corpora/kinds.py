"""What kind of text a corpus row is: the axis along which the training corpus is balanced."""

from typing import Literal, get_args

CorpusKind = Literal["instruction", "question", "chat", "answer", "passage", "harmful", "toxic", "literature", "review"]
"""instruction: a request to an assistant; question: a question asked of a reader or model; chat: a turn
between people; answer: a reply or a model's answer; passage: reference text (news, Wikipedia, contexts);
harmful: a harmful request or jailbreak, or harmful compliance; toxic: insulting, hateful or obscene
text; literature: plays and poems; review: a product or film review."""

CORPUS_KINDS: tuple[CorpusKind, ...] = get_args(CorpusKind)
"""Every kind, in the order summaries list them."""

QUERY_KINDS: frozenset[CorpusKind] = frozenset({"instruction", "question", "harmful", "toxic"})
"""User-query-like kinds: what the paper's SAE was trained on (instruction queries), weighted up."""
