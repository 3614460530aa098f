"""A neutral call script: what a caller hears and what happens next.

Each provider renders it as its own markup (TwiML for Twilio). Next steps are named by `Step`,
a logical webhook, so the domain never builds provider URLs."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Union
from urllib.parse import parse_qsl, urlencode


@dataclass(frozen=True)
class Step:
    """A webhook of ours: `/voice/{provider}/{name}?{params}`."""

    name: str
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, name: str, **params: object) -> "Step":
        return cls(name, tuple(sorted((k, str(v)) for k, v in params.items())))

    def encode(self) -> str:
        """The step as one value (`name?params`), to ride in another step's query."""
        return self.name + (f"?{urlencode(self.params)}" if self.params else "")

    @classmethod
    def decode(cls, text: str) -> "Step":
        name, _, query = text.partition("?")
        return cls(name, tuple(parse_qsl(query)))


# The query parameter that names a Gather's no-input step, for providers whose input always calls
# its action (the voice webhooks run that step instead when nothing was pressed).
NO_INPUT_PARAM = "ni"


@dataclass(frozen=True)
class Say:
    text: str
    language: str  # BCP-47, e.g. en-US


@dataclass(frozen=True)
class Play:
    url: str
    loop: int = 1


@dataclass(frozen=True)
class Pause:
    seconds: int


@dataclass(frozen=True)
class Gather:
    action: Step
    prompts: tuple["Say | Play | Pause", ...]
    num_digits: int | None = 1
    timeout_seconds: int = 6
    finish_on_key: str | None = None
    # Where a caller who pressed nothing goes. Providers whose gather falls through to the next verb
    # (TwiML, TeXML) get there by the script's own next verbs; providers whose input always calls its
    # action (Vonage, Jambonz) are sent here instead (see `explicit_no_input`).
    no_input: Step | None = None


@dataclass(frozen=True)
class Enqueue:
    """Hold in the provider's queue; `wait` is polled for announcements, `action` learns how it ended."""

    queue_name: str
    wait: Step | None
    action: Step | None
    wait_url: str | None = None  # a static hold URL (used when our own wait step cannot be trusted)


@dataclass(frozen=True)
class Redirect:
    step: Step


@dataclass(frozen=True)
class Leave:
    """Leave the hold queue (the Enqueue action then runs). `exit` names that action for providers
    with no hold queue of their own, which go there by redirect (with result=leave)."""

    exit: Step | None = None


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class Dial:
    """Connect the call to an agent (phone number, sip: URI or client: identity)."""

    target: str
    caller_id: str | None = None
    action: Step | None = None
    timeout_seconds: int = 20
    # Learns how the dialled leg is doing (ringing, answered, completed) while the dial lasts, where
    # the provider reports it; `action` still learns how the dial ended.
    status: Step | None = None


# The query parameter that carries a Dial's status step inside its action step, for providers that
# send the dialled leg's progress to the action itself (Vonage's connect eventUrl).
LEG_PARAM = "leg"


# The query parameter marking a hold's first poll where the provider holds no queue of its own (our wait
# loop, started by an Enqueue): the caller joins the hold just now, which a provider queue's wait URL says
# with a queue time of 0 (the first poll plays music: the caller was just told their place).
JOINED_PARAM = "joined"


def joining(step: Step) -> Step:
    """A wait step as the hold's first poll (see JOINED_PARAM)."""
    return Step(step.name, step.params + ((JOINED_PARAM, "1"),))


Verb = Union[Say, Play, Pause, Gather, Enqueue, Redirect, Leave, Hangup, Dial]


@dataclass(frozen=True)
class Script:
    verbs: tuple[Verb, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, *verbs: Verb) -> "Script":
        return cls(tuple(verbs))


def explicit_no_input(script: Script) -> Script:
    """The same script with each Gather's no-input step made explicit, for providers whose input
    always calls its action: where the script would go next by itself, the first Redirect (or the hold
    an Enqueue starts, as its first poll) after the Gather. Prompts between are skipped on such
    providers: a script that has some there names its Gather's no-input step itself."""
    verbs = list(script.verbs)
    for i, verb in enumerate(verbs):
        if isinstance(verb, Gather) and verb.no_input is None:
            onward = next((v.step if isinstance(v, Redirect) else joining(v.wait) for v in verbs[i + 1:]
                           if isinstance(v, Redirect) or (isinstance(v, Enqueue) and v.wait)), None)
            verbs[i] = replace(verb, no_input=onward)
    return Script(tuple(verbs))
