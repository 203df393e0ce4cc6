"""The web page served at / (static; no build step)."""
