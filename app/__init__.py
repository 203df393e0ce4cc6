"""chachong: finds near-copied boilerplate in Chinese work reports."""

__version__ = "0.1.0"
