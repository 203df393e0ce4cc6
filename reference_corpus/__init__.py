"""The bundled reference corpus: template reports that circulate online."""
