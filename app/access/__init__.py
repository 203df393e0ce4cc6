"""Who may do what: API keys with scopes and collections (``keys``), the decision a route takes
for a caller (``principal``), and the audit trail of what was done (``audit``). Framework-free:
the API and the CLI use them alike."""

from .audit import AuditEntry, AuditLog
from .keys import KeyInfo, KeyStore
from .principal import ANONYMOUS, SCOPES, Principal

__all__ = ["ANONYMOUS", "SCOPES", "AuditEntry", "AuditLog", "KeyInfo", "KeyStore", "Principal"]
