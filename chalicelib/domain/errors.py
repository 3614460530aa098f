"""Domain errors. Edges map them to responses by type, never by message text."""


class HoldfastError(Exception):
    """Base of every domain error."""


class ConfigError(HoldfastError):
    """The queue configuration is invalid; the message says which field and why."""


class UnknownQueueError(HoldfastError):
    """No queue answers this call."""


class TicketNotFoundError(HoldfastError):
    """The ticket id names no ticket."""


class TicketStateError(HoldfastError):
    """The ticket is not in a state that allows the requested change."""


class StoreUnavailableError(HoldfastError):
    """The store failed a write for a reason other than a condition (throttled past its retries,
    rejected, unreachable): nothing was decided, so the request is an error, not a race lost."""


class NumberNotAllowedError(HoldfastError):
    """A phone number that must never be dialed (withheld, premium, outside allowed countries)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Why a number was refused, by type: the call flow tells the caller the reason from these classes.
class WithheldNumberError(NumberNotAllowedError):
    """The caller ID is withheld (or one of the stand-ins carriers send for it)."""


class NumberTooShortError(NumberNotAllowedError):
    """Too few digits for a number (a local number without its area code counts)."""


class NumberTooLongError(NumberNotAllowedError):
    """Too many digits for a number."""


class InvalidNumberError(NumberNotAllowedError):
    """Not a phone number that exists (unparseable, unknown country code, impossible digits)."""


class CountryNotAllowedError(NumberNotAllowedError):
    """A real number in a country (or a satellite or global service) the queue does not call."""


class NumberTypeNotAllowedError(NumberNotAllowedError):
    """A premium-rate, shared-cost or other special-service number."""


class BadWebhookError(HoldfastError):
    """A webhook body that cannot be parsed into a call event."""


class ForgedWebhookError(HoldfastError):
    """A webhook whose signature does not verify."""


class UnknownProviderError(HoldfastError):
    """No telephony adapter is registered under that name."""


class OrchestratorError(HoldfastError):
    """The workflow engine refused or failed a request."""


class StaleTokenError(HoldfastError):
    """The workflow task this token named has moved on (timed out, finished, or answered before)."""


class UnknownAgentError(HoldfastError):
    """No agent with that id has ever reported in."""


class BadRequestError(HoldfastError):
    """An API request whose body is not what the endpoint takes; the message says what is wrong."""


class BadPageError(HoldfastError):
    """A list request whose page size is out of range or whose cursor does not decode."""


class TelephonyError(HoldfastError):
    """The provider refused or failed a request (placing or moving a call)."""


class CallGoneError(TelephonyError):
    """The call to move has already ended (the caller hung up)."""


class NotifyError(HoldfastError):
    """A notification channel failed (it never blocks the call flow)."""
