"""Languages of the app: gettext catalogues (.po compiled to .mo) and a translator that kv rules follow."""
