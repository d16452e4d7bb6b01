"""The status surface: health, metrics, the status JSON and the page for a person."""
